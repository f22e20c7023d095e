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

One extractor instance extracts one layer (``layer=``; a store holds one ``[T, D]`` tensor per segment); the
internal maps are exposed by adding their tensors as graph outputs with the ``onnx`` package.

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


class BasicPitchExtractor(FrameExtractor):
    """One layer of basic-pitch's network per 40 ms frame, from WAV files (module docstring).

    Parameters
    ----------
    layer : str, default="note"
        One of :data:`LAYER_TENSORS`.
    batch_windows : int, default=16
        Windows per onnxruntime call (memory, not results).

    Raises
    ------
    ValueError
        For an unknown layer or a non-positive ``batch_windows``.
    """

    name: ClassVar[str] = "basic-pitch"
    frame_rate_hz: ClassVar[float] = 25.0
    version: ClassVar[int] = 1
    input_suffixes: ClassVar[tuple[str, ...]] = AUDIO_SUFFIXES

    def __init__(self, layer: str = "note", batch_windows: int = 16) -> None:
        if layer not in LAYER_TENSORS:
            raise ValueError(f"layer={layer!r}: expected one of {sorted(LAYER_TENSORS)}")
        if isinstance(batch_windows, bool) or not isinstance(batch_windows, int) or batch_windows < 1:
            raise ValueError(f"batch_windows={batch_windows!r}: expected a positive integer")
        self.layer = layer
        self.batch_windows = batch_windows
        self._session: Any = None

    @property
    def feature_names(self) -> tuple[str, ...]:
        """``<layer>_<bin>`` for posteriorgrams, ``<layer>_c<channel>_b<band>`` for internal maps."""
        if self.layer in _CHANNELS:
            return tuple(f"{self.layer}_c{c}_b{b}" for c in range(_CHANNELS[self.layer]) for b in range(N_BANDS))
        return tuple(f"{self.layer}_{index}" for index in range(LAYER_TENSORS[self.layer][1]))

    def settings(self) -> dict[str, object]:
        return {**super().settings(), "layer": self.layer, "model": "basic-pitch 0.4.0 icassp_2022 nmp.onnx"}

    def extract_with_counts(self, path: Path) -> tuple[np.ndarray, dict[str, int]]:
        """Frames ``(ceil(duration_s * 25), width)`` float32 of one WAV file, and its adjustment counts."""
        audio, counts = read_mono(path, SAMPLE_RATE_HZ)
        source = self.source_frames(audio)  # (n_source, width) at 86.13 per second
        frames = to_frame_rate(source, audio.size / SAMPLE_RATE_HZ, SAMPLE_RATE_HZ / HOP_SAMPLES, self.frame_rate_hz)
        return frames.astype(np.float32), counts

    def source_frames(self, audio: np.ndarray) -> np.ndarray:
        """The layer at the network's own rate, shape ``(ceil(n_samples / 256), width)``, for 22,050 Hz mono audio."""
        n_source = math.ceil(audio.size / HOP_SAMPLES)
        padded = np.concatenate([np.zeros(EDGE_FRAMES * HOP_SAMPLES, np.float32), audio])
        starts = range(0, max(n_source, 1) * HOP_SAMPLES, KEPT_FRAMES * HOP_SAMPLES)
        windows = np.zeros((len(starts), WINDOW_SAMPLES, 1), np.float32)
        for index, start in enumerate(starts):
            chunk = padded[start : start + WINDOW_SAMPLES]
            windows[index, : len(chunk), 0] = chunk
        outputs = [self._run(windows[first : first + self.batch_windows])
                   for first in range(0, len(windows), self.batch_windows)]  # fmt: skip
        kept = np.concatenate(outputs)[:, EDGE_FRAMES : EDGE_FRAMES + KEPT_FRAMES]  # (n_windows, 142, width)
        return kept.reshape(-1, kept.shape[-1])[:n_source]

    def _run(self, windows: np.ndarray) -> np.ndarray:
        """The layer for a batch of windows, ``(n_windows, 172, width)`` (internal maps band-averaged)."""
        tensor, bins = LAYER_TENSORS[self.layer]
        (values,) = self._inference_session().run([tensor], {INPUT_NAME: windows})
        if self.layer not in _CHANNELS:
            return values  # (n_windows, 172, bins)
        n_windows, channels, n_time, _ = values.shape
        banded = values.reshape(n_windows, channels, n_time, N_BANDS, bins // N_BANDS).mean(axis=4)
        return banded.transpose(0, 2, 1, 3).reshape(n_windows, n_time, channels * N_BANDS)

    def _inference_session(self) -> Any:
        if self._session is None:
            try:
                import onnx
                import onnxruntime
            except ImportError as error:
                raise ImportError(f"basic-pitch frames need onnxruntime and onnx ({error}); pip install onnxruntime "
                                  "onnx") from None
            model = onnx.load(str(model_path()))
            tensor = LAYER_TENSORS[self.layer][0]
            if tensor not in {output.name for output in model.graph.output}:
                model.graph.output.append(onnx.helper.make_tensor_value_info(tensor, onnx.TensorProto.FLOAT, None))
            options = onnxruntime.SessionOptions()
            self._session = onnxruntime.InferenceSession(model.SerializeToString(), options,
                                                         providers=["CPUExecutionProvider"])
        return self._session
