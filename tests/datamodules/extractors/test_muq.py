"""MuQ frames: the pure-torch mel front end against an independent STFT, a tiny saved MuQ loaded back offline gives
identical frames at 25 per second in every layer, chunking tiles the file, and bad checkpoints are named.

The model tests need ``pip install --no-deps muq==0.1.0`` and transformers < 5, einops, easydict (skipped with that
reason otherwise).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.io import wavfile

from datamodules.extractors import extract_to_store
from datamodules.extractors.mel import AMIN, MelSTFT, hz_to_mel, mel_filterbank
from datamodules.store import EmbeddingStore

MISSING = [name for name in ("muq", "transformers", "einops", "easydict") if importlib.util.find_spec(name) is None]
needs_muq = pytest.mark.skipif(bool(MISSING), reason=f"not installed: {MISSING}; pip install --no-deps muq==0.1.0 "
                                                     '&& pip install "transformers<5" einops easydict')
RATE = 24000


class TestMel:
    def test_power_spectrum_equals_an_independent_numpy_stft(self) -> None:
        rng = np.random.default_rng(0)
        audio = rng.normal(size=RATE // 2)
        n_fft, hop = 2048, 240
        padded = np.pad(audio, n_fft // 2, mode="reflect")
        window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann
        frames = np.stack([padded[start : start + n_fft] * window for start in range(0, len(padded) - n_fft + 1, hop)])
        power = np.abs(np.fft.rfft(frames, axis=1)) ** 2  # (n_frames, n_freqs)
        filters = mel_filterbank(n_fft // 2 + 1, 128, RATE).double().numpy()
        expected = 10 * np.log10(np.maximum(power @ filters, AMIN)).T  # (n_mels, n_frames)
        actual = MelSTFT(is_db=True)(torch.from_numpy(audio).float()).double().numpy()
        assert actual.shape == expected.shape == (128, len(audio) // hop + 1)
        np.testing.assert_allclose(actual, expected, atol=2e-3)

    def test_filters_are_htk_triangles_that_sum_to_one_between_centres(self) -> None:
        filters = mel_filterbank(1025, 128, RATE).double()
        bins_hz = torch.linspace(0, RATE // 2, 1025, dtype=torch.float64)
        centres_hz = 700 * (10 ** (torch.linspace(0, float(hz_to_mel(torch.tensor(RATE / 2.0))), 130) / 2595) - 1)
        inside = (bins_hz >= centres_hz[1]) & (bins_hz <= centres_hz[-2])
        np.testing.assert_allclose(filters[inside].sum(dim=1).numpy(), 1.0, atol=1e-5)
        assert float(filters.max()) <= 1.0 and float(filters.min()) == 0.0

    def test_a_sine_lands_in_the_band_centred_nearest_its_frequency(self) -> None:
        t = torch.arange(RATE) / RATE
        mel = MelSTFT()(torch.sin(2 * np.pi * 1000.0 * t))  # (128, n_frames)
        centres_hz = 700 * (10 ** (torch.linspace(0, float(hz_to_mel(torch.tensor(RATE / 2.0))), 130) / 2595) - 1)
        expected_band = int(torch.argmin((centres_hz[1:-1] - 1000.0).abs()))
        assert int(mel[:, 10:-10].mean(dim=1).argmax()) == expected_band


def tiny_checkpoint(directory: Path) -> torch.nn.Module:
    """A 2-layer, 16-wide MuQ saved with ``save_pretrained`` (random weights), returned in eval mode."""
    from datamodules.extractors.muq import MSD_MEL_STATS, conformer_config, muq_classes

    muq_class, config_class = muq_classes()
    conformer = conformer_config({"hidden_size": 16, "num_attention_heads": 2, "intermediate_size": 32,
                                  "position_embeddings_type": "rotary", "num_hidden_layers": 2,
                                  "conv_depthwise_kernel_size": 3})
    with torch.random.fork_rng(devices=[]):
        model = muq_class(config_class(encoder_dim=16, encoder_depth=2, conv_dim=8, codebook_size=8,
                                       w2v2_config=conformer, stat=dict(MSD_MEL_STATS))).eval()
    model.save_pretrained(str(directory))
    return model


@needs_muq
class TestMuQExtractor:
    @pytest.fixture(scope="class")
    def checkpoint(self, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.nn.Module]:
        directory = tmp_path_factory.mktemp("muq_tiny")
        return directory, tiny_checkpoint(directory)

    @pytest.fixture
    def wav(self, tmp_path: Path) -> Path:
        audio = np.random.default_rng(1).normal(0, 0.1, 3 * RATE).astype(np.float32)
        wavfile.write(tmp_path / "a_4bars_1_1.wav", RATE, audio)
        return tmp_path / "a_4bars_1_1.wav"

    def test_loaded_checkpoint_gives_the_models_frames_in_every_layer(self, checkpoint, wav) -> None:
        from datamodules.extractors.muq import MuQExtractor

        directory, model = checkpoint
        extractor = MuQExtractor(checkpoint=str(directory), device="cpu")
        frames, _ = extractor.extract_with_counts(wav)
        assert tuple(frames) == extractor.layer_names == ("0", "1", "2") and extractor.default_layers == "2"
        audio = torch.from_numpy(wavfile.read(wav)[1])[None]
        with torch.inference_mode():
            direct = model(audio, output_hidden_states=True).hidden_states
        for index, layer in enumerate(extractor.layer_names):
            assert frames[layer].shape == (3 * 25, 16)  # 25 frames per second
            np.testing.assert_allclose(frames[layer], direct[index][0].numpy(), rtol=1e-5, atol=1e-5)

    def test_chunks_tile_the_file(self, checkpoint, wav) -> None:
        """Each core's frames are its window's own encoding, cores follow one another, the frame count is kept."""
        from datamodules.extractors.muq import FRAME_SAMPLES, MuQExtractor

        directory, _ = checkpoint
        whole = MuQExtractor(checkpoint=str(directory), device="cpu").hidden_states(wavfile.read(wav)[1])
        chunked_extractor = MuQExtractor(checkpoint=str(directory), chunk_s=1.2, overlap_s=0.2, device="cpu")
        audio = wavfile.read(wav)[1]
        chunked = chunked_extractor.hidden_states(audio)
        assert chunked.shape == whole.shape == (3, 75, 16)
        model, device = chunked_extractor.model()
        core, overlap = 20 * FRAME_SAMPLES, 5 * FRAME_SAMPLES  # 0.8 s cores, 0.2 s context
        second = chunked_extractor._encode(model, device, audio[core - overlap : 2 * core + overlap])
        np.testing.assert_allclose(chunked[:, 20:40], second[:, 5:25], rtol=1e-6, atol=1e-6)
        assert not np.allclose(chunked[:, 20:40], whole[:, 20:40])  # context differs: what the overlap is for

    def test_extraction_writes_a_multi_layer_store(self, checkpoint, wav, tmp_path: Path) -> None:
        from datamodules.extractors.muq import MuQExtractor

        directory, _ = checkpoint
        extract_to_store(MuQExtractor(checkpoint=str(directory), device="cpu"), {"a_4bars_1_1": wav}, tmp_path / "s")
        store = EmbeddingStore(tmp_path / "s")
        assert store.layer_names == ("0", "1", "2") and store.selection.spec == "2" and store.lengths.tolist() == [75]

    def test_random_init_is_the_published_architecture(self) -> None:
        from datamodules.extractors.muq import MuQExtractor

        extractor = MuQExtractor(random_init=True)
        assert len(extractor.layer_names) == 13 and len(extractor.feature_names) == 13 * 1024

    def test_missing_or_incomplete_checkpoints_are_named(self, tmp_path: Path) -> None:
        from datamodules.extractors.muq import MuQExtractor

        with pytest.raises(FileNotFoundError, match="checkpoint folder not found.*nothing is downloaded"):
            MuQExtractor(checkpoint=str(tmp_path / "absent"))
        (tmp_path / "config.json").write_text("{}")
        with pytest.raises(FileNotFoundError, match="missing model.safetensors or pytorch_model.bin"):
            MuQExtractor(checkpoint=str(tmp_path))
        with pytest.raises(ValueError, match="exactly one"):
            MuQExtractor()
