"""Audio from the performances: MIDI rendered with a SoundFont (:mod:`datamodules.audio.render`)."""
