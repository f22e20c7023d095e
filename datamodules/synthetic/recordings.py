"""Synthetic competition recordings (``recordings.jsonl``): performers ranked 1..n, rounds of the best k.

Performer ``p`` has an overall rank; a round of size ``k`` holds the ``k`` best performers, so the placement
written for a recording (1 = best) runs 1..k within each round and orders performers as their overall rank does.
A few lines are written twice, as the real file duplicates lines.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from datamodules.synthetic.moments import FRAME_RATE_HZ, DownstreamSegment
from datamodules.synthetic.spec import SyntheticSpec

COMPETITION = "synth"
EDITION = 2021
_COUNTRIES = ("Poland", "Japan", "Canada", "Italy", "China", "South Korea", "France", "Brazil")


@dataclass(frozen=True, slots=True)
class SyntheticCompetition:
    """Recordings to render and the file text.

    Attributes
    ----------
    lines : list of str
        JSON lines of ``recordings.jsonl``, duplicates included.
    recordings : list of DownstreamSegment
        One per distinct recording (``group`` is the performer index).
    placements : ndarray of shape (n_recordings,), int64
        Placement written for each recording (1 = best in its round).
    ranks : ndarray of shape (n_performers,), int64
        Overall rank of each performer (1 = best).
    duplicated_ids : list of str
        Recordings whose line is written twice.
    """

    lines: list[str]
    recordings: list[DownstreamSegment]
    placements: np.ndarray
    ranks: np.ndarray
    duplicated_ids: list[str]


def make_competition(spec: SyntheticSpec, rng: np.random.Generator) -> SyntheticCompetition:
    """Simulate the rounds of ``spec.competition_rounds`` and their recordings."""
    n_performers = spec.n_competition_performers
    ranks = rng.permutation(n_performers) + 1
    names = [f"Performer {chr(65 + index % 26)}{index // 26 or ''}" for index in range(n_performers)]
    countries = rng.choice(_COUNTRIES, size=n_performers)
    records, recordings, placements = [], [], []
    for round_name, size in spec.competition_rounds:
        for performer in np.flatnonzero(ranks <= size):
            slug = names[performer].lower().replace(" ", "")
            recording_id = f"{COMPETITION}{EDITION}_{round_name}_{slug}_{round_name}round"
            n_frames = int(rng.integers(spec.recording_frames[0], spec.recording_frames[1] + 1))
            duration = n_frames / FRAME_RATE_HZ
            records.append({
                "recording_id": recording_id, "competition": COMPETITION, "edition": EDITION, "round": round_name,
                "placement": int(ranks[performer]), "performer": names[performer],
                "piece": f"{names[performer].upper()} - {round_name} (Synthetic Competition {EDITION})",
                "audio_path": f"audio/{recording_id}.wav", "duration_seconds": duration,
                "source_url": f"https://example.invalid/watch?v={recording_id[-11:]}",
                "country": str(countries[performer]),
            })
            recordings.append(DownstreamSegment(recording_id, "recording", int(performer), n_frames, 0.0, duration))
            placements.append(int(ranks[performer]))
    order = rng.permutation(len(records))
    lines = [json.dumps(records[index], ensure_ascii=False) for index in order]
    n_duplicates = min(spec.n_duplicate_recording_lines, len(lines))
    duplicated = rng.choice(len(lines), size=n_duplicates, replace=False).tolist()
    duplicated_ids = sorted(records[order[source]]["recording_id"] for source in duplicated)
    for source in sorted(duplicated, reverse=True):
        lines.insert(int(rng.integers(source + 1, len(lines) + 1)), lines[source])
    return SyntheticCompetition(lines, recordings, np.asarray(placements, dtype=np.int64), ranks, duplicated_ids)
