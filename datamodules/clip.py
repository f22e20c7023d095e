"""The default bound on standardised feature values, in training standard deviations.

Its own module so that the run configuration and the command line read it without importing Lightning (which
:mod:`datamodules.fold_datamodule`, the class that applies it, needs).
"""

#: Standardised values ``(x - mean) / scale`` are clipped to ``[-DEFAULT_CLIP, DEFAULT_CLIP]``.
DEFAULT_CLIP: float = 5.0
