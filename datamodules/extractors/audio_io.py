"""Read an audio file as mono float32 at a chosen rate, counting what was changed (channels mixed, rate converted).

WAV files only (PCM 8/16/24/32-bit integer or 32/64-bit float, read by :func:`scipy.io.wavfile.read`); integer
samples are scaled to [-1, 1]; channels are averaged; another rate is converted with a polyphase filter
(:func:`scipy.signal.resample_poly`, the ratio reduced to lowest terms).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from scipy.io import wavfile
from scipy.signal import resample_poly

from datamodules.extractors.base import UnusableInputError

AUDIO_SUFFIXES = (".wav",)


def read_mono(path: Path, rate_hz: int) -> tuple[np.ndarray, dict[str, int]]:
    """Samples of ``path`` as mono float32 at ``rate_hz``, shape ``(n_samples,)``, and adjustment counts.

    Returns
    -------
    audio : ndarray of shape (n_samples,), float32
    counts : dict
        ``n_channels_mixed`` (channels averaged beyond the first), ``n_resampled`` (1 if the rate was converted).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    UnusableInputError
        If the file is not a readable WAV, holds no samples, or every sample is 0 (silent).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    try:
        source_rate, samples = wavfile.read(path)
    except (ValueError, OSError) as error:
        raise UnusableInputError(f"unreadable WAV ({type(error).__name__}: {error})") from None
    if samples.size == 0:
        raise UnusableInputError("empty: the file holds no samples")
    if np.issubdtype(samples.dtype, np.integer):
        info = np.iinfo(samples.dtype)
        samples = (samples.astype(np.float64) - (info.max + info.min + 1) / 2) / ((info.max - info.min + 1) / 2)
    samples = np.asarray(samples, dtype=np.float64)
    n_channels = 1 if samples.ndim == 1 else samples.shape[1]
    mono = samples if samples.ndim == 1 else samples.mean(axis=1)  # (n_samples,)
    if not np.any(mono):
        raise UnusableInputError(f"silent: all {mono.size} samples are 0")
    if not np.isfinite(mono).all():
        raise UnusableInputError("non-finite samples (NaN or inf)")
    resampled = int(source_rate) != rate_hz
    if resampled:
        divisor = math.gcd(int(source_rate), rate_hz)
        mono = resample_poly(mono, rate_hz // divisor, int(source_rate) // divisor)
    return mono.astype(np.float32), {"n_channels_mixed": n_channels - 1, "n_resampled": int(resampled)}
