"""Mel spectrograms in pure torch, as torchaudio's ``MelSpectrogram`` and ``AmplitudeToDB`` compute them.

MuQ's front end is ``torchaudio.transforms.MelSpectrogram(sample_rate=24000, n_fft=2048, hop_length=240,
n_mels=128)`` followed by ``AmplitudeToDB()``; torchaudio on the package registry is a CUDA build that fails to import
on CPU machines, so :class:`MelSTFT` computes the same with ``torch.stft`` (torchaudio's defaults: periodic Hann
window of ``n_fft`` samples, centred frames with reflect padding, power 2, HTK mel scale from 0 Hz to the Nyquist
frequency, triangular filters without area normalisation; decibels ``10 log10(max(x, 1e-10))``, no ``top_db``).
"""

from __future__ import annotations

import torch

#: torchaudio's ``AmplitudeToDB`` floor (``amin``).
AMIN = 1e-10


def hz_to_mel(frequency_hz: torch.Tensor) -> torch.Tensor:
    """HTK mel scale: ``2595 log10(1 + f / 700)``."""
    return 2595.0 * torch.log10(1.0 + frequency_hz / 700.0)


def mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_filterbank(n_freqs: int, n_mels: int, sample_rate_hz: int, f_min_hz: float = 0.0,
                   f_max_hz: float | None = None) -> torch.Tensor:
    """Triangular mel filters ``(n_freqs, n_mels)``: filter ``m`` rises from mel point ``m`` to ``m + 1`` and falls
    to ``m + 2``, with ``n_mels + 2`` points equally spaced in mel from ``f_min_hz`` to ``f_max_hz`` (default Nyquist);
    frequency bins are ``linspace(0, sample_rate_hz // 2, n_freqs)``."""
    f_max_hz = sample_rate_hz / 2 if f_max_hz is None else f_max_hz
    bins_hz = torch.linspace(0, sample_rate_hz // 2, n_freqs, dtype=torch.float64)
    points_hz = mel_to_hz(torch.linspace(float(hz_to_mel(torch.tensor(f_min_hz))),
                                         float(hz_to_mel(torch.tensor(f_max_hz))), n_mels + 2, dtype=torch.float64))
    widths = points_hz[1:] - points_hz[:-1]  # (n_mels + 1,)
    offsets = points_hz[None, :] - bins_hz[:, None]  # (n_freqs, n_mels + 2)
    rising = -offsets[:, :-2] / widths[:-1]
    falling = offsets[:, 2:] / widths[1:]
    return torch.clamp(torch.minimum(rising, falling), min=0.0).float()


class MelSTFT:
    """A mel spectrogram ``(..., n_mels, n_samples // hop_length + 1)`` of waveforms ``(..., n_samples)``, in dB when
    ``is_db`` (the interface of MuQ's ``muq.muq.modules.features.MelSTFT``).

    Parameters
    ----------
    sample_rate, n_fft, hop_length, n_mels : int
    is_db : bool, default=False
    """

    def __init__(self, sample_rate: int = 24000, n_fft: int = 2048, hop_length: int = 240, n_mels: int = 128,
                 is_db: bool = False) -> None:
        self.n_fft, self.hop_length, self.is_db = n_fft, hop_length, is_db
        self.window = torch.hann_window(n_fft)
        self.filters = mel_filterbank(n_fft // 2 + 1, n_mels, sample_rate)  # (n_freqs, n_mels)

    def __call__(self, waveform: torch.Tensor) -> torch.Tensor:
        shape = waveform.shape
        spectrum = torch.stft(waveform.reshape(-1, shape[-1]), self.n_fft, self.hop_length, window=self.window,
                              center=True, pad_mode="reflect", return_complex=True)  # (batch, n_freqs, n_frames)
        mel = torch.einsum("bft,fm->bmt", spectrum.abs() ** 2, self.filters)  # (batch, n_mels, n_frames)
        if self.is_db:
            mel = 10.0 * torch.log10(torch.clamp(mel, min=AMIN))
        return mel.reshape(*shape[:-1], *mel.shape[-2:])

    def to(self, device: torch.device | str) -> MelSTFT:
        self.window, self.filters = self.window.to(device), self.filters.to(device)
        return self
