"""``python -m benchmarks.extract render``: performance MIDI files to mono WAV audio with a SoundFont.

Example (the 1,202 PercePiano performances with Debian's FluidR3 General MIDI SoundFont)::

    apt-get install fluidsynth fluid-soundfont-gm && pip install pyfluidsynth
    python -m benchmarks.extract render --midi-dir ../shared/data/percepiano/midi \\
        --soundfont /usr/share/sounds/sf2/FluidR3_GM.sf2 --out runs/renders-fluidr3

writes ``runs/renders-fluidr3/<key>.wav`` and ``manifest.json`` (:mod:`datamodules.audio.render_files`). Re-running
renders only what is missing; an unreadable MIDI file is reported and the others go on.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from datamodules.audio.render import RenderSettings
from datamodules.audio.render_files import MANIFEST_FILE, render_files
from datamodules.extractors.base import input_files
from datamodules.extractors.midi import MIDI_SUFFIXES

PROGRESS_EVERY = 100


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.extract render", description=__doc__.splitlines()[0])
    parser.add_argument("--midi-dir", type=Path, required=True)
    parser.add_argument("--soundfont", type=Path, required=True, help="a .sf2 or .sf3 General MIDI SoundFont")
    parser.add_argument("--out", type=Path, required=True, help="folder for the WAV files and manifest.json")
    parser.add_argument("--rate", type=int, default=22050, help="sample rate in Hz (default: %(default)s)")
    parser.add_argument("--gain", type=float, default=1.0, help="FluidSynth gain, the same for every file")
    parser.add_argument("--tail", type=float, default=1.0, help="seconds kept after the last sounding end")
    parser.add_argument("--program", type=int, default=0, help="General MIDI preset (0: acoustic grand piano)")
    args = parser.parse_args(argv)
    settings = RenderSettings(args.soundfont, sample_rate_hz=args.rate, gain=args.gain, tail_s=args.tail,
                              program=args.program)
    try:
        files = input_files(args.midi_dir, MIDI_SUFFIXES)
        report = render_files(files, args.out, settings, progress=_progress)
    except (FileNotFoundError, ValueError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    beyond = sum(record["n_beyond_full_scale"] > 0 for record in report.records.values())
    print(f"rendered {report.n_rendered}, reused {report.n_reused}, skipped {len(report.skipped)} of {len(files)} "
          f"files in {report.elapsed_s:.1f} s into {args.out} ({beyond} with samples beyond full scale)")
    for item in report.skipped:
        print(f"  skipped {item['key']}: {item['reason']}")
    print(f"wrote {args.out / MANIFEST_FILE}")
    return 0


def _progress(index: int, n_files: int, key: str) -> None:
    if index % PROGRESS_EVERY == 0 or index == n_files:
        print(f"  [{index}/{n_files}] {key}", flush=True)
