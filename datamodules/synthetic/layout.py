"""Keys, excerpts, performers and excerpt-grouped folds of a synthetic cache."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from datamodules.synthetic.spec import SyntheticSpec

DEADPAN_PLAYER = "Score"


@dataclass(frozen=True, slots=True)
class SegmentLayout:
    """Who played what: one row per synthetic segment, in generation order.

    Attributes
    ----------
    keys : tuple of str, length n_segments
        ``Synth_W{w}_{n_bars}bars_{player}_{segment}`` (see :mod:`datamodules.keys`).
    excerpt_index : ndarray of shape (n_segments,), int64
        Excerpt of each segment, in ``0..n_excerpts - 1``.
    performer_index : ndarray of shape (n_segments,), int64
        Position of the player token in ``players``.
    players : tuple of str
        ``"1"..."n_players"`` then ``"Score"``.
    folds : list of dict
        ``{"train": [keys], "val": [keys]}`` per fold; val sets disjoint, no excerpt on both sides.
    held_out_keys : tuple of str
        Keys in no fold.
    """

    keys: tuple[str, ...]
    excerpt_index: np.ndarray
    performer_index: np.ndarray
    players: tuple[str, ...]
    folds: list[dict[str, list[str]]]
    held_out_keys: tuple[str, ...]

    @property
    def n_segments(self) -> int:
        return len(self.keys)


def make_layout(spec: SyntheticSpec, rng: np.random.Generator) -> SegmentLayout:
    """Spread ``spec.n_segments`` over excerpts and players, then split excerpts into folds.

    Every excerpt gets ``n_segments // n_excerpts`` or one more performances: the deadpan ``Score`` rendition
    and distinct numbered players drawn at random. Excerpts are shuffled; the first
    ``round(held_out_fraction * n_excerpts)`` are held out, the rest are dealt into ``n_folds`` val sets
    (``numpy.array_split``); each fold trains on every other non-held-out key.
    """
    players = (*(str(number) for number in range(1, spec.n_players + 1)), DEADPAN_PLAYER)
    n_excerpts = spec.n_excerpts
    counts = np.full(n_excerpts, spec.n_segments // n_excerpts, dtype=np.int64)
    counts[rng.permutation(n_excerpts)[: spec.n_segments % n_excerpts]] += 1
    keys, excerpt_index, performer_index = [], [], []
    for excerpt in range(n_excerpts):
        work, segment = divmod(excerpt, spec.n_excerpts_per_work)
        chosen = [spec.n_players, *rng.permutation(spec.n_players)[: counts[excerpt] - 1]]
        for player in chosen:
            keys.append(f"Synth_W{work + 1}_{spec.n_bars}bars_{players[player]}_{segment + 1}")
            excerpt_index.append(excerpt)
            performer_index.append(player)
    excerpt_index = np.asarray(excerpt_index, dtype=np.int64)
    order = rng.permutation(n_excerpts)
    n_held = round(spec.held_out_fraction * n_excerpts)
    held = set(order[:n_held].tolist())
    in_folds = [key for key, excerpt in zip(keys, excerpt_index, strict=True) if excerpt not in held]
    folds = []
    for val_excerpts in np.array_split(order[n_held:], spec.n_folds):
        val_set = set(val_excerpts.tolist())
        val = [key for key, excerpt in zip(keys, excerpt_index, strict=True) if excerpt in val_set]
        val_keys = set(val)
        folds.append({"train": [key for key in in_folds if key not in val_keys], "val": val})
    return SegmentLayout(
        keys=tuple(keys),
        excerpt_index=excerpt_index,
        performer_index=np.asarray(performer_index, dtype=np.int64),
        players=players,
        folds=folds,
        held_out_keys=tuple(key for key, excerpt in zip(keys, excerpt_index, strict=True) if excerpt in held),
    )
