"""Synthetic masterclass moments (``all_moments.jsonl``) and the STOP / CONTINUE segments they define.

Per video a timeline is simulated: the student plays, the teacher stops (``stop_timestamp``), talks
(``feedback_start``..``feedback_end``), the student plays on, and so on. The playing window just before a stop
(``playing_before_start``..``playing_before_end``) is a STOP segment; the playing from one feedback's end to the
next playing window, when it lasts at least 5 s, is a CONTINUE segment. Segment ids are
``f"{video_id}@{start:.2f}-{end:.2f}"``. As in the real file, a moment sometimes repeats the previous moment's
playing window (no new STOP segment, and a negative gap: no CONTINUE segment), window times are float32-rounded
and the lines are not in timeline order.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import numpy as np

from datamodules.synthetic.spec import SyntheticSpec

FRAME_RATE_HZ = 25.0
MIN_CONTINUE_S = 5.0
_ID_ALPHABET = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"))
_DIMENSIONS = ("interpretation", "phrasing", "dynamics", "timing", "pedaling", "technique", "voicing",
               "tone_color", "structure", "articulation")
_SEVERITIES = ("moderate", "significant", "minor", "critical")
_FEEDBACK_TYPES = ("suggestion", "explanation", "correction", "demonstration")
_PIECES = (("Chopin", "Chopin Ballade No. 1 in G minor, Op. 23"), ("Schubert", "Schubert Impromptu Op. 90 No. 3"),
           ("Beethoven", "Beethoven Sonata No. 23 in F minor, Op. 57"), ("Liszt", "Liszt Sonata in B minor"))


@dataclass(frozen=True, slots=True)
class DownstreamSegment:
    """One masterclass segment or competition recording to render.

    Attributes
    ----------
    segment_id : str
        Embedding key.
    kind : str
        ``"stop"``, ``"continue"`` or ``"recording"``.
    group : int
        Video (masterclass) or performer (competition) index: segments of a group share the group effect.
    n_frames : int
        Frames at 25 per second.
    start_s, end_s : float
        Seconds from the start of the video (recordings: 0 and their duration).
    moment_id : str
        The moment a STOP precedes or whose feedback opens a CONTINUE gap ("" for recordings).
    """

    segment_id: str
    kind: str
    group: int
    n_frames: int
    start_s: float
    end_s: float
    moment_id: str = ""


def make_moments(spec: SyntheticSpec, rng: np.random.Generator) -> tuple[list[str], list[DownstreamSegment]]:
    """Simulate ``spec.n_videos`` masterclass timelines.

    Returns
    -------
    lines : list of str
        JSON lines of ``all_moments.jsonl`` (shuffled across videos and stops).
    segments : list of DownstreamSegment
        STOP and CONTINUE segments, by video then time.
    """
    records, segments = [], []
    for video in range(spec.n_videos):
        video_records = _video_moments(spec, rng, video)
        records.extend(video_records)
        segments.extend(_video_segments(video_records, video))
    lines = [json.dumps(record, ensure_ascii=False, separators=(",", ":")) for record in records]
    return [lines[index] for index in rng.permutation(len(lines))], segments


def _video_moments(spec: SyntheticSpec, rng: np.random.Generator, video: int) -> list[dict]:
    video_id = "".join(rng.choice(_ID_ALPHABET, size=11))
    composer, piece = _PIECES[int(rng.integers(len(_PIECES)))]
    teacher = f"Teacher {video + 1}"
    n_moments = int(rng.integers(spec.moments_per_video[0], spec.moments_per_video[1] + 1))
    records: list[dict] = []
    clock = float(rng.uniform(20.0, 90.0))
    for order in range(1, n_moments + 1):
        previous = records[-1] if records else None
        if previous is not None and rng.random() < spec.repeated_window_fraction:
            start, end = previous["playing_before_start"], previous["playing_before_end"]
            stop = round(previous["feedback_end"] + float(rng.uniform(3.0, 20.0)), 1)
        else:
            origin = previous["feedback_end"] if previous is not None else clock
            start = _float32(origin + rng.uniform(*spec.continue_gap_s))
            end = _float32(start + rng.uniform(*spec.playing_window_s))
            stop = round(end + float(rng.uniform(0.0, 3.0)), 1)
        feedback_end = round(stop + float(rng.uniform(*spec.feedback_s)), 1)
        dimension = str(rng.choice(_DIMENSIONS))
        records.append({
            "moment_id": str(uuid.UUID(bytes=rng.bytes(16), version=4)), "video_id": video_id,
            "video_title": f"Synthetic masterclass {video + 1} / {teacher}", "teacher": teacher,
            "stop_timestamp": stop, "feedback_start": stop, "feedback_end": feedback_end,
            "playing_before_start": start, "playing_before_end": end,
            "transcript_text": f"[{stop:.1f}s] Let us stop here and look at the {dimension}.",
            "feedback_summary": f"The teacher comments on {dimension}.", "musical_dimension": dimension,
            "secondary_dimensions": [str(name) for name in rng.choice(_DIMENSIONS, size=int(rng.integers(0, 3)),
                                                                      replace=False)],
            "severity": str(rng.choice(_SEVERITIES, p=(0.8, 0.12, 0.05, 0.03))),
            "feedback_type": str(rng.choice(_FEEDBACK_TYPES)), "piece": piece, "composer": composer,
            "passage_description": None, "student_level": None, "stop_order": order, "total_stops": n_moments,
            "time_spent_seconds": round(feedback_end - stop, 1), "demonstrated": bool(rng.random() < 0.2),
            "extracted_at": f"2026-02-15T05:{order:02d}:{video:02d}.000000+00:00",
            "extraction_model": "synthetic", "confidence": 0.7,
        })
    return records


def _video_segments(records: list[dict], video: int) -> list[DownstreamSegment]:
    """STOP windows (first occurrence of each) and CONTINUE gaps of >= 5 s, in time order."""
    segments, seen = [], set()
    ordered = sorted(records, key=lambda record: record["stop_timestamp"])
    for here, after in zip(ordered, [*ordered[1:], None], strict=True):
        start, end = here["playing_before_start"], here["playing_before_end"]
        key = segment_id(here["video_id"], start, end)
        if key not in seen:
            seen.add(key)
            segments.append(DownstreamSegment(key, "stop", video, _n_frames(start, end), start, end,
                                              here["moment_id"]))
        if after is not None and after["playing_before_start"] - here["feedback_end"] >= MIN_CONTINUE_S:
            start, end = here["feedback_end"], after["playing_before_start"]
            segments.append(DownstreamSegment(segment_id(here["video_id"], start, end), "continue", video,
                                              _n_frames(start, end), start, end, here["moment_id"]))
    return segments


def segment_id(video_id: str, start_s: float, end_s: float) -> str:
    """``f"{video_id}@{start_s:.2f}-{end_s:.2f}"``."""
    return f"{video_id}@{start_s:.2f}-{end_s:.2f}"


def _n_frames(start_s: float, end_s: float) -> int:
    return max(1, round((end_s - start_s) * FRAME_RATE_HZ))


def _float32(seconds: float) -> float:
    """Seconds rounded to 0.01 and then to float32, as the real file's window times are."""
    return float(np.float32(round(float(seconds), 2)))
