"""A learned softmax-weighted sum of hidden layers (SUPERB / s3prl's ``WeightedSum``), the ``--layers weighted`` option.

With ``--layers weighted`` the store serves every layer side by side: frames ``(..., L * D)`` layer-major, stats
``(..., 2 * L * D)`` as every layer's means then every layer's standard deviations. The attention probers (one joint
model) put a :class:`LayerMix` first: it reshapes to ``(..., blocks, L, D)`` and returns
``sum_l softmax(w)_l * x_l`` of shape ``(..., blocks * D)``, ``w`` starting at 0 (the plain mean of the layers) and
trained with the rest of the prober. ``w`` is parameterised as ``LOGIT_SCALE * theta``, so that Adam, whose steps
are about the learning rate whatever the gradient's size, moves the layer weights ``LOGIT_SCALE`` times faster
than the prober's other weights: at the probers' learning rates (1e-3) and a few hundred steps, the weights could
otherwise hardly leave uniform (measured on planted data: 0.34 on the audible layer of three after 60 steps).
On frames (``blocks = 1``) that is exactly the weighted sum of the layers'
frames; on stats (``blocks = 2``) the means are exact and the standard deviations are the weighted sum of each
layer's (an upper bound of the mixed frames' deviation). Each layer is standardised on its own before mixing.
The MLP probers, whose 19 per-dimension MLPs are independent models, learn one such weighting per dimension
(:meth:`probes.mlp.BatchedMLPModule.layer_weights`), folded into each MLP's first layer.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from datamodules.layers import LayerSelectionError

#: Multiplier of the layer-weight logits' parameter (a per-parameter learning-rate multiplier for Adam).
LOGIT_SCALE = 10.0


class LayerMix(nn.Module):
    """Softmax-weighted sum over ``n_layers`` equal-width blocks of the last axis.

    Parameters
    ----------
    n_layers : int
        L (1: the identity, no parameters).
    width : int
        D, each layer's width.
    blocks : int, default=1
        Groups of L layers in the last axis (2 for stats: means then standard deviations).
    """

    def __init__(self, n_layers: int, width: int, blocks: int = 1) -> None:
        super().__init__()
        self.n_layers, self.width, self.blocks = n_layers, width, blocks
        self.logits = nn.Parameter(torch.zeros(n_layers)) if n_layers > 1 else None

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        """``(..., blocks * L * D)`` to ``(..., blocks * D)``."""
        if self.logits is None:
            return values
        shaped = values.unflatten(-1, (self.blocks, self.n_layers, self.width))  # (..., blocks, L, D)
        weights = torch.softmax(LOGIT_SCALE * self.logits, dim=0)  # (L,)
        mixed = torch.einsum("...bld,l->...bd", shaped, weights)  # (..., blocks, D)
        return mixed.flatten(-2)  # (..., blocks * D)

    def weights(self) -> torch.Tensor:
        """The layer weights ``(L,)``, summing to 1."""
        if self.logits is None:
            return torch.ones(1)
        return torch.softmax(LOGIT_SCALE * self.logits.detach(), dim=0)


def layer_shape(datamodule: Any) -> tuple[int, int]:
    """``(n_layers, width)`` a layer-weighting prober builds for: ``(L, D)`` under ``--layers weighted``, else
    ``(1, dim)`` of the served frames.

    Raises
    ------
    ValueError
        If ``weighted`` layers have different widths (e.g. basic-pitch's named maps): no weighted sum exists.
    """
    store = datamodule.cache.store
    if store.selection.kind != "weighted":
        return 1, store.dim
    widths = sorted(set(store.layer_dims))
    if len(widths) > 1:
        raise LayerSelectionError(f"{store.store_dir}: --layers weighted needs layers of one width to sum, but its "
                         f"layers have widths {dict(zip(store.selection.layers, store.layer_dims, strict=True))}; "
                         "choose one layer or a range of equal-width layers")
    return len(store.layer_dims), widths[0]
