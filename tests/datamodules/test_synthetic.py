"""Tests of datamodules/synthetic: the written cache honours the contract and the planted structure is recoverable.

Recovery checks compute their statistics independently of the generator (csv module for the ratings, torch.load
and numpy for the frames, the project's loaders for the downstream files) against the directions recorded in
``ground_truth.json``. Correlation thresholds: under no association |r| is about N(0, 1/n), so ``4 / sqrt(n)``
bounds a null correlation; planted effects are required well above that.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import torch

from analyses.factor_retention import parallel_analysis
from datamodules.cache import open_cache
from datamodules.dimensions import DIMENSIONS, N_DIMENSIONS
from datamodules.inputs.competition import load_recordings
from datamodules.inputs.masterclass import load_moments, segment_moments
from datamodules.keys import parse_key
from datamodules.synthetic import SyntheticSpec, generate_synthetic_cache, make_frame_encoder, render_frames

REAL_HEADER_START = ["user", "dataID", "filename", "Question_1_1_1"]


def _corr(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.corrcoef(x, y)[0, 1])


def _reference_labels(csv_path: Path) -> dict[str, np.ndarray]:
    """The PercePiano rule, from the csv module: drop rows with a value > 7; blank/0 missing; mean / 7."""
    rows: dict[str, list[list[float]]] = defaultdict(list)
    with csv_path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        first = header.index("filename") + 1
        for row in reader:
            values = [float(cell) if cell else 0.0 for cell in row[first : first + N_DIMENSIONS]]
            if max(values) > 7:
                continue
            rows[row[header.index("filename")].removesuffix(".wav")].append(values)
    labels = {}
    for key, ratings in rows.items():
        array = np.array(ratings)
        array[array == 0] = np.nan
        labels[key] = np.nanmean(array, axis=0) / 7
    return labels


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_synthetic_cache(tmp_path_factory.mktemp("synthetic") / "cache", SyntheticSpec(), seed=0)


@pytest.fixture(scope="module")
def truth(cache_dir: Path) -> dict:
    return json.loads((cache_dir / "ground_truth.json").read_text())


@pytest.fixture(scope="module")
def segment_view(cache_dir: Path, truth: dict) -> dict:
    """Per segment, in ground-truth key order: labels, quality, mean/std frames, marked-frame means."""
    cache = open_cache(cache_dir)
    keys = truth["segments"]["keys"]
    row = {key: index for index, key in enumerate(cache.keys)}
    stats = cache.stats_features()[[row[key] for key in keys]].astype(np.float64)
    frames = torch.load(cache_dir / "muq_embeddings.pt", weights_only=True)
    marked = np.stack([frames[key].double().numpy()[truth["segments"]["marked_frames"][key]].mean(axis=0)
                       for key in keys])
    dim = cache.store.dim
    return {"cache": cache, "labels": cache.label_table.subset(keys), "quality": np.array(truth["segments"]["quality"]),
            "mean": stats[:, :dim], "std": stats[:, dim:], "marked_mean": marked, "frames": frames, "keys": keys}


class TestSyntheticSpec:
    def test_defaults_size_the_quick_suite(self):
        spec = SyntheticSpec()
        assert 360 <= spec.n_segments <= 420 and spec.dim == 32 and spec.frames_per_segment == (60, 120)
        assert spec.n_factors == 4 and spec.n_folds == 4

    def test_real_scale_has_the_requested_sizes(self):
        spec = SyntheticSpec.real_scale()
        assert spec.n_segments == 1202 and spec.dim == 1024
        assert spec.frames_per_segment == (150, 450) and sum(spec.frames_per_segment) / 2 == 300
        assert spec.n_players + 1 == 22
        assert SyntheticSpec.real_scale(dim=512).dim == 512

    def test_to_dict_is_json(self):
        payload = SyntheticSpec().to_dict()
        assert json.loads(json.dumps(payload)) == payload and payload["linear_dimensions"] == [8, 10, 16, 3]

    @pytest.mark.parametrize(
        ("overrides", "match"),
        [
            ({"n_segments": 10}, r"SyntheticSpec.n_segments=10, expected between n_excerpts=48"),
            ({"n_folds": 1}, r"SyntheticSpec.n_folds=1, expected an integer >= 2"),
            ({"linear_strengths": (1.0,)}, r"linear_strengths=\(1.0,\), expected one strength per linear"),
            ({"sparse_dimensions": (8,)}, r"sparse_dimensions=\(8,\), expected dimensions in one mechanism only"),
            ({"nonlinear_dimensions": (19,)}, r"nonlinear_dimensions=\(19,\), expected dimension indices in 0..18"),
            ({"stop_dimensions": (18,)}, r"stop_dimensions=\(18,\), expected audible dimensions"),
            ({"dim": 4}, r"SyntheticSpec.dim=4, expected at least the 7 directions"),
            ({"dim": 8, "sparse_dimensions": (0, 1, 2, 5, 6), "linear_dimensions": (), "linear_strengths": ()},
             r"SyntheticSpec.dim=8, expected at least 10 \(the marker and the sparse directions use disjoint"),
            ({"raters_per_key": (4, 80)}, r"raters_per_key=\(4, 80\), expected a maximum <= n_rater_pool=65"),
            ({"frames_per_segment": (120, 60)}, r"frames_per_segment=\(120, 60\), expected a \(low, high\) pair"),
            ({"missing_fraction": 1.5}, r"missing_fraction=1.5, expected a fraction in \[0, 1\]"),
            ({"segment_noise_std": -1.0}, r"segment_noise_std=-1.0, expected a finite number >= 0"),
        ],
    )
    def test_invalid_values_name_the_field(self, overrides, match):
        with pytest.raises(ValueError, match=match):
            SyntheticSpec(**overrides)


class TestGenerateSyntheticCache:
    def test_opens_with_open_cache(self, segment_view, truth):
        cache = segment_view["cache"]
        assert cache.n_segments == 384 and cache.store.dim == 32 and len(cache.folds) == 4
        assert cache.alignment.labelled_without_embeddings == [] and cache.alignment.embedded_without_labels == []
        assert 0.08 < len(cache.alignment.labelled_in_no_fold) / cache.n_segments < 0.25
        assert sorted(cache.alignment.labelled_in_no_fold) == sorted(truth["segments"]["held_out_keys"])
        assert np.array_equal(cache.store.lengths[cache.store_rows], [
            truth["segments"]["n_frames"][truth["segments"]["keys"].index(key)] for key in cache.keys])

    def test_keys_follow_the_grammar_with_deadpan_players(self, cache_dir):
        payload = json.loads((cache_dir / "labels.json").read_text())
        parsed = [parse_key(key) for key in payload]
        assert {key.work for key in parsed} == {f"Synth_W{w}" for w in range(1, 5)}
        assert sum(key.is_deadpan for key in parsed) == 48  # one Score rendition per excerpt
        assert all(len(value) == N_DIMENSIONS + 1 and isinstance(value[-1], int) for value in payload.values())

    def test_labels_are_the_kept_rating_means(self, cache_dir, segment_view):
        reference = _reference_labels(cache_dir / "total_2rounds.csv")
        table = segment_view["cache"].label_table
        assert set(reference) == set(table.keys)
        expected = np.stack([reference[key] for key in table.keys])
        np.testing.assert_array_equal(table.values, expected)

    def test_ratings_file_imitates_the_real_one(self, cache_dir, truth):
        with (cache_dir / "total_2rounds.csv").open(newline="") as handle:
            rows = list(csv.reader(handle))
        header, body = rows[0], rows[1:]
        assert header[:4] == REAL_HEADER_START and header[-2:] == ["Question_9_2_1", "message"] and len(header) == 24
        cells = [row[3:22] for row in body]
        dropped = [row for row in cells if any(cell and float(cell) > 7 for cell in row)]
        assert len(dropped) == truth["raters"]["n_dropped_rows"] > 0
        assert any("" in row for row in cells) and any("0.0" in row for row in cells)
        kept_per_key = defaultdict(int)
        for row in body:
            if not any(cell and float(cell) > 7 for cell in row[3:22]):
                kept_per_key[row[2]] += 1
        assert 4 <= min(kept_per_key.values()) and max(kept_per_key.values()) <= 19

    def test_folds_are_grouped_by_excerpt(self, cache_dir, truth):
        folds = json.loads((cache_dir / "folds.json").read_text())
        held = set(truth["segments"]["held_out_keys"])
        all_val = [key for fold in folds for key in fold["val"]]
        assert len(all_val) == len(set(all_val)) and set(all_val) == set(truth["segments"]["keys"]) - held
        for fold in folds:
            train = {parse_key(key).excerpt for key in fold["train"]}
            val = {parse_key(key).excerpt for key in fold["val"]}
            assert not train & val and not held & set(fold["train"])

    def test_ground_truth_records_the_plant(self, truth):
        spec = SyntheticSpec()
        assert truth["seed"] == 0 and truth["spec"] == spec.to_dict()
        mechanisms = {entry["index"]: entry["mechanism"] for entry in truth["audible_dimensions"].values()}
        assert mechanisms == {8: "linear", 10: "linear", 16: "linear", 3: "linear", 0: "sparse", 4: "nonlinear"}
        assert {entry["mechanism"]: entry["recovered_by"][0] for entry in truth["audible_dimensions"].values()} == {
            "linear": "ridge_tuned", "sparse": "attention_es", "nonlinear": "mlp_es"}
        assert sorted(truth["inaudible_dimensions"] + list(truth["audible_dimensions"])) == sorted(DIMENSIONS)
        assert "audible iff" in truth["audibility"]
        loadings = np.array(truth["label_model"]["loadings"])
        assert loadings.shape == (N_DIMENSIONS, 4) and truth["label_model"]["n_factors"] == 4
        primary = np.array(truth["label_model"]["primary_factor"])
        on_factor = primary >= 0
        assert np.all(loadings[np.flatnonzero(on_factor), primary[on_factor]] >= 0.6)
        noise = np.array(truth["raters"]["rater_noise_std"])
        assert noise.shape == (N_DIMENSIONS,) and np.all((0.6 <= noise) & (noise <= 2.2))
        assert truth["label_model"]["excerpt_variance"] == spec.excerpt_variance
        directions = np.array(truth["frame_encoder"]["linear_directions"])
        np.testing.assert_allclose(directions @ directions.T, np.eye(4), atol=1e-10)

    def test_only_linear_dimensions_share_the_audible_factor(self, truth):
        """Factor 0 holds the linear dimensions alone; sparse and nonlinear load on none; the rest on silent ones."""
        loadings = np.array(truth["label_model"]["loadings"])
        linear = sorted(truth["frame_encoder"]["linear_dimensions"])
        assert np.flatnonzero(loadings[:, 0]).tolist() == linear
        assert np.all(loadings[linear, 1:] == 0)
        for name in ("sparse_dimensions", "nonlinear_dimensions"):
            assert np.all(loadings[truth["frame_encoder"][name]] == 0)
        assert truth["label_model"]["silent_factors"] == [1, 2, 3]
        assert sorted(truth["silent_factor_dimensions"]) == sorted(truth["inaudible_dimensions"])
        assert sorted(truth["factorless_dimensions"]) == ["pedal_clarity", "timing"]
        sizes = np.bincount(np.array(truth["label_model"]["primary_factor"])[np.array(truth["label_model"][
            "primary_factor"]) >= 0], minlength=4)
        assert sizes.tolist() == [4, 5, 4, 4]

    def test_parallel_analysis_recovers_the_four_factors(self, segment_view):
        labels = segment_view["cache"].labels
        for method in ("pca", "factor"):
            assert parallel_analysis(labels, seed=0, n_simulations=200, method=method).n_retained == 4, method

    def test_noisy_raters_lower_label_reliability(self, truth):
        noise = np.array(truth["raters"]["rater_noise_std"])
        reliability = np.array([truth["recovery"][name]["label_reliability_r2"] for name in DIMENSIONS])
        assert _corr(noise, reliability) < -0.5

    def test_linear_dimensions_are_recoverable_from_the_mean(self, segment_view, truth):
        n = len(segment_view["keys"])
        directions = np.array(truth["frame_encoder"]["linear_directions"])
        for position, dimension in enumerate(truth["frame_encoder"]["linear_dimensions"]):
            feature = segment_view["mean"] @ directions[position]
            assert _corr(feature, segment_view["quality"][:, dimension]) > 0.7
            assert _corr(feature, segment_view["labels"][:, dimension]) > 4 / np.sqrt(n)

    def test_inaudible_dimensions_leave_no_trace(self, segment_view, truth):
        """No inaudible label correlates with any planted direction, its absolute value, or any audible quality."""
        n = len(segment_view["keys"])
        basis = np.concatenate([np.array(truth["frame_encoder"][name]).reshape(-1, 32) for name in (
            "linear_directions", "sparse_directions", "nonlinear_directions")])
        inaudible = [DIMENSIONS.index(name) for name in truth["inaudible_dimensions"]]
        audible = [entry["index"] for entry in truth["audible_dimensions"].values()]
        assert len(inaudible) == 13 and not set(inaudible) & set(audible)
        projections = segment_view["mean"] @ basis.T  # (n, n_directions)
        features = np.concatenate([projections, np.abs(projections), segment_view["quality"][:, audible]], axis=1)
        correlations = [_corr(feature, segment_view["labels"][:, dimension])
                        for dimension in inaudible for feature in features.T]
        # 13 x 20 null correlations: the largest |r| of 260 draws of N(0, 1/n) stays below 4 / sqrt(n)
        assert max(np.abs(correlations)) < 4 / np.sqrt(n)

    def test_std_features_carry_no_linear_trace_of_the_sparse_dimension(self, segment_view, truth):
        """Marker and sparse directions use disjoint coordinates, so no per-coordinate std is linear in quality."""
        n = len(segment_view["keys"])
        marker = np.array(truth["frame_encoder"]["marker_direction"])
        sparse = np.array(truth["frame_encoder"]["sparse_directions"])[0]
        assert np.all(marker * sparse == 0) and np.count_nonzero(marker) + np.count_nonzero(sparse) == 32
        correlations = [_corr(column, segment_view["quality"][:, 0]) for column in segment_view["std"].T]
        assert max(np.abs(correlations)) < 4 / np.sqrt(n)

    def test_sparse_dimension_lives_in_the_marked_frames(self, segment_view, truth):
        n = len(segment_view["keys"])
        direction = np.array(truth["frame_encoder"]["sparse_directions"])[0]
        quality, labels = segment_view["quality"][:, 0], segment_view["labels"][:, 0]
        marked = _corr(segment_view["marked_mean"] @ direction, quality)
        plain = _corr(segment_view["mean"] @ direction, quality)
        assert marked > 0.9 and 0 < plain < marked - 0.3  # diluted (by sparse_fraction), not gone
        assert _corr(segment_view["marked_mean"] @ direction, labels) > _corr(segment_view["mean"] @ direction, labels)
        assert _corr(segment_view["marked_mean"] @ direction, labels) > 4 / np.sqrt(n)

    def test_marker_direction_identifies_the_marked_frames(self, segment_view, truth):
        marker = np.array(truth["frame_encoder"]["marker_direction"])
        hits = total = 0
        for key in segment_view["keys"][:50]:
            projection = segment_view["frames"][key].double().numpy() @ marker
            chosen = set(truth["segments"]["marked_frames"][key])
            hits += len(chosen & set(np.argsort(projection)[-len(chosen):].tolist()))
            total += len(chosen)
        assert hits / total > 0.9

    def test_nonlinear_dimension_has_no_linear_signal(self, segment_view, truth):
        n = len(segment_view["keys"])
        direction = np.array(truth["frame_encoder"]["nonlinear_directions"])[0]
        projection = segment_view["mean"] @ direction
        labels, quality = segment_view["labels"][:, 4], segment_view["quality"][:, 4]
        assert abs(_corr(projection, labels)) < 4 / np.sqrt(n)
        assert abs(_corr(segment_view["std"] @ np.abs(direction), labels)) < 4 / np.sqrt(n)
        assert _corr(np.abs(projection), quality) > 0.9
        assert _corr(np.abs(projection), labels) > 0.5

    def test_same_seed_same_cache_other_seed_other_labels(self, cache_dir, tmp_path):
        again = generate_synthetic_cache(tmp_path / "again", SyntheticSpec(), seed=0)
        for name in ("labels.json", "folds.json", "total_2rounds.csv", "all_moments.jsonl", "recordings.jsonl",
                     "ground_truth.json"):
            assert (again / name).read_bytes() == (cache_dir / name).read_bytes(), name
        first = torch.load(cache_dir / "muq_embeddings.pt", weights_only=True)
        second = torch.load(again / "muq_embeddings.pt", weights_only=True)
        assert list(first) == list(second) and all(torch.equal(first[key], second[key]) for key in first)
        other = generate_synthetic_cache(tmp_path / "other", SyntheticSpec(), seed=1)
        assert (other / "labels.json").read_bytes() != (cache_dir / "labels.json").read_bytes()

    def test_reuse_is_a_no_op_and_other_seeds_replace(self, tmp_path):
        spec = SyntheticSpec(n_segments=96, dim=16, n_videos=1, n_competition_performers=3,
                             competition_rounds=(("final", 3),))
        target = generate_synthetic_cache(tmp_path / "cache", spec, seed=3)
        open_cache(target)  # builds store/ inside the cache, which reuse must tolerate
        stamps = {path.name: path.stat().st_mtime_ns for path in target.iterdir() if path.is_file()}
        assert generate_synthetic_cache(target, spec, seed=3) == target
        assert {path.name: path.stat().st_mtime_ns for path in target.iterdir() if path.is_file()} == stamps
        generate_synthetic_cache(target, spec, seed=4)
        assert json.loads((target / "ground_truth.json").read_text())["seed"] == 4
        assert not (target / "store").exists()
        assert [path.name for path in tmp_path.iterdir()] == ["cache"]  # no partial or retired directories left

    def test_refuses_a_foreign_directory(self, tmp_path):
        (tmp_path / "mine").mkdir()
        (tmp_path / "mine" / "notes.txt").write_text("keep me")
        with pytest.raises(FileExistsError,
                           match=r"mine is a non-empty directory without a synthetic ground_truth.json"):
            generate_synthetic_cache(tmp_path / "mine")

    @pytest.mark.parametrize(("seed", "error", "match"), [
        (-1, ValueError, r"seed=-1, expected an integer >= 0"),
        (1.5, TypeError, r"seed=1.5 is float, expected an int"),
    ])
    def test_bad_seed(self, tmp_path, seed, error, match):
        with pytest.raises(error, match=match):
            generate_synthetic_cache(tmp_path / "cache", seed=seed)


class TestDownstream:
    def test_masterclass_segments_match_the_loader(self, cache_dir, truth):
        segments = segment_moments(load_moments(cache_dir / "all_moments.jsonl"))
        planted = {entry["segment_id"]: entry for entry in truth["masterclass"]["segments"]}
        assert set(segments.keys) == set(planted)
        kinds = {key: "stop" if label == 1 else "continue"
                 for key, label in zip(segments.keys, segments.labels, strict=True)}
        assert kinds == {key: entry["kind"] for key, entry in planted.items()}
        embeddings = torch.load(cache_dir / "masterclass_embeddings.pt", weights_only=True)
        assert set(embeddings) == set(planted)
        assert all(embeddings[key].shape == (planted[key]["n_frames"], 32) for key in planted)
        assert all(embeddings[key].dtype == torch.float16 for key in planted)

    def test_stop_segments_have_lower_planted_quality(self, cache_dir, truth):
        encoder = truth["frame_encoder"]
        embeddings = torch.load(cache_dir / "masterclass_embeddings.pt", weights_only=True)
        segments = truth["masterclass"]["segments"]
        is_stop = np.array([entry["kind"] == "stop" for entry in segments])
        quality = np.array([entry["quality"] for entry in segments])
        for name in truth["masterclass"]["stop_dimensions"]:
            dimension = DIMENSIONS.index(name)
            assert quality[is_stop, dimension].mean() < quality[~is_stop, dimension].mean()
            direction = np.array(encoder["linear_directions"])[encoder["linear_dimensions"].index(dimension)]
            feature = np.array([embeddings[entry["segment_id"]].double().mean(0).numpy() @ direction
                                for entry in segments])
            assert feature[is_stop].mean() < feature[~is_stop].mean()

    def test_competition_placement_tracks_planted_quality(self, cache_dir, truth):
        table = load_recordings(cache_dir / "recordings.jsonl")
        assert table.n_duplicates == SyntheticSpec().n_duplicate_recording_lines
        for round_name, size in SyntheticSpec().competition_rounds:
            placements = table.placements[np.array(table.rounds) == round_name]
            assert sorted(placements.tolist()) == list(range(1, size + 1))
        recordings = truth["competition"]["recordings"]
        placements = table.placements_for([entry["recording_id"] for entry in recordings])
        assert placements.tolist() == [entry["placement"] for entry in recordings]
        quality = np.array([entry["quality"] for entry in recordings])
        for name in truth["competition"]["placement_dimensions"]:
            assert _corr(placements, quality[:, DIMENSIONS.index(name)]) < -0.5
        embeddings = torch.load(cache_dir / "competition_embeddings.pt", weights_only=True)
        assert set(embeddings) == set(table.recording_ids)


class TestRenderFrames:
    def test_shape_dtype_and_linear_shift(self):
        spec = SyntheticSpec(dim=16)
        rng = np.random.default_rng(0)
        encoder = make_frame_encoder(spec, rng.uniform(0.3, 0.7, size=(200, N_DIMENSIONS)), rng)
        low, high = encoder.quality_mean.copy(), encoder.quality_mean.copy()
        low[8], high[8] = low[8] - 2 * encoder.quality_std[8], high[8] + 2 * encoder.quality_std[8]
        frames_low = render_frames(low, 400, encoder, np.random.default_rng(1))
        frames_high = render_frames(high, 400, encoder, np.random.default_rng(1))
        assert frames_low.shape == (400, 16) and frames_low.dtype == np.float32
        shift = (frames_high - frames_low).mean(axis=0) @ encoder.linear_directions[0]
        np.testing.assert_allclose(shift, 4 * spec.linear_strengths[0], rtol=1e-5)

    @pytest.mark.parametrize(("quality", "n_frames", "match"), [
        (np.zeros(18), 10, r"quality has shape \(18,\), expected \(19,\)"),
        (np.zeros(19), 0, r"n_frames=0, expected an integer >= 1"),
    ])
    def test_bad_input(self, quality, n_frames, match):
        rng = np.random.default_rng(0)
        encoder = make_frame_encoder(SyntheticSpec(dim=16), rng.uniform(size=(20, N_DIMENSIONS)), rng)
        with pytest.raises(ValueError, match=match):
            render_frames(quality, n_frames, encoder, rng)
