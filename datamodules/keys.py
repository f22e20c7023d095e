"""The PercePiano key grammar: ``<work>_<N>bars_<player>_<segment>``.

The player is the second-to-last token (``Score`` and ``Score2`` are deadpan renditions), the segment is the
last. An *excerpt* is one passage of one work (work, bars, segment): all performances of the same excerpt share
their music, so cross-validation must keep an excerpt on one side of a split.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_KEY_PATTERN = re.compile(r"^(?P<work>.+)_(?P<n_bars>\d+)bars_(?P<player>[^_]+)_(?P<segment>[^_]+)$")
DEADPAN_PLAYERS: frozenset[str] = frozenset({"Score", "Score2"})


@dataclass(frozen=True, slots=True)
class SegmentKey:
    """One parsed segment key.

    Attributes
    ----------
    work : str
        Composer and piece, e.g. ``"Schubert_D960_mv3"``.
    n_bars : int
        Segment length in bars.
    player : str
        Performer token (``"Score"``/``"Score2"`` for deadpan renditions).
    segment : str
        Segment number within the work.
    """

    work: str
    n_bars: int
    player: str
    segment: str

    @property
    def excerpt(self) -> str:
        """The passage all players of this segment share: ``<work>_<N>bars_<segment>``."""
        return f"{self.work}_{self.n_bars}bars_{self.segment}"

    @property
    def performer(self) -> str:
        """The player token."""
        return self.player

    @property
    def is_deadpan(self) -> bool:
        """Whether this is a deadpan (score-rendered) performance."""
        return self.player in DEADPAN_PLAYERS


def parse_key(key: str) -> SegmentKey:
    """Parse ``<work>_<N>bars_<player>_<segment>``.

    Raises
    ------
    ValueError
        If the key does not follow the grammar.
    """
    match = _KEY_PATTERN.match(key)
    if match is None:
        raise ValueError(f"key {key!r} does not follow the grammar '<work>_<N>bars_<player>_<segment>'")
    return SegmentKey(match["work"], int(match["n_bars"]), match["player"], match["segment"])


def excerpt_groups(keys: list[str]) -> list[str]:
    """Excerpt id per key (keys outside the grammar are their own excerpt)."""
    return [_group(key, "excerpt") for key in keys]


def performer_groups(keys: list[str]) -> list[str]:
    """Performer id per key (keys outside the grammar are their own performer)."""
    return [_group(key, "performer") for key in keys]


def work_groups(keys: list[str]) -> list[str]:
    """Work id per key (keys outside the grammar are their own work)."""
    return [_group(key, "work") for key in keys]


def _group(key: str, kind: str) -> str:
    try:
        return str(getattr(parse_key(key), kind))
    except ValueError:
        return key
