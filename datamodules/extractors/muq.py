"""MuQ hidden states of any folder of audio files, from a local checkpoint (never a download), every layer stored.

Install (measured beside torch 2.13.0): ``pip install --no-deps muq==0.1.0`` and ``pip install "transformers<5"
einops easydict`` (transformers 5 stops returning hidden states). The package's ``muq/__init__.py`` imports MuQ-MuLan
and with it x_clip and torchvision, and its front end imports torchaudio (a CUDA build on the registry that fails on
CPU machines): :func:`muq_classes` therefore loads the model module ``muq.muq.muq`` alone, under placeholder parent
packages, with the pure-torch :class:`~datamodules.extractors.mel.MelSTFT` in place of MuQ's torchaudio front end.

The model reads 24 kHz mono audio and returns, at 25 frames per second, the conformer's input (hidden state 0) and
the output of each of its layers (1 ... 12 for the published model): a store layer each, named ``"0"`` ...
``"12"``, default selection the last (the model's ``last_hidden_state``; CrescendAI's layers 9-12 are
``--layers 9-12``).

Chunking. Audio longer than ``chunk_s`` is cut into cores of ``chunk_s - 2 * overlap_s`` seconds; each core is
encoded with ``overlap_s`` seconds of context on both sides (clipped at the file's ends) and only the core's frames
are kept, so every output frame had at least ``overlap_s`` of context, or the file's edge. Core and context lengths
are whole frames (960 samples), so frame ``k`` of every chunk is frame ``chunk_start / 960 + k`` of the file. Audio no
longer than ``chunk_s`` is encoded in one pass.

``random_init=True`` builds the published architecture (12 conformer layers, 1024-d, 16 heads, 4,096-wide
feed-forward, rotary positions, the MSD mel statistics) with random weights: the representation control of
Hewitt & Liang (2019) that a MuQ result should be read against. MuQ's constructor seeds torch's generator itself
(``torch.manual_seed(142)`` in its random quantizer), so the random weights are the same on every machine; the
caller's generator state is restored afterwards.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import types
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from datamodules.extractors import mel
from datamodules.extractors.audio_io import AUDIO_SUFFIXES, read_mono
from datamodules.extractors.base import FrameExtractor
from datamodules.store_format import file_fingerprint

SAMPLE_RATE_HZ = 24000
FRAME_SAMPLES = 960  # 24,000 / 25
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
#: The published MuQ's mel statistics (melspec_2048 mean and std over MSD, as MusicFM's ``msd_stats.json``).
MSD_MEL_STATS = {"melspec_2048_mean": 6.768444971712967, "melspec_2048_std": 18.417922652295623}
#: The published architecture's conformer (Hugging Face ``Wav2Vec2ConformerConfig`` keywords).
PUBLISHED_CONFORMER = {"hidden_size": 1024, "num_attention_heads": 16, "intermediate_size": 4096,
                       "position_embeddings_type": "rotary", "conv_depthwise_kernel_size": 31, "hidden_act": "swish",
                       "num_hidden_layers": 12}


def muq_classes() -> tuple[type, type]:
    """``(MuQ, MuQConfig)`` from the installed ``muq`` package without running its ``__init__`` (module docstring).

    Raises
    ------
    ImportError
        If muq 0.1.0, transformers (< 5), einops or easydict is missing (naming the install commands).
    """
    if "muq.muq.muq" not in sys.modules:
        spec = importlib.util.find_spec("muq")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError('MuQ frames need the muq package: pip install --no-deps muq==0.1.0 && pip install '
                              '"transformers<5" einops easydict')
        root = Path(list(spec.submodule_search_locations)[0])
        for name, path in (("muq", root), ("muq.muq", root / "muq"), ("muq.muq.modules", root / "muq" / "modules")):
            if name not in sys.modules:
                package = types.ModuleType(name)
                package.__path__ = [str(path)]  # a namespace: its real __init__ (MuLan, x_clip, torchvision) not run
                sys.modules[name] = package
        features = types.ModuleType("muq.muq.modules.features")
        features.MelSTFT = mel.MelSTFT
        sys.modules["muq.muq.modules.features"] = features
    try:
        module = importlib.import_module("muq.muq.muq")
    except ImportError as error:
        raise ImportError(f'MuQ needs transformers < 5, einops and easydict ({error}): pip install "transformers<5" '
                          "einops easydict") from None
    return module.MuQ, module.MuQConfig


def conformer_config(overrides: dict) -> dict:
    """A complete Hugging Face ``Wav2Vec2ConformerConfig`` as a dict (MuQ reads every field from it), with
    ``overrides``."""
    from transformers.models.wav2vec2_conformer.modeling_wav2vec2_conformer import Wav2Vec2ConformerConfig

    return json.loads(Wav2Vec2ConformerConfig(**overrides).to_json_string(use_diff=False))  # JSON keys: strings


def check_checkpoint(directory: Path) -> Path:
    """The weights file of a saved MuQ (``config.json`` and ``model.safetensors`` or ``pytorch_model.bin``).

    Raises
    ------
    FileNotFoundError
        If the folder or one of its files is missing (saying that nothing is downloaded).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: MuQ checkpoint folder not found (a folder saved by "
                                "MuQ.save_pretrained; nothing is downloaded)")
    missing = [] if (directory / "config.json").is_file() else ["config.json"]
    weights = [directory / name for name in WEIGHT_FILES if (directory / name).is_file()]
    if not weights:
        missing.append(" or ".join(WEIGHT_FILES))
    if missing:
        raise FileNotFoundError(f"{directory}: incomplete MuQ checkpoint, missing {', '.join(missing)} (nothing is "
                                "downloaded; save one with MuQ.save_pretrained(folder))")
    return weights[0]


