"""The FLOP counts behind the benchmark's rates, against torch's own counter on one training step."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.speed.measure import attention_training_flops, mlp_training_flops
from benchmarks.speed.original.attention import AttentionPooling


def _counted(step) -> int:
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


@pytest.mark.parametrize(("n_frames", "dim", "hidden_dim"), [(37, 24, 8), (5, 64, 128)])
def test_attention_training_flops_equal_torch_count(n_frames: int, dim: int, hidden_dim: int) -> None:
    model = AttentionPooling(dim, hidden_dim=hidden_dim)
    frames, target = torch.randn(n_frames, dim), torch.randn(19)
    counted = _counted(lambda: nn.functional.mse_loss(model(frames), target).backward())
    assert counted == attention_training_flops(n_frames, 1, dim, hidden_dim=hidden_dim)


def test_mlp_training_flops_equal_torch_count() -> None:
    """19 separate MLPs (the original's), one step each on a batch of 64 rows."""
    features, targets = torch.randn(64, 48), torch.randn(64, 19)
    models = [nn.Sequential(nn.Linear(48, 16), nn.ReLU(), nn.Linear(16, 1)) for _ in range(19)]

    def step() -> None:
        for k, model in enumerate(models):
            nn.functional.mse_loss(model(features).squeeze(-1), targets[:, k]).backward()

    assert _counted(step) == mlp_training_flops(64, 48, hidden_dim=16)
