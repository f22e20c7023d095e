"""Rendering MIDI to audio with FluidSynth: lengths, loudness kept, pedal heard, order-independent, resumable.

Needs the FluidSynth library, pyfluidsynth and Debian's FluidR3 SoundFont (``.ci/run`` installs them); skipped with
the reason where they are absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from datamodules.audio.render import Renderer, RenderSettings, performance_end_s
from datamodules.audio.render_files import MANIFEST_FILE, render_files
from datamodules.extractors.midi import read_performance
from tests.datamodules.extractors.test_midi_extractor import write_midi

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
RATE = 16000


def _fluidsynth_missing() -> str | None:
    try:
        import fluidsynth  # noqa: F401
    except (ImportError, OSError) as error:
        return (f"pyfluidsynth or the FluidSynth library is missing ({error}); pip install pyfluidsynth, "
                "apt-get install fluidsynth")
    if not SOUNDFONT.is_file():
        return f"{SOUNDFONT} is missing; apt-get install fluid-soundfont-gm"
    return None


pytestmark = pytest.mark.skipif(_fluidsynth_missing() is not None, reason=str(_fluidsynth_missing()))


def render(tmp_path: Path, name: str = "a_4bars_1_1", **midi) -> np.ndarray:
    performance, _ = read_performance(write_midi(tmp_path / f"{name}.mid", **midi))
    return Renderer(RenderSettings(SOUNDFONT, sample_rate_hz=RATE)).render(performance)[0]


def rms(audio: np.ndarray, start_s: float, end_s: float) -> float:
    return float(np.sqrt(np.mean(audio[int(start_s * RATE) : int(end_s * RATE)] ** 2)))


class TestRenderer:
    def test_length_is_the_last_sounding_end_plus_the_tail(self, tmp_path: Path) -> None:
        audio = render(tmp_path, notes=[(60, 90, 0.5, 1.25)], controls=[(7, 100, 3.0)])  # a late control: padding
        assert audio.shape == (round((1.25 + 1.0) * RATE),) and audio.dtype == np.float32
        assert rms(audio, 0.0, 0.45) == 0.0 and rms(audio, 0.6, 1.2) > 1e-3

    def test_velocity_is_heard_not_normalised(self, tmp_path: Path) -> None:
        soft = render(tmp_path, "soft_4bars_1_1", notes=[(60, 30, 0.0, 1.0)])
        loud = render(tmp_path, "loud_4bars_1_1", notes=[(60, 110, 0.0, 1.0)])
        assert rms(loud, 0.05, 0.9) > 2 * rms(soft, 0.05, 0.9)

    def test_sustain_pedal_holds_a_released_note(self, tmp_path: Path) -> None:
        dry = render(tmp_path, "dry_4bars_1_1", notes=[(60, 90, 0.0, 0.4)], controls=[(64, 0, 0.0)])
        held = render(tmp_path, "held_4bars_1_1", notes=[(60, 90, 0.0, 0.4)], controls=[(64, 127, 0.0), (64, 0, 1.5)])
        assert len(held) == round(2.5 * RATE) > len(dry) == round(1.4 * RATE)
        assert rms(held, 0.6, 1.3) > 5 * rms(dry, 0.6, 1.3)

    def test_a_render_does_not_depend_on_the_ones_before(self, tmp_path: Path) -> None:
        first, _ = read_performance(write_midi(tmp_path / "x_4bars_1_1.mid",
                                               notes=[(60, 90, 0.0, 0.5), (64, 70, 0.3, 1.0)]))
        other, _ = read_performance(write_midi(tmp_path / "y_4bars_1_1.mid", notes=[(40, 120, 0.0, 2.0)],
                                               controls=[(64, 127, 0.1)]))
        renderer = Renderer(RenderSettings(SOUNDFONT, sample_rate_hz=RATE))
        alone = renderer.render(first)[0]
        renderer.render(other)
        np.testing.assert_array_equal(renderer.render(first)[0], alone)

    def test_end_with_a_pedal_never_released_is_the_last_event(self, tmp_path: Path) -> None:
        performance, _ = read_performance(write_midi(tmp_path / "p_4bars_1_1.mid", notes=[(60, 90, 0.0, 0.5)],
                                                     controls=[(64, 127, 0.0), (67, 0, 2.0)]))
        assert performance_end_s(performance) == pytest.approx(2.0)

    @pytest.mark.parametrize(("settings", "error", "message"), [
        ({"soundfont": Path("/no/such.sf2")}, FileNotFoundError, "apt-get install fluid-soundfont-gm"),
        ({"sample_rate_hz": 100}, ValueError, "sample_rate_hz=100: expected an integer rate"),
        ({"gain": 0.0}, ValueError, "expected gain in"),
        ({"program": 128}, ValueError, "program=128: expected a General MIDI preset"),
    ])
    def test_bad_settings(self, settings: dict, error: type, message: str) -> None:
        with pytest.raises(error, match=message):
            Renderer(RenderSettings(**{"soundfont": SOUNDFONT, **settings}))


class TestRenderFiles:
    def test_renders_reports_resumes_and_rerenders_on_new_settings(self, tmp_path: Path) -> None:
        midi = tmp_path / "midi"
        midi.mkdir()
        write_midi(midi / " lead_4bars_1_1.mid", notes=[(60, 90, 0.0, 0.5)])  # a name starting with a space
        write_midi(midi / "b_4bars_1_1.mid", notes=[(62, 60, 0.0, 1.0)])
        (midi / "broken_4bars_1_1.mid").write_bytes(b"not a MIDI file")
        files = {"lead_4bars_1_1": midi / " lead_4bars_1_1.mid", "b_4bars_1_1": midi / "b_4bars_1_1.mid",
                 "broken_4bars_1_1": midi / "broken_4bars_1_1.mid"}
        settings = RenderSettings(SOUNDFONT, sample_rate_hz=RATE)
        report = render_files(files, tmp_path / "out", settings)
        assert report.n_rendered == 2 and [item["key"] for item in report.skipped] == ["broken_4bars_1_1"]
        assert "unreadable MIDI" in report.skipped[0]["reason"]
        rate, audio = wavfile.read(tmp_path / "out" / "lead_4bars_1_1.wav")
        assert rate == RATE and audio.dtype == np.float32 and audio.shape == (round(1.5 * RATE),)
        manifest = json.loads((tmp_path / "out" / MANIFEST_FILE).read_text())
        assert (manifest["settings"]["soundfont_name"] == "FluidR3_GM.sf2"
                and len(manifest["settings"]["soundfont_sha256"]) == 64)
        assert manifest["records"]["b_4bars_1_1"]["n_samples"] == round(2.0 * RATE) and manifest["n_skipped"] == 1
        again = render_files(files, tmp_path / "out", settings)
        assert again.n_reused == 2 and again.n_rendered == 0
        np.testing.assert_array_equal(wavfile.read(tmp_path / "out" / "lead_4bars_1_1.wav")[1], audio)
        louder = render_files(files, tmp_path / "out", RenderSettings(SOUNDFONT, sample_rate_hz=RATE, gain=2.0))
        assert (louder.n_rendered == 2
                and louder.records["lead_4bars_1_1"]["peak"] > manifest["records"]["lead_4bars_1_1"]["peak"])
