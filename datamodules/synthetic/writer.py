"""Writing a synthetic cache directory atomically, and reusing it when ``(spec, seed)`` has not changed.

Files written (the cache layout of :func:`datamodules.cache.open_cache`, plus the raw and downstream inputs):

``labels.json``             ``{key: [19 labels on [0, 1], performer index]}``, labels = kept rating means / 7
``folds.json``              ``[{"train": [...], "val": [...]}]``, grouped by excerpt; held-out keys in no fold
``muq_embeddings.pt``       ``{key: Tensor[n_frames, dim]}`` float16, frames at 25 per second
``total_2rounds.csv``       the simulated ratings, in the real file's format
``all_moments.jsonl``       masterclass moments; ``masterclass_embeddings.pt`` ``{segment_id: Tensor[T, dim]}``
``recordings.jsonl``        competition recordings; ``competition_embeddings.pt`` ``{recording_id: Tensor[T, dim]}``
``ground_truth.json``       everything planted, the spec and the seed (written last)
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import numpy as np
import torch

from datamodules.cache import (
    COMPETITION_EMBEDDINGS_FILE,
    EMBEDDINGS_FILE,
    FOLDS_FILE,
    LABELS_FILE,
    MASTERCLASS_EMBEDDINGS_FILE,
    MOMENTS_FILE,
    RATINGS_FILE,
    RECORDINGS_FILE,
)
from datamodules.dimensions import DIMENSIONS
from datamodules.synthetic.frames import FrameEncoder, make_frame_encoder, render_segment
from datamodules.synthetic.labels import LabelModel, make_label_model
from datamodules.synthetic.layout import make_layout
from datamodules.synthetic.moments import DownstreamSegment, make_moments
from datamodules.synthetic.raters import ratings_csv, simulate_ratings
from datamodules.synthetic.recordings import make_competition
from datamodules.synthetic.recovery import recovery_report
from datamodules.synthetic.spec import SyntheticSpec

FORMAT_VERSION = 2
GENERATOR = "percepiano-bench datamodules.synthetic"
GROUND_TRUTH_FILE = "ground_truth.json"
CACHE_FILES = (LABELS_FILE, FOLDS_FILE, EMBEDDINGS_FILE, RATINGS_FILE, MOMENTS_FILE, RECORDINGS_FILE,
               MASTERCLASS_EMBEDDINGS_FILE, COMPETITION_EMBEDDINGS_FILE, GROUND_TRUTH_FILE)
#: What ``audible`` means in the ground truth; the label model (see :func:`make_label_model`) makes it exact.
AUDIBILITY_RULE = (
    "A dimension is audible iff it is listed in audible_dimensions: its quality is encoded in the frames by the "
    "stated mechanism. Linear dimensions share label factor 0 with no other dimension; sparse and nonlinear "
    "dimensions load on no factor; every inaudible dimension loads on silent factors only, so its quality (and "
    "label) is independent of the frames and no probe can predict it out of fold."
)
#: Tuned probers of the suite that recover each mechanism clearly (chosen inside the training folds only): a linear
#: probe on stats-pooled features or attention pooling for linear shifts, attention pooling for the few marked
#: frames, a nonlinear probe on stats-pooled features for the sign-randomised shift.
RECOVERED_BY = {"linear": ("ridge_tuned", "attention_es"), "sparse": ("attention_es",), "nonlinear": ("mlp_es",)}
_STREAMS = ("layout", "labels", "raters", "encoder", "frames", "masterclass", "competition")


def generate_synthetic_cache(out_dir: Path, spec: SyntheticSpec | None = None, seed: int = 0) -> Path:
    """Write a synthetic cache with planted, known structure into ``out_dir``; reuse it when already there.

    Parameters
    ----------
    out_dir : Path
        Target directory. It is built in a temporary sibling and renamed into place, so readers never see a
        half-written cache. If it already holds a synthetic cache of the same ``spec`` and ``seed`` (as recorded
        in ``ground_truth.json``) nothing is done; a synthetic cache of another spec or seed, or an empty
        directory, is replaced.
    spec : SyntheticSpec, optional
        Sizes and planted effects (default ``SyntheticSpec()``).
    seed : int, default=0
        Seed of the ``numpy.random.SeedSequence`` whose children drive each part (layout, labels, raters,
        directions, frames, masterclass, competition), so changing one part's knobs leaves the others' draws alone.

    Returns
    -------
    Path
        ``out_dir``.

    Raises
    ------
    TypeError
        If ``spec`` is not a :class:`SyntheticSpec` or ``seed`` is not an integer.
    ValueError
        If ``seed`` is negative.
    FileExistsError
        If ``out_dir`` is a file, or a non-empty directory that is not a synthetic cache.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> cache = generate_synthetic_cache(root / "cache", SyntheticSpec(n_segments=96, dim=16), seed=1)
    >>> sorted(path.name for path in cache.iterdir())[:3]
    ['all_moments.jsonl', 'competition_embeddings.pt', 'folds.json']
    """
    spec = SyntheticSpec() if spec is None else spec
    if not isinstance(spec, SyntheticSpec):
        raise TypeError(f"spec is {type(spec).__name__}, expected a SyntheticSpec")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed={seed!r} is {type(seed).__name__}, expected an int")
    if seed < 0:
        raise ValueError(f"seed={seed}, expected an integer >= 0")
    out_dir = Path(out_dir)
    if is_current(out_dir, spec, int(seed)):
        return out_dir
    _check_replaceable(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    partial = out_dir.with_name(f".{out_dir.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    partial.mkdir()
    try:
        _write_cache(partial, spec, int(seed))
        _swap_in(partial, out_dir, spec, int(seed))
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return out_dir


def is_current(out_dir: Path, spec: SyntheticSpec, seed: int) -> bool:
    """Whether ``out_dir`` holds every cache file and a ground truth of exactly this ``spec`` and ``seed``."""
    if not all((Path(out_dir) / name).is_file() for name in CACHE_FILES):
        return False
    truth = _read_truth(Path(out_dir))
    return (truth is not None and truth.get("format_version") == FORMAT_VERSION and truth.get("seed") == seed
            and truth.get("spec") == spec.to_dict())


def _read_truth(out_dir: Path) -> dict | None:
    """The ground truth of a synthetic cache in ``out_dir``, or None when there is none (or it is foreign)."""
    try:
        truth = json.loads((out_dir / GROUND_TRUTH_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return truth if isinstance(truth, dict) and truth.get("generator") == GENERATOR else None


def _check_replaceable(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"out_dir={out_dir} is a file, expected a directory for the synthetic cache")
    if out_dir.is_dir() and any(out_dir.iterdir()) and _read_truth(out_dir) is None:
        raise FileExistsError(f"out_dir={out_dir} is a non-empty directory without a synthetic {GROUND_TRUTH_FILE}, "
                              "not a synthetic cache; choose a new or empty directory")


def _swap_in(partial: Path, out_dir: Path, spec: SyntheticSpec, seed: int) -> None:
    """Rename ``partial`` to ``out_dir``, moving an outdated cache aside first; a concurrent twin wins."""
    if out_dir.exists():
        retired = out_dir.with_name(f".{out_dir.name}.retired-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        try:
            os.rename(out_dir, retired)
        except FileNotFoundError:  # removed meanwhile by a concurrent caller
            pass
        shutil.rmtree(retired, ignore_errors=True)
    try:
        os.rename(partial, out_dir)
    except OSError:
        if not is_current(out_dir, spec, seed):
            raise


def _write_cache(directory: Path, spec: SyntheticSpec, seed: int) -> None:
    children = np.random.SeedSequence(seed).spawn(len(_STREAMS))
    rngs = {name: np.random.default_rng(child) for name, child in zip(_STREAMS, children, strict=True)}
    layout = make_layout(spec, rngs["layout"])
    model = make_label_model(spec, rngs["labels"])
    quality = model.quality(model.sample_scores(layout.excerpt_index, rngs["labels"]))  # (n_segments, 19)
    ratings = simulate_ratings(quality, spec, rngs["raters"])
    labels = ratings.labels(layout.n_segments)  # (n_segments, 19)
    (directory / RATINGS_FILE).write_text(ratings_csv(ratings, layout.keys, rngs["raters"]), encoding="utf-8")
    order = rngs["layout"].permutation(layout.n_segments)
    label_payload = {layout.keys[i]: [*labels[i].tolist(), int(layout.performer_index[i])] for i in order}
    _write_json(directory / LABELS_FILE, label_payload)
    _write_json(directory / FOLDS_FILE, layout.folds)
    encoder = make_frame_encoder(spec, quality, rngs["encoder"])
    content = encoder.project_off(rngs["encoder"].standard_normal((spec.n_excerpts, spec.dim)) * spec.content_std)
    lengths = rngs["frames"].integers(spec.frames_per_segment[0], spec.frames_per_segment[1] + 1, layout.n_segments)
    frames = _render_all(layout.keys, quality, lengths, content[layout.excerpt_index], encoder, rngs["frames"])
    torch.save(frames.tensors, directory / EMBEDDINGS_FILE)
    masterclass = _masterclass(directory, spec, model, encoder, rngs["masterclass"])
    competition = _competition(directory, spec, model, encoder, rngs["competition"])
    truth = {
        "generator": GENERATOR, "format_version": FORMAT_VERSION, "seed": seed, "spec": spec.to_dict(),
        "files": list(CACHE_FILES), "dimensions": list(DIMENSIONS),
        "audibility": AUDIBILITY_RULE,
        "audible_dimensions": _audible_summary(spec, model),
        "inaudible_dimensions": [DIMENSIONS[d] for d in range(len(DIMENSIONS)) if d not in spec.audible_dimensions],
        "silent_factor_dimensions": [DIMENSIONS[d] for d in np.flatnonzero(np.isin(model.primary_factor,
                                                                                   model.silent_factors))],
        "factorless_dimensions": [DIMENSIONS[d] for d in np.flatnonzero(model.primary_factor < 0)],
        "label_model": model.to_dict(),
        "raters": _rater_summary(ratings, layout.n_segments),
        "frame_encoder": encoder.to_dict(),
        "segments": {"keys": list(layout.keys), "excerpt_index": layout.excerpt_index,
                     "performer_index": layout.performer_index, "players": list(layout.players),
                     "n_frames": lengths, "quality": quality, "marked_frames": frames.marked,
                     "nonlinear_sign": frames.signs, "held_out_keys": list(layout.held_out_keys)},
        "recovery": recovery_report(encoder, frames.means, frames.marked_means, quality, labels),
        "masterclass": masterclass,
        "competition": competition,
    }
    _write_json(directory / GROUND_TRUTH_FILE, truth)


class _Rendered:
    """Tensors to save plus per-segment bookkeeping (means in float64 from the float16 frames as written)."""

    def __init__(self, n_segments: int, dim: int) -> None:
        self.tensors: dict[str, torch.Tensor] = {}
        self.marked: dict[str, list[int]] = {}
        self.signs: list[int] = []
        self.means = np.zeros((n_segments, dim))
        self.marked_means = np.zeros((n_segments, dim))


def _render_all(keys, quality: np.ndarray, lengths: np.ndarray, content: np.ndarray, encoder: FrameEncoder,
                rng: np.random.Generator) -> _Rendered:
    rendered = _Rendered(len(keys), encoder.dim)
    for row, key in enumerate(keys):
        segment = render_segment(quality[row], int(lengths[row]), encoder, rng, content[row])
        stored = segment.frames.astype(np.float16)  # (n_frames, dim)
        rendered.tensors[key] = torch.from_numpy(stored)
        rendered.marked[key] = segment.marked_frames.tolist()
        rendered.signs.append(segment.sign)
        rendered.means[row] = stored.mean(axis=0, dtype=np.float64)
        if segment.marked_frames.size:
            rendered.marked_means[row] = stored[segment.marked_frames].mean(axis=0, dtype=np.float64)
    return rendered


def _render_downstream(segments: list[DownstreamSegment], shift: np.ndarray, model: LabelModel,
                       encoder: FrameEncoder, spec: SyntheticSpec,
                       rng: np.random.Generator) -> tuple[np.ndarray, dict[str, torch.Tensor]]:
    """Quality (n, 19) from the label model with per-group effects plus ``shift`` (n, 19), and the tensors."""
    groups = np.array([segment.group for segment in segments], dtype=np.int64)
    quality = model.quality(model.sample_scores(groups, rng), shift)
    content = encoder.project_off(rng.standard_normal((int(groups.max()) + 1, spec.dim)) * spec.content_std)
    tensors = {}
    for row, segment in enumerate(segments):
        frames = render_segment(quality[row], segment.n_frames, encoder, rng, content[groups[row]]).frames
        tensors[segment.segment_id] = torch.from_numpy(frames.astype(np.float16))
    return quality, tensors


def _masterclass(directory: Path, spec: SyntheticSpec, model: LabelModel, encoder: FrameEncoder,
                 rng: np.random.Generator) -> dict:
    lines, segments = make_moments(spec, rng)
    shift = np.zeros((len(segments), len(DIMENSIONS)))
    is_stop = np.array([segment.kind == "stop" for segment in segments])
    shift[np.ix_(is_stop, list(spec.stop_dimensions))] = -spec.stop_shift
    quality, tensors = _render_downstream(segments, shift, model, encoder, spec, rng)
    (directory / MOMENTS_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    torch.save(tensors, directory / MASTERCLASS_EMBEDDINGS_FILE)
    return {
        "stop_dimensions": [DIMENSIONS[d] for d in spec.stop_dimensions], "stop_shift": spec.stop_shift,
        "effect": "STOP quality = CONTINUE quality shifted by -stop_shift latent SDs on stop_dimensions",
        "n_stop": int(is_stop.sum()), "n_continue": int((~is_stop).sum()),
        "segments": [{"segment_id": s.segment_id, "kind": s.kind, "video_index": s.group, "moment_id": s.moment_id,
                      "start_s": s.start_s, "end_s": s.end_s, "n_frames": s.n_frames, "quality": quality[row]}
                     for row, s in enumerate(segments)],
    }


def _competition(directory: Path, spec: SyntheticSpec, model: LabelModel, encoder: FrameEncoder,
                 rng: np.random.Generator) -> dict:
    competition = make_competition(spec, rng)
    ranks = competition.ranks[[recording.group for recording in competition.recordings]]
    ability = spec.placement_slope * (1.0 - 2.0 * (ranks - 1) / (spec.n_competition_performers - 1))
    shift = np.zeros((len(ranks), len(DIMENSIONS)))
    shift[:, list(spec.placement_dimensions)] = ability[:, None]
    quality, tensors = _render_downstream(competition.recordings, shift, model, encoder, spec, rng)
    (directory / RECORDINGS_FILE).write_text("\n".join(competition.lines) + "\n", encoding="utf-8")
    torch.save(tensors, directory / COMPETITION_EMBEDDINGS_FILE)
    return {
        "placement_dimensions": [DIMENSIONS[d] for d in spec.placement_dimensions],
        "placement_slope": spec.placement_slope,
        "effect": "latent shift = placement_slope * (1 - 2 (rank - 1) / (n_performers - 1)) on placement_dimensions",
        "performer_rank": competition.ranks, "duplicated_recording_ids": competition.duplicated_ids,
        "recordings": [{"recording_id": r.segment_id, "performer_index": r.group, "placement": int(placement),
                        "n_frames": r.n_frames, "latent_shift": float(ability[row]), "quality": quality[row]}
                       for row, (r, placement) in enumerate(zip(competition.recordings, competition.placements,
                                                                strict=True))],
    }


def _audible_summary(spec: SyntheticSpec, model: LabelModel) -> dict:
    summary = {}
    for position, dimension in enumerate(spec.linear_dimensions):
        summary[DIMENSIONS[dimension]] = {"index": dimension, "mechanism": "linear", "direction_row": position,
                                          "strength": spec.linear_strengths[position]}
    for position, dimension in enumerate(spec.sparse_dimensions):
        summary[DIMENSIONS[dimension]] = {"index": dimension, "mechanism": "sparse", "direction_row": position,
                                          "strength": spec.sparse_strength, "marker_strength": spec.marker_strength,
                                          "fraction": spec.sparse_fraction}
    for position, dimension in enumerate(spec.nonlinear_dimensions):
        summary[DIMENSIONS[dimension]] = {"index": dimension, "mechanism": "nonlinear", "direction_row": position,
                                          "strength": spec.nonlinear_strength, "offset": spec.nonlinear_offset,
                                          "function": "|mean @ a| = strength * (offset + z) + noise, sign random"}
    for entry in summary.values():
        factor = int(model.primary_factor[entry["index"]])
        entry["label_factor"] = factor if factor >= 0 else None
        entry["recovered_by"] = list(RECOVERED_BY[entry["mechanism"]])
    return dict(sorted(summary.items(), key=lambda item: item[1]["index"]))


def _rater_summary(ratings, n_keys: int) -> dict:
    kept = ratings.n_kept_raters(n_keys)
    return {
        "rater_noise_std": ratings.rater_noise_std, "rater_bias": ratings.rater_bias,
        "n_rows": int(ratings.users.size), "n_dropped_rows": int(ratings.dropped.sum()),
        "n_missing_cells": int((ratings.values[~ratings.dropped] == 0).sum()),
        "n_blank_cells": int(ratings.blank.sum()),
        "kept_raters_per_key": {"min": int(kept.min()), "max": int(kept.max()), "mean": float(kept.mean())},
    }


def _write_json(path: Path, payload: object) -> None:
    path.write_text(json.dumps(payload, default=_to_builtin), encoding="utf-8")


def _to_builtin(value: object) -> object:
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
