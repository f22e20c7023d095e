"""Render performance MIDI files to mono WAV audio with FluidSynth and a General MIDI SoundFont.

Loudness is data here (PercePiano rates dynamics and timbre), so every file is rendered with one fixed gain and never
normalised; reverb and chorus are off (a dry piano: the room is not the performer's, and a reverb tail would make
one file's audio depend on the file rendered before it). Each file is rendered from the merged piano notes and the
sustain (CC64) and soft (CC67) pedal events that :func:`datamodules.extractors.midi.read_performance` reads, with
the SoundFont's preset ``program`` (0: acoustic grand piano in General MIDI) on one channel.

Trimming rule. The PercePiano MIDI files end with padding (on average 30 s rendered against a last note-off at
16 s). A render ends ``tail_s`` seconds after the last *sounding end*: the latest key release, or the sustain-pedal
release that ends a note still held by the pedal (:func:`datamodules.extractors.midi_frames.sounding_ends`).

Audio is taken from FluidSynth as float32 stereo (``fluid_synth_write_float``: no 16-bit dither, whose running
state would make renders depend on their order) and the two channels are averaged into mono. Samples beyond
[-1, 1] (which a 16-bit WAV would clip) are counted per file.
"""

from __future__ import annotations

import ctypes
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datamodules.extractors.midi import SOFT_CC, SUSTAIN_CC, MidiPerformance
from datamodules.extractors.midi_frames import pedal_down_intervals, sounding_ends

#: FluidSynth's log level of warnings (``FLUID_WARN``); errors are still printed.
_FLUID_WARN = 2
#: Debian packages that provide FluidSynth and the SoundFonts this module was measured with.
APT_PACKAGES = ("fluidsynth", "fluid-soundfont-gm", "musescore-general-soundfont-small")


@dataclass(frozen=True, slots=True)
class RenderSettings:
    """What a render depends on, apart from the MIDI file.

    Attributes
    ----------
    soundfont : Path
        A ``.sf2``/``.sf3`` file (e.g. ``/usr/share/sounds/sf2/FluidR3_GM.sf2``).
    sample_rate_hz : int
        Output rate (22,050 Hz is what basic-pitch reads; MuQ reads 24,000 Hz).
    gain : float
        FluidSynth's ``synth.gain``, the same for every file.
    tail_s : float
        Seconds kept after the last sounding end.
    program : int
        General MIDI preset of bank 0 (0: acoustic grand piano).
    sustain_threshold : int
        CC64 value at or above which the pedal holds notes, for the trimming rule (as the MIDI frame extractor).
    """

    soundfont: Path
    sample_rate_hz: int = 22050
    gain: float = 1.0
    tail_s: float = 1.0
    program: int = 0
    sustain_threshold: int = 64

    def check(self) -> None:
        """Raise ``FileNotFoundError`` (naming the apt packages) or ``ValueError`` for unusable settings."""
        if not Path(self.soundfont).is_file():
            raise FileNotFoundError(f"{self.soundfont}: SoundFont not found; install one with apt-get install "
                                    f"{' '.join(APT_PACKAGES[1:])} (FluidR3_GM.sf2 under /usr/share/sounds/sf2/)")
        if not (isinstance(self.sample_rate_hz, int) and 8000 <= self.sample_rate_hz <= 192000):
            raise ValueError(f"sample_rate_hz={self.sample_rate_hz!r}: expected an integer rate in 8000..192000")
        if not 0 < self.gain <= 10 or not 0 <= self.tail_s <= 60:
            raise ValueError(f"gain={self.gain!r}, tail_s={self.tail_s!r}: expected gain in (0, 10] and tail in "
                             "[0, 60] s")
        if not (isinstance(self.program, int) and 0 <= self.program <= 127):
            raise ValueError(f"program={self.program!r}: expected a General MIDI preset 0..127")

    def to_dict(self) -> dict:
        """JSON form with the SoundFont's name, size and SHA-256 (what a manifest records)."""
        digest = hashlib.sha256()
        with Path(self.soundfont).open("rb") as handle:
            for block in iter(lambda: handle.read(8 << 20), b""):
                digest.update(block)
        return {"soundfont": str(self.soundfont), "soundfont_name": Path(self.soundfont).name,
                "soundfont_size": Path(self.soundfont).stat().st_size, "soundfont_sha256": digest.hexdigest(),
                "sample_rate_hz": self.sample_rate_hz, "gain": self.gain, "tail_s": self.tail_s,
                "program": self.program, "sustain_threshold": self.sustain_threshold, "reverb": False,
                "chorus": False, "channels": "mono (mean of FluidSynth's stereo)"}


