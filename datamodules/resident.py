"""The default memory budget for keeping a fold's frames in memory, in bytes.

Its own module so that the run configuration and the command line read it without importing Lightning (which
:mod:`datamodules.fold_datamodule`, the class that applies it, needs).
"""

#: A frames dataset whose standardised float32 frames fit in this many bytes is read once and kept (the real MIDI
#: cache's training part: 34 MB); a larger one is read batch by batch.
RESIDENT_BYTES: int = 256 * 2**20
