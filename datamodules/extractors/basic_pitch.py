"""basic-pitch frames of any folder of audio files: Spotify's pretrained pitch model, run with onnxruntime.

basic-pitch 0.4.0 ships its trained network as ONNX inside the wheel (``basic_pitch/saved_models/icassp_2022/
nmp.onnx``, 230 KB). Installed with ``pip install --no-deps basic-pitch==0.4.0`` (its TensorFlow dependency is not
needed) plus ``onnxruntime`` and ``onnx``, it needs neither TensorFlow nor a download. The network computes its own
constant-Q spectrogram from 22,050 Hz mono audio and returns, every 256 samples (86.13 frames per second):

============  =====================  ===============================================================
layer         width per frame        what it is
============  =====================  ===============================================================
``contour``   264                    pitch-contour posteriorgram, 3 bins per semitone from A0
``note``      88                     note posteriorgram, one bin per piano key
``onset``     88                     onset posteriorgram, one bin per piano key
``relu35``    32 x 8 = 256           internal ReLU map ``Relu__35`` (32 channels x 88 key bins),
                                     frequency averaged in 8 bands of 11 keys
``relu38``    8 x 8 = 64             internal ReLU map ``Relu__38`` (8 channels x 264 contour bins),
                                     frequency averaged in 8 bands of 33 bins
``relu42``    32 x 8 = 256           internal ReLU map ``Relu__42`` (32 channels x 88 key bins),
                                     frequency averaged in 8 bands of 11 keys
============  =====================  ===============================================================

By default (``layer="all"``) one pass of the network writes every representation as its own named layer of one
multi-layer store (default selection ``note``; ``--layers contour`` etc. choose another, ``--layer-sweep`` probes
each); ``layer=NAME`` writes a single-layer store. The internal maps are exposed by adding their tensors as graph
outputs with the ``onnx`` package. Every segment also gets the audio descriptors of
:mod:`datamodules.extractors.audio_descriptors` (loudness, brightness, onset density, duration).

Windowing. The network reads windows of 43,844 samples and returns 172 frames; the first and last 15 frames of each
window are dropped (edge effects) and the kept 142 frames tile the audio exactly: windows start every
142 x 256 = 36,352 samples, after 15 x 256 samples of leading zeros, so kept frame ``k`` belongs to time
``k * 256 / 22050`` s. (basic-pitch's own inference steps windows by 36,164 samples while keeping 142 frames, so its
frames drift by 0.7 frames a window; this extractor does not reproduce that.)

Frame rate. Frames are brought to 25 per second (MuQ's rate) by averaging: output frame ``i`` is the mean of the
source frames whose times lie in ``[i / 25, (i + 1) / 25)`` s (3 or 4 of them); ``n_frames = ceil(duration_s * 25)``
and a last frame with no source frame repeats the last source frame.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from datamodules.extractors.audio_descriptors import AUDIO_DESCRIPTOR_NAMES, audio_descriptors
from datamodules.extractors.audio_io import AUDIO_SUFFIXES, read_mono
from datamodules.extractors.base import FrameExtractor

SAMPLE_RATE_HZ = 22050
HOP_SAMPLES = 256
WINDOW_SAMPLES = 43844
WINDOW_FRAMES, EDGE_FRAMES = 172, 15
KEPT_FRAMES = WINDOW_FRAMES - 2 * EDGE_FRAMES
N_BANDS = 8
INPUT_NAME = "serving_default_input_2:0"
#: Layer -> (graph tensor, frequency bins of the tensor); internal maps are (batch, channels, time, bins).
LAYER_TENSORS: dict[str, tuple[str, int]] = {
    "contour": ("StatefulPartitionedCall:0", 264), "note": ("StatefulPartitionedCall:1", 88),
    "onset": ("StatefulPartitionedCall:2", 88), "relu35": ("Relu__35:0", 88), "relu38": ("Relu__38:0", 264),
    "relu42": ("Relu__42:0", 88),
}
_CHANNELS = {"relu35": 32, "relu38": 8, "relu42": 32}
ALL_LAYERS = "all"
DEFAULT_LAYER = "note"
_MODEL = ("saved_models", "icassp_2022", "nmp.onnx")


def model_path() -> Path:
    """The ONNX file inside the installed basic-pitch package (never downloaded).

    Raises
    ------
    ImportError
        If basic-pitch is not installed, or its wheel lacks the ONNX model (naming the install command).
    """
    spec = importlib.util.find_spec("basic_pitch")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("basic-pitch is not installed; pip install --no-deps basic-pitch==0.4.0 onnxruntime onnx")
    path = Path(list(spec.submodule_search_locations)[0]).joinpath(*_MODEL)
    if not path.is_file():
        raise ImportError(f"{path}: the basic-pitch package has no ONNX model; expected basic-pitch 0.4.0")
    return path


def to_frame_rate(source: np.ndarray, duration_s: float, source_rate_hz: float, rate_hz: float) -> np.ndarray:
    """Average source frames ``(n_source, width)`` at ``source_rate_hz`` into frames at ``rate_hz`` (module docstring).

    Examples
    --------
    >>> to_frame_rate(np.arange(10.0)[:, None], duration_s=1.0, source_rate_hz=10.0, rate_hz=4.0).ravel().tolist()
    [1.0, 3.5, 6.0, 8.5]
    """
    n_frames = max(1, math.ceil(duration_s * rate_hz - 1e-9))
    times_s = np.arange(len(source)) / source_rate_hz
    target = np.minimum(np.floor(times_s * rate_hz + 1e-9).astype(np.int64), n_frames - 1)  # (n_source,)
    sums = np.zeros((n_frames, source.shape[1]))
    np.add.at(sums, target, source)
    counts = np.bincount(target, minlength=n_frames)
    frames = np.divide(sums, counts[:, None], out=np.zeros_like(sums), where=counts[:, None] > 0)
    last = np.flatnonzero(counts)[-1]
    frames[last + 1 :] = frames[last]  # frames past the last source frame repeat it
    return frames


def layer_feature_names(layer: str) -> tuple[str, ...]:
    """``<layer>_<bin>`` for a posteriorgram, ``<layer>_c<channel>_b<band>`` for an internal map."""
    if layer in _CHANNELS:
        return tuple(f"{layer}_c{c}_b{b}" for c in range(_CHANNELS[layer]) for b in range(N_BANDS))
    return tuple(f"{layer}_{index}" for index in range(LAYER_TENSORS[layer][1]))


def band_average(layer: str, values: np.ndarray) -> np.ndarray:
    """A layer's network output as ``(n_windows, 172, width)``: posteriorgrams as they are, internal maps
    ``(n_windows, channels, 172, bins)`` averaged in 8 frequency bands, channel-major."""
    if layer not in _CHANNELS:
        return values  # (n_windows, 172, bins)
    n_windows, channels, n_time, bins = values.shape
    banded = values.reshape(n_windows, channels, n_time, N_BANDS, bins // N_BANDS).mean(axis=4)
    return banded.transpose(0, 2, 1, 3).reshape(n_windows, n_time, channels * N_BANDS)


class BasicPitchExtractor(FrameExtractor):
    """basic-pitch's representations per 40 ms frame, from WAV files (module docstring).

    Parameters
    ----------
    layer : str, default="all"
        ``"all"`` (every layer of :data:`LAYER_TENSORS`, one store layer each) or one of them.
    batch_windows : int, default=16
        Windows per onnxruntime call (memory, not results).

    Raises
    ------
    ValueError
        For an unknown layer or a non-positive ``batch_windows``.
    """

    name: ClassVar[str] = "basic-pitch"
    frame_rate_hz: ClassVar[float] = 25.0
    version: ClassVar[int] = 2
    input_suffixes: ClassVar[tuple[str, ...]] = AUDIO_SUFFIXES
    descriptor_names: ClassVar[tuple[str, ...]] = AUDIO_DESCRIPTOR_NAMES

    def __init__(self, layer: str = ALL_LAYERS, batch_windows: int = 16) -> None:
        if layer != ALL_LAYERS and layer not in LAYER_TENSORS:
            raise ValueError(f"layer={layer!r}: expected {ALL_LAYERS!r} or one of {sorted(LAYER_TENSORS)}")
        if isinstance(batch_windows, bool) or not isinstance(batch_windows, int) or batch_windows < 1:
            raise ValueError(f"batch_windows={batch_windows!r}: expected a positive integer")
        self.layer = layer
        self.batch_windows = batch_windows
        self._session: Any = None

    @property
    def layer_names(self) -> tuple[str, ...]:
        """The store layers written: every representation for ``layer="all"``, else none (a single-layer store)."""
        return tuple(LAYER_TENSORS) if self.layer == ALL_LAYERS else ()

    @property
    def default_layers(self) -> str | None:
        return DEFAULT_LAYER if self.layer == ALL_LAYERS else None

    @property
    def feature_names(self) -> tuple[str, ...]:
        """``<layer>_<bin>`` for posteriorgrams, ``<layer>_c<channel>_b<band>`` for internal maps (every layer's, in
        layer order, for ``layer="all"``)."""
        return tuple(name for layer in self._layers() for name in layer_feature_names(layer))

    def settings(self) -> dict[str, object]:
        return {**super().settings(), "layer": self.layer, "model": "basic-pitch 0.4.0 icassp_2022 nmp.onnx"}

    def extract_with_counts(self, path: Path) -> tuple[np.ndarray | dict[str, np.ndarray], dict[str, int]]:
        """Frames ``(ceil(duration_s * 25), width)`` float32 of one WAV file (a dict of them by layer for
        ``layer="all"``), and its adjustment counts."""
        frames, counts, _ = self.extract_segment(path)
        return frames, counts

    def extract_segment(self, path: Path) -> tuple[np.ndarray | dict[str, np.ndarray], dict[str, int], np.ndarray]:
        """Frames (as :meth:`extract_with_counts`), adjustment counts and the audio descriptors of one WAV file."""
        audio, counts = read_mono(path, SAMPLE_RATE_HZ)
        source = self.source_frames(audio)  # {layer: (n_source, width)} at 86.13 per second, onset included
        duration_s = audio.size / SAMPLE_RATE_HZ
        frames = {layer: to_frame_rate(source[layer], duration_s, SAMPLE_RATE_HZ / HOP_SAMPLES,
                                       self.frame_rate_hz).astype(np.float32) for layer in self._layers()}
        descriptors = audio_descriptors(audio, SAMPLE_RATE_HZ, source["onset"])
        return (frames if self.layer == ALL_LAYERS else frames[self.layer]), counts, descriptors

    def _layers(self) -> tuple[str, ...]:
        return tuple(LAYER_TENSORS) if self.layer == ALL_LAYERS else (self.layer,)

    def source_frames(self, audio: np.ndarray) -> dict[str, np.ndarray]:
        """Each extracted layer and the onset posteriorgram at the network's own rate, ``{layer: (ceil(n_samples /
        256), width)}``, for 22,050 Hz mono audio."""
        n_source = math.ceil(audio.size / HOP_SAMPLES)
        padded = np.concatenate([np.zeros(EDGE_FRAMES * HOP_SAMPLES, np.float32), audio])
        starts = range(0, max(n_source, 1) * HOP_SAMPLES, KEPT_FRAMES * HOP_SAMPLES)
        windows = np.zeros((len(starts), WINDOW_SAMPLES, 1), np.float32)
        for index, start in enumerate(starts):
            chunk = padded[start : start + WINDOW_SAMPLES]
            windows[index, : len(chunk), 0] = chunk
        layers = tuple(dict.fromkeys((*self._layers(), "onset")))
        batches = [self._run(windows[first : first + self.batch_windows], layers)
                   for first in range(0, len(windows), self.batch_windows)]
        source = {}
        for layer in layers:
            kept = np.concatenate([batch[layer] for batch in batches])[:, EDGE_FRAMES : EDGE_FRAMES + KEPT_FRAMES]
            source[layer] = kept.reshape(-1, kept.shape[-1])[:n_source]  # (n_source, width)
        return source

    def _run(self, windows: np.ndarray, layers: tuple[str, ...]) -> dict[str, np.ndarray]:
        """``layers`` for a batch of windows, each ``(n_windows, 172, width)`` (internal maps band-averaged), from one
        run of the network."""
        values = self._inference_session().run([LAYER_TENSORS[layer][0] for layer in layers], {INPUT_NAME: windows})
        return {layer: band_average(layer, value) for layer, value in zip(layers, values, strict=True)}

    def _inference_session(self) -> Any:
        if self._session is None:
            try:
                import onnx
                import onnxruntime
            except ImportError as error:
                raise ImportError(f"basic-pitch frames need onnxruntime and onnx ({error}); pip install onnxruntime "
                                  "onnx") from None
            model = onnx.load(str(model_path()))
            for tensor, _ in LAYER_TENSORS.values():
                if tensor not in {output.name for output in model.graph.output}:
                    model.graph.output.append(onnx.helper.make_tensor_value_info(tensor, onnx.TensorProto.FLOAT, None))
            options = onnxruntime.SessionOptions()
            self._session = onnxruntime.InferenceSession(model.SerializeToString(), options,
                                                         providers=["CPUExecutionProvider"])
        return self._session