def performance_end_s(performance: MidiPerformance, sustain_threshold: int = 64) -> float:
    """The last sounding end of ``performance`` (seconds): a key release, or the pedal release ending a held note; a
    pedal never released holds its notes to the file's last event (``end_time_s``), as in the frame extractor."""
    starts, ends = pedal_down_intervals(performance.sustain_times_s, np.rint(performance.sustain_values * 127),
                                        sustain_threshold)
    held = sounding_ends(performance.onsets_s, performance.offsets_s, performance.pitches, starts, ends)
    return float(np.max(np.minimum(held, performance.end_time_s)))


class Renderer:
    """Render performances with FluidSynth, each from a freshly created synthesizer sharing one loaded SoundFont.

    A synthesizer reused across files (even after ``system_reset`` and ``all_sounds_off``) was measured to render
    the same file differently after other files (differences up to 0.02 of full scale, growing with the time played
    before), while fresh synthesizers agree exactly: so every file gets its own synthesizer. The SoundFont, which is
    read-only sample and preset data, is loaded once (0.3 s for FluidR3_GM.sf2, 4.6 s for the compressed
    MuseScore_General_Lite.sf3 on this machine) into a holder synthesizer and lent to each fresh one
    (``fluid_synth_add_sfont``; taken back with ``fluid_synth_remove_sfont`` before it is deleted): renders are
    bit-identical to renders with the SoundFont loaded anew, in any order (tested), so a resumed render equals an
    uninterrupted one.

    Parameters
    ----------
    settings : RenderSettings

    Raises
    ------
    FileNotFoundError
        Without the SoundFont (naming the apt packages to install).
    ImportError
        Without pyfluidsynth or the FluidSynth library (naming what to install).
    """

    def __init__(self, settings: RenderSettings) -> None:
        settings.check()
        try:
            import fluidsynth
        except (ImportError, OSError) as error:
            raise ImportError(f"rendering needs pyfluidsynth and the FluidSynth library ({error}); install them with "
                              f"pip install pyfluidsynth and apt-get install {APT_PACKAGES[0]}") from None
        self.settings = settings
        self._fluidsynth = fluidsynth
        self._holder: object | None = None
        self._font: int | None = None
        pointer = ctypes.c_void_p
        self._add_font = fluidsynth.cfunc("fluid_synth_add_sfont", ctypes.c_int, ("synth", pointer, 1),
                                          ("sfont", pointer, 1))
        self._remove_font = fluidsynth.cfunc("fluid_synth_remove_sfont", ctypes.c_int, ("synth", pointer, 1),
                                             ("sfont", pointer, 1))
        self._font_by_id = fluidsynth.cfunc("fluid_synth_get_sfont_by_id", pointer, ("synth", pointer, 1),
                                            ("id", ctypes.c_int, 1))
        set_log = fluidsynth.cfunc("fluid_set_log_function", pointer, ("level", ctypes.c_int, 1),
                                   ("fun", pointer, 1), ("data", pointer, 1))
        set_log(_FLUID_WARN, None, None)  # a fresh synth warns once per MIDI channel that no SoundFont is loaded yet
        self._write_float = fluidsynth.cfunc(
            "fluid_synth_write_float", ctypes.c_int, ("synth", ctypes.c_void_p, 1), ("len", ctypes.c_int, 1),
            ("lout", ctypes.c_void_p, 1), ("loff", ctypes.c_int, 1), ("lincr", ctypes.c_int, 1),
            ("rout", ctypes.c_void_p, 1), ("roff", ctypes.c_int, 1), ("rincr", ctypes.c_int, 1),
        )

    def render(self, performance: MidiPerformance) -> tuple[np.ndarray, int]:
        """Mono audio of ``performance``, shape ``(n_samples,)`` float32, and its count of stereo samples beyond
        [-1, 1].

        ``n_samples = round((end + tail_s) * sample_rate_hz)`` with ``end`` from :func:`performance_end_s`. FluidSynth
        applies events at the start of its 64-sample blocks, so an event's time is quantised to 64 samples (2.9 ms
        at 22,050 Hz).

        Raises
        ------
        ValueError
            If FluidSynth cannot load the SoundFont.
        """
        settings = self.settings
        font = self._shared_font()
        synth = self._new_synth()
        lent = False
        try:
            font_id = self._add_font(synth.synth, font)
            lent = font_id >= 0
            if not lent:
                raise ValueError(f"{settings.soundfont}: FluidSynth could not add the loaded SoundFont")
            synth.program_select(0, font_id, 0, settings.program)
            n_total = int(round((performance_end_s(performance, settings.sustain_threshold) + settings.tail_s)
                                * settings.sample_rate_hz))
            chunks, position = [], 0
            for sample, action in _events(performance, settings.sample_rate_hz):
                if sample >= n_total:
                    break
                if sample > position:
                    chunks.append(self._write(synth, sample - position))
                    position = sample
                action(synth)
            chunks.append(self._write(synth, n_total - position))
        finally:
            if lent:
                self._remove_font(synth.synth, font)  # the holder keeps it; deleting the synth must not free it
            synth.delete()
        stereo = np.concatenate(chunks)  # (n_samples, 2)
        return stereo.mean(axis=1), int(np.sum(np.abs(stereo) > 1.0))

    def _new_synth(self) -> object:
        """A fresh dry synthesizer at the settings' gain and rate."""
        return self._fluidsynth.Synth(gain=self.settings.gain, samplerate=float(self.settings.sample_rate_hz),
                                      **{"synth.reverb.active": 0, "synth.chorus.active": 0})

    def _shared_font(self) -> int:
        """The SoundFont loaded once into the holder synthesizer, as a ``fluid_sfont_t`` pointer."""
        if self._font is None:
            self._holder = self._new_synth()
            font_id = self._holder.sfload(str(self.settings.soundfont))
            if font_id < 0:
                raise ValueError(f"{self.settings.soundfont}: FluidSynth could not load this SoundFont")
            self._font = self._font_by_id(self._holder.synth, font_id)
        return self._font

    def close(self) -> None:
        """Free the loaded SoundFont (the renderer loads it again if used later)."""
        if self._holder is not None:
            self._holder.delete()
        self._holder, self._font = None, None

    def _write(self, synth: object, n_samples: int) -> np.ndarray:
        """The next ``n_samples`` of float32 stereo from ``synth``, shape ``(n_samples, 2)``."""
        left, right = np.zeros(n_samples, np.float32), np.zeros(n_samples, np.float32)
        if n_samples:
            self._write_float(synth.synth, n_samples, left.ctypes.data, 0, 1, right.ctypes.data, 0, 1)
        return np.stack([left, right], axis=1)


def _events(performance: MidiPerformance, rate: int) -> list:
    """``(sample, action)`` pairs in time order; at equal times note-offs, then controls, then note-ons."""
    events = []
    for onset, offset, pitch, velocity in zip(performance.onsets_s, performance.offsets_s, performance.pitches,
                                              performance.velocities, strict=True):
        key, level = int(pitch), max(1, int(round(velocity * 127)))
        events.append((int(round(onset * rate)), 2, lambda synth, k=key, v=level: synth.noteon(0, k, v)))
        events.append((int(round(offset * rate)), 0, lambda synth, k=key: synth.noteoff(0, k)))
    for number, times, values in ((SUSTAIN_CC, performance.sustain_times_s, performance.sustain_values),
                                  (SOFT_CC, performance.soft_times_s, performance.soft_values)):
        for time_s, value in zip(times, values, strict=True):
            level = int(round(value * 127))
            events.append((int(round(time_s * rate)), 1, lambda synth, n=number, v=level: synth.cc(0, n, v)))
    events.sort(key=lambda event: (event[0], event[1]))
    return [(sample, action) for sample, _, action in events]
