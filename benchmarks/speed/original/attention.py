"""Attention pooling as the notebook trained it: one segment per optimiser step, then 19 Ridge readouts."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import Ridge
from torch import nn

from datamodules.dimensions import N_DIMENSIONS


class AttentionPooling(nn.Module):
    """``Linear(D, hidden) - tanh - Linear(hidden, 1)`` frame scores, softmax over frames, weighted sum, joint head."""

    def __init__(self, input_dim: int, hidden_dim: int = 128, n_outputs: int = N_DIMENSIONS) -> None:
        super().__init__()
        self.scorer = nn.Sequential(nn.Linear(input_dim, hidden_dim), nn.Tanh(), nn.Linear(hidden_dim, 1))
        self.head = nn.Linear(input_dim, n_outputs)

    def pool(self, frames: torch.Tensor) -> torch.Tensor:
        """Pooled ``(D,)`` vector of one segment's ``(n_frames, D)`` frames."""
        weights = torch.softmax(self.scorer(frames).squeeze(-1), dim=0)  # (n_frames,)
        return weights @ frames  # (D,)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(frames))  # (19,)


def attention_probe(
    embeddings: dict[str, torch.Tensor], keys: list[str], labels: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]], max_epochs: int = 50, seed: int = 0,
    hidden_dim: int = 128, learning_rate: float = 1e-3, weight_decay: float = 1e-3, ridge_alpha: float = 1.0,
) -> tuple[np.ndarray, dict]:
    """Out-of-fold predictions ``(n_segments, 19)`` (NaN outside val sets) and counts for the FLOP tally.

    Per fold: frames standardised with the training frames' per-dimension mean and standard deviation, a fresh
    module under ``torch.manual_seed(seed)``, ``max_epochs`` passes over the training segments in a seeded random
    order with one Adam step per segment, then pooled features of every segment and one ``Ridge(alpha)`` per
    dimension from the training rows' pooled features.
    """
    predictions = np.full(labels.shape, np.nan)
    counts = {"n_training_frames": 0, "n_training_segments": 0, "n_pooled_frames": 0}
    for train, val in folds:
        mean, scale = _frame_standardization(embeddings, [keys[row] for row in train])
        torch.manual_seed(seed)
        model = AttentionPooling(mean.numel(), hidden_dim)
        optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
        targets = torch.as_tensor(labels, dtype=torch.float32)  # (n_segments, 19)
        order_rng = np.random.default_rng(seed)
        for _ in range(max_epochs):
            for row in order_rng.permutation(train):
                frames = (embeddings[keys[row]].float() - mean) / scale  # (n_frames, D)
                loss = nn.functional.mse_loss(model(frames), targets[row])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                counts["n_training_frames"] += frames.shape[0]
                counts["n_training_segments"] += 1
        model.eval()
        with torch.no_grad():
            pooled = {row: model.pool((embeddings[keys[row]].float() - mean) / scale).double().numpy()
                      for row in np.concatenate([train, val])}
        counts["n_pooled_frames"] += sum(embeddings[keys[row]].shape[0] for row in pooled)
        train_pooled, val_pooled = np.stack([pooled[r] for r in train]), np.stack([pooled[r] for r in val])
        for dimension in range(labels.shape[1]):
            readout = Ridge(alpha=ridge_alpha).fit(train_pooled, labels[train, dimension])
            predictions[val, dimension] = readout.predict(val_pooled)
    return predictions, counts


def _frame_standardization(embeddings: dict[str, torch.Tensor], keys: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-dimension mean and standard deviation ``(D,)`` over all frames of ``keys`` (float64 sums)."""
    total, squares, n_frames = 0.0, 0.0, 0
    for key in keys:
        frames = embeddings[key].double()  # (n_frames, D)
        total = total + frames.sum(dim=0)
        squares = squares + (frames**2).sum(dim=0)
        n_frames += frames.shape[0]
    mean = total / n_frames
    scale = torch.sqrt(torch.clamp(squares / n_frames - mean**2, min=0.0)).clamp(min=1e-8)
    return mean.float(), scale.float()
