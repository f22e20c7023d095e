"""Per-dimension MLPs as the notebook trained them: 19 separate models, each with its own Adam and data loader."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def mlp_per_dimension(
    stats: np.ndarray, labels: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]], max_epochs: int = 80,
    seed: int = 0, hidden_dim: int = 256, learning_rate: float = 1e-3, weight_decay: float = 1e-3,
    batch_size: int = 64,
) -> np.ndarray:
    """Out-of-fold predictions ``(n_segments, 19)`` (NaN outside val sets).

    Per fold: a StandardScaler on the training rows, then for each dimension ``torch.manual_seed(seed)``, a fresh
    ``Linear(2D, hidden) - ReLU - Linear(hidden, 1)``, Adam, and ``max_epochs`` shuffled passes in batches of
    ``batch_size`` (the loader's order seeded with ``seed``).
    """
    predictions = np.full(labels.shape, np.nan)
    for train, val in folds:
        scaler = StandardScaler().fit(stats[train])
        train_features = torch.as_tensor(scaler.transform(stats[train]), dtype=torch.float32)  # (n_train, 2D)
        val_features = torch.as_tensor(scaler.transform(stats[val]), dtype=torch.float32)  # (n_val, 2D)
        for dimension in range(labels.shape[1]):
            torch.manual_seed(seed)
            model = nn.Sequential(nn.Linear(train_features.shape[1], hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, 1))
            optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
            targets = torch.as_tensor(labels[train, dimension], dtype=torch.float32)  # (n_train,)
            loader = DataLoader(TensorDataset(train_features, targets), batch_size=batch_size, shuffle=True,
                                generator=torch.Generator().manual_seed(seed))
            for _ in range(max_epochs):
                for features, target in loader:
                    loss = nn.functional.mse_loss(model(features).squeeze(-1), target)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
            with torch.no_grad():
                predictions[val, dimension] = model(val_features).squeeze(-1).double().numpy()
    return predictions
