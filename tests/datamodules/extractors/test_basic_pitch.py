"""basic-pitch frames: a rendered note is found at its key and time, windows tile exactly, bad audio is reported.

Needs basic-pitch (``pip install --no-deps basic-pitch==0.4.0``), onnxruntime and onnx; the note test also needs
FluidSynth and the FluidR3 SoundFont. Each skips with the reason where its part is absent.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from datamodules.extractors import extract_to_store
from datamodules.extractors.audio_descriptors import AUDIO_DESCRIPTOR_NAMES
from datamodules.extractors.audio_io import read_mono
from datamodules.extractors.base import UnusableInputError
from datamodules.extractors.basic_pitch import (
    EDGE_FRAMES,
    HOP_SAMPLES,
    KEPT_FRAMES,
    LAYER_TENSORS,
    SAMPLE_RATE_HZ,
    BasicPitchExtractor,
    to_frame_rate,
)
from datamodules.store import EmbeddingStore

MISSING = [name for name in ("basic_pitch", "onnxruntime", "onnx") if importlib.util.find_spec(name) is None]
needs_model = pytest.mark.skipif(bool(MISSING), reason=f"not installed: {MISSING}; pip install --no-deps "
                                                       "basic-pitch==0.4.0 onnxruntime onnx")
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")


def _render_note(pitch: int, onset_s: float, offset_s: float) -> np.ndarray:
    from datamodules.audio.render import Renderer, RenderSettings
    from datamodules.extractors.midi import MidiPerformance

    empty = np.zeros(0)
    performance = MidiPerformance(np.array([onset_s]), np.array([offset_s]), np.array([pitch]), np.array([0.8]),
                                  empty, empty, empty, empty, offset_s)
    return Renderer(RenderSettings(SOUNDFONT, sample_rate_hz=SAMPLE_RATE_HZ)).render(performance)[0]


class TestToFrameRate:
    def test_means_of_the_source_frames_in_each_interval(self) -> None:
        rng = np.random.default_rng(0)
        source = rng.normal(size=(300, 3))
        frames = to_frame_rate(source, 300 / 86.1328125, 86.1328125, 25.0)
        times = np.arange(300) / 86.1328125
        for index in range(len(frames)):
            inside = (times >= index / 25) & (times < (index + 1) / 25)
            expected = source[inside].mean(axis=0) if inside.any() else frames[index - 1]  # past the end: repeat
            np.testing.assert_allclose(frames[index], expected)
        assert len(frames) == int(np.ceil(300 / 86.1328125 * 25)) == 88


class TestReadMono:
    def test_integer_stereo_at_another_rate(self, tmp_path: Path) -> None:
        t = np.arange(44100) / 44100
        tone = (0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
        wavfile.write(tmp_path / "s.wav", 44100, np.stack([tone, tone], axis=1))
        audio, counts = read_mono(tmp_path / "s.wav", 22050)
        assert counts == {"n_channels_mixed": 1, "n_resampled": 1} and audio.shape == (22050,)
        assert np.abs(audio).max() == pytest.approx(0.5, abs=0.01)

    @pytest.mark.parametrize(("content", "message"), [
        (None, "empty: the file holds no samples"), (np.zeros(100, np.float32), "silent: all 100 samples are 0"),
        (b"not audio", "unreadable WAV"),
    ])
    def test_unusable_files(self, tmp_path: Path, content, message: str) -> None:
        path = tmp_path / "bad.wav"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            wavfile.write(path, 22050, np.zeros(0, np.float32) if content is None else content)
        with pytest.raises(UnusableInputError, match=message):
            read_mono(path, 22050)


@needs_model
class TestBasicPitchExtractor:
    def test_kept_frames_tile_the_audio(self) -> None:
        """Each kept frame is the network's output for its own window: no frame repeated or lost at window seams."""
        extractor = BasicPitchExtractor(layer="onset")
        audio = np.random.default_rng(1).normal(0, 0.05, 3 * KEPT_FRAMES * HOP_SAMPLES).astype(np.float32)
        frames = extractor.source_frames(audio)["onset"]
        assert frames.shape == (3 * KEPT_FRAMES, 88)
        padded = np.concatenate([np.zeros(EDGE_FRAMES * HOP_SAMPLES, np.float32), audio, np.zeros(50000, np.float32)])
        start = KEPT_FRAMES * HOP_SAMPLES  # the second window, run alone
        window = padded[start : start + 43844][None, :, None]
        alone = extractor._run(window, ("onset",))["onset"][0, EDGE_FRAMES : EDGE_FRAMES + KEPT_FRAMES]
        np.testing.assert_allclose(frames[KEPT_FRAMES : 2 * KEPT_FRAMES], alone, rtol=1e-5, atol=1e-6)

    @pytest.mark.skipif(not SOUNDFONT.is_file() or importlib.util.find_spec("fluidsynth") is None,
                        reason="FluidSynth or the FluidR3 SoundFont is missing (apt-get install fluidsynth "
                               "fluid-soundfont-gm; pip install pyfluidsynth)")
    def test_a_rendered_note_is_found_at_its_key_and_onset(self, tmp_path: Path) -> None:
        audio = _render_note(pitch=60, onset_s=0.8, offset_s=2.0)
        wavfile.write(tmp_path / "c4_4bars_1_1.wav", SAMPLE_RATE_HZ, audio)
        note, _ = BasicPitchExtractor(layer="note").extract_with_counts(tmp_path / "c4_4bars_1_1.wav")
        onset, _ = BasicPitchExtractor(layer="onset").extract_with_counts(tmp_path / "c4_4bars_1_1.wav")
        assert note.shape == (int(np.ceil(3.0 * 25)), 88)
        assert int(np.argmax(note[25:45].mean(axis=0))) == 60 - 21  # C4 is key 39 from A0
        assert note[5:15, 39].max() < 0.2 < note[25:45, 39].mean()
        assert abs(int(np.argmax(onset[:, 39])) - 20) <= 1  # the onset at 0.8 s is frame 20

    @pytest.mark.parametrize("layer", sorted(LAYER_TENSORS))
    def test_every_layer_has_its_declared_width(self, tmp_path: Path, layer: str) -> None:
        audio = np.random.default_rng(2).normal(0, 0.05, SAMPLE_RATE_HZ).astype(np.float32)
        wavfile.write(tmp_path / "n_4bars_1_1.wav", SAMPLE_RATE_HZ, audio)
        extractor = BasicPitchExtractor(layer=layer)
        frames, _ = extractor.extract_with_counts(tmp_path / "n_4bars_1_1.wav")
        assert frames.shape == (25, len(extractor.feature_names)) and np.isfinite(frames).all()

    def test_a_folder_with_bad_files_reports_them(self, tmp_path: Path) -> None:
        wavfile.write(tmp_path / "good_4bars_1_1.wav", SAMPLE_RATE_HZ,
                      np.random.default_rng(3).normal(0, 0.05, 8000).astype(np.float32))
        wavfile.write(tmp_path / "silent_4bars_1_1.wav", SAMPLE_RATE_HZ, np.zeros(8000, np.float32))
        (tmp_path / "broken_4bars_1_1.wav").write_bytes(b"RIFF....")
        files = {path.stem: path for path in sorted(tmp_path.glob("*.wav"))}
        report = extract_to_store(BasicPitchExtractor(layer="onset"), files, tmp_path / "store")
        assert report.n_extracted == 1 and {item.key for item in report.skipped} == {"silent_4bars_1_1",
                                                                                    "broken_4bars_1_1"}
        assert EmbeddingStore(tmp_path / "store").keys == ("good_4bars_1_1",)

    def test_bad_layer(self) -> None:
        with pytest.raises(ValueError, match=r"layer='pitch': expected 'all' or one of \['contour'"):
            BasicPitchExtractor(layer="pitch")

    def test_all_layers_in_one_pass_equal_each_layer_alone(self, tmp_path: Path) -> None:
        """The default extractor writes one multi-layer store whose every layer is that layer's own extraction,
        with the audio descriptors beside them."""
        audio = np.random.default_rng(4).normal(0, 0.05, 2 * SAMPLE_RATE_HZ).astype(np.float32)
        wavfile.write(tmp_path / "n_4bars_1_1.wav", SAMPLE_RATE_HZ, audio)
        report = extract_to_store(BasicPitchExtractor(), {"n_4bars_1_1": tmp_path / "n_4bars_1_1.wav"},
                                  tmp_path / "store")
        store = EmbeddingStore(tmp_path / "store")
        assert report.n_extracted == 1 and store.layer_names == tuple(LAYER_TENSORS)
        assert store.selection.spec == "note" and store.descriptor_names == AUDIO_DESCRIPTOR_NAMES
        for layer in LAYER_TENSORS:
            alone, _ = BasicPitchExtractor(layer=layer).extract_with_counts(tmp_path / "n_4bars_1_1.wav")
            np.testing.assert_array_equal(store.with_layers(layer).frames(0), alone.astype(np.float16))
        assert store.descriptors()[0, 0] == pytest.approx(2.0)
