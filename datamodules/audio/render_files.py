"""Render a folder of performance MIDI files to WAV files, resumably, with a manifest of what was done.

Layout of the output folder::

    <key>.wav        mono float32 WAV at the chosen rate (key: file stem, surrounding spaces removed)
    manifest.json    settings (SoundFont name, size and SHA-256, rate, gain, tail, ...), one record per rendered
                     file (samples, seconds, peak, samples beyond full scale) and every skipped file with its reason

Every WAV is written to a temporary sibling and renamed into place, so a file that exists is complete. Re-running
with the same settings renders only the files that are missing; other settings render everything again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.io import wavfile

from datamodules.audio.render import Renderer, RenderSettings
from datamodules.extractors.base import UnusableInputError
from datamodules.extractors.midi import read_performance
from datamodules.jsonio import read_json, write_json_atomic

MANIFEST_FILE = "manifest.json"
#: Records are saved to the manifest after this many rendered files, so a killed run loses little bookkeeping.
_SAVE_EVERY = 50


@dataclass
class RenderReport:
    """What :func:`render_files` did.

    Attributes
    ----------
    settings : dict
        :meth:`RenderSettings.to_dict`.
    records : dict
        Key -> ``{"file", "n_samples", "duration_s", "peak", "n_beyond_full_scale"}`` for every WAV present.
    skipped : list of dict
        ``{"key", "file", "reason"}`` of MIDI files that could not be rendered (nothing is dropped silently).
    n_rendered, n_reused : int
    elapsed_s : float
    """

    settings: dict
    records: dict = field(default_factory=dict)
    skipped: list = field(default_factory=list)
    n_rendered: int = 0
    n_reused: int = 0
    elapsed_s: float = 0.0

    def to_dict(self) -> dict:
        return {"settings": self.settings, "n_files": len(self.records) + len(self.skipped),
                "n_rendered": self.n_rendered, "n_reused": self.n_reused, "n_skipped": len(self.skipped),
                "elapsed_s": self.elapsed_s, "skipped": self.skipped, "records": self.records}


def render_files(files: Mapping[str, Path], out_dir: Path, settings: RenderSettings,
                 progress: Callable[[int, int, str], None] | None = None) -> RenderReport:
    """Render every ``{key: MIDI path}`` to ``out_dir/<key>.wav``; resume when the settings are unchanged.

    Raises
    ------
    FileNotFoundError
        Without the SoundFont (naming the apt packages), or a missing MIDI file.
    ImportError
        Without pyfluidsynth or the FluidSynth library.
    """
    renderer = Renderer(settings)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = RenderReport(settings=settings.to_dict())
    earlier = _earlier_records(out_dir / MANIFEST_FILE, report.settings)
    started = time.perf_counter()
    try:
        _render_missing(renderer, files, out_dir, earlier, report, progress)
    finally:
        renderer.close()
    report.elapsed_s = time.perf_counter() - started
    write_json_atomic(out_dir / MANIFEST_FILE, report.to_dict())
    return report


def _render_missing(renderer: Renderer, files: Mapping[str, Path], out_dir: Path, earlier: dict, report: RenderReport,
                    progress: Callable[[int, int, str], None] | None) -> None:
    """Render every key of ``files`` not already in ``earlier`` into ``out_dir``, recording each in ``report``."""
    settings = renderer.settings
    for index, key in enumerate(sorted(files), start=1):
        target = out_dir / f"{key}.wav"
        if key in earlier and target.is_file():
            report.records[key] = earlier[key]
            report.n_reused += 1
        else:
            try:
                performance, _ = read_performance(Path(files[key]))
            except UnusableInputError as error:
                report.skipped.append({"key": key, "file": str(files[key]), "reason": str(error)})
            else:
                audio, n_beyond = renderer.render(performance)
                _write_wav(target, audio, settings.sample_rate_hz)
                report.records[key] = {"file": str(files[key]), "n_samples": int(audio.size),
                                       "duration_s": audio.size / settings.sample_rate_hz,
                                       "peak": float(np.abs(audio).max()), "n_beyond_full_scale": n_beyond}
                report.n_rendered += 1
                if report.n_rendered % _SAVE_EVERY == 0:
                    write_json_atomic(out_dir / MANIFEST_FILE, report.to_dict())
        if progress is not None:
            progress(index, len(files), key)


def _earlier_records(manifest: Path, settings: dict) -> dict:
    """Records of an earlier run with exactly ``settings`` (empty when there is none or the settings differ)."""
    if not manifest.is_file():
        return {}
    payload = read_json(manifest)
    return payload.get("records", {}) if payload.get("settings") == settings else {}


def _write_wav(target: Path, audio: np.ndarray, rate: int) -> None:
    """Write mono float32 ``audio`` to ``target`` atomically (temporary sibling, then rename)."""
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    wavfile.write(partial, rate, audio.astype(np.float32))
    os.replace(partial, target)