def auto_device() -> str:
    """``cuda`` if available, else ``mps``, else ``cpu``."""
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


class MuQExtractor(FrameExtractor):
    """Every hidden state of MuQ per 40 ms frame, from WAV files (module docstring).

    Parameters
    ----------
    checkpoint : str, optional
        A folder saved by ``MuQ.save_pretrained`` (``config.json``, ``model.safetensors``); required unless
        ``random_init``.
    random_init : bool, default=False
        The published architecture with random weights instead of a checkpoint.
    chunk_s, overlap_s : float, default=30.0, 5.0
        Chunking of long audio (module docstring); ``chunk_s > 2 * overlap_s``.
    device : str, default="auto"
        ``auto`` (cuda, mps, else cpu) or a torch device.

    Raises
    ------
    ValueError
        For a missing checkpoint without ``random_init``, both given, or bad chunk settings.
    FileNotFoundError
        For a missing or incomplete checkpoint folder.
    """

    name: ClassVar[str] = "muq"
    frame_rate_hz: ClassVar[float] = 25.0
    version: ClassVar[int] = 1
    input_suffixes: ClassVar[tuple[str, ...]] = AUDIO_SUFFIXES

    def __init__(self, checkpoint: str | None = None, random_init: bool = False, chunk_s: float = 30.0,
                 overlap_s: float = 5.0, device: str = "auto") -> None:
        if (checkpoint is None) == (not random_init):
            raise ValueError("give checkpoint=FOLDER (a saved MuQ) or random_init=True, exactly one of them")
        core_frames = round((chunk_s - 2 * overlap_s) * self.frame_rate_hz)
        if overlap_s < 0 or core_frames < 1:
            raise ValueError(f"chunk_s={chunk_s!r}, overlap_s={overlap_s!r}: expected chunk_s > 2 * overlap_s >= 0")
        self.checkpoint, self.random_init = checkpoint, random_init
        self.chunk_s, self.overlap_s, self.device = chunk_s, overlap_s, device
        self._weights = None if checkpoint is None else check_checkpoint(Path(checkpoint))
        self._model: Any = None

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(str(index) for index in range(self._n_layers() + 1))

    @property
    def default_layers(self) -> str:
        return self.layer_names[-1]

    @property
    def feature_names(self) -> tuple[str, ...]:
        """``h<layer>_<unit>`` for every layer and unit."""
        width = self._width()
        return tuple(f"h{layer}_{unit}" for layer in self.layer_names for unit in range(width))

    def settings(self) -> dict[str, object]:
        weights = None if self._weights is None else {
            "file": self._weights.name, "sha256": file_fingerprint(self._weights)["sha256"],
            "config_sha256": file_fingerprint(self._weights.parent / "config.json")["sha256"]}
        return {**super().settings(), "checkpoint": self.checkpoint, "weights": weights,
                "random_init": self.random_init, "chunk_s": self.chunk_s, "overlap_s": self.overlap_s}

    def extract_with_counts(self, path: Path) -> tuple[dict[str, np.ndarray], dict[str, int]]:
        """``{layer: (n_frames, 1024)}`` float32 of one WAV file (25 frames per second), and its adjustment counts."""
        audio, counts = read_mono(path, SAMPLE_RATE_HZ)
        hidden = self.hidden_states(audio)  # (n_layers + 1, n_frames, width)
        return {name: hidden[index] for index, name in enumerate(self.layer_names)}, counts

    def hidden_states(self, audio: np.ndarray) -> np.ndarray:
        """Every hidden state of 24 kHz mono ``audio``, ``(n_layers + 1, n_frames, width)`` float32, chunked as the
        module docstring says."""
        model, device = self.model()
        chunk = round(self.chunk_s * self.frame_rate_hz) * FRAME_SAMPLES
        overlap = round(self.overlap_s * self.frame_rate_hz) * FRAME_SAMPLES
        if audio.size <= chunk:
            return self._encode(model, device, audio)
        core = chunk - 2 * overlap
        pieces = []
        for core_start in range(0, audio.size, core):
            start = max(0, core_start - overlap)
            window = audio[start : min(audio.size, core_start + core + overlap)]
            encoded = self._encode(model, device, window)  # (L, n_window_frames, width)
            first = (core_start - start) // FRAME_SAMPLES
            pieces.append(encoded[:, first : first + core // FRAME_SAMPLES])
        return np.concatenate(pieces, axis=1)

    @torch.inference_mode()
    def _encode(self, model: Any, device: str, audio: np.ndarray) -> np.ndarray:
        waveform = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None].to(device)  # (1, n_samples)
        output = model(waveform, output_hidden_states=True)
        return torch.stack(output.hidden_states)[:, 0].float().cpu().numpy()  # (L, n_frames, width)

    def model(self) -> tuple[Any, str]:
        """The model in eval mode on its device, loaded once (from the checkpoint, offline) or built at random."""
        if self._model is None:
            muq_class, config_class = muq_classes()
            device = auto_device() if self.device == "auto" else self.device
            if self.random_init:
                with torch.random.fork_rng(devices=[]):
                    model = muq_class(config_class(w2v2_config=conformer_config(PUBLISHED_CONFORMER),
                                                   stat=dict(MSD_MEL_STATS)))
            else:
                os.environ["HF_HUB_OFFLINE"] = "1"  # a local folder only: never reach the hub
                model = muq_class.from_pretrained(str(self.checkpoint))
            self._model = (model.eval().to(device), device)
        return self._model

    def _n_layers(self) -> int:
        if self.random_init:
            return PUBLISHED_CONFORMER["num_hidden_layers"]
        return int(self._config().get("encoder_depth", 12))

    def _width(self) -> int:
        if self.random_init:
            return PUBLISHED_CONFORMER["hidden_size"]
        return int(self._config().get("encoder_dim", 1024))

    def _config(self) -> dict:
        config = json.loads((Path(self.checkpoint) / "config.json").read_text())
        return config.get("config", config)
