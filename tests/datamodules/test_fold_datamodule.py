"""FoldDataModule: views, train-only standardisation, determinism, inner split."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from datamodules.batching import EpochOrderSampler, LengthBucketBatchSampler
from datamodules.cache import PercepianoCache, open_cache
from datamodules.fold_datamodule import FoldDataModule, inner_split, standardization_counts
from probes.ridge import RidgeProber


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> PercepianoCache:
    root = tmp_path_factory.mktemp("cache")
    rng = np.random.default_rng(1)
    keys = [f"W_8bars_{player}_{segment}" for segment in range(12) for player in range(4)]
    (root / "labels.json").write_text(json.dumps({key: rng.uniform(0, 1, 19).tolist() for key in keys}))
    folds = [{"train": [k for k in keys if int(k.split("_")[-1]) % 3 != f],
              "val": [k for k in keys if int(k.split("_")[-1]) % 3 == f]}
             for f in range(3)]
    (root / "folds.json").write_text(json.dumps(folds))
    frames = {key: torch.randn(int(rng.integers(2, 30)), 5) * (1 + index % 3) + index % 7
              for index, key in enumerate(keys)}
    torch.save(frames, root / "muq_embeddings.pt")
    return open_cache(root)


@pytest.fixture(scope="module")
def constant_in_training_cache(tmp_path_factory: pytest.TempPathFactory) -> PercepianoCache:
    """Dimension 0 of the frames is 0.25 in every training segment of fold 0 and varies in its val segments."""
    root = tmp_path_factory.mktemp("constant")
    rng = np.random.default_rng(2)
    keys = [f"W_8bars_{player}_{segment}" for segment in range(6) for player in range(3)]
    (root / "labels.json").write_text(json.dumps({key: rng.uniform(0, 1, 19).tolist() for key in keys}))
    val = [key for key in keys if key.endswith(("_0", "_1"))]
    (root / "folds.json").write_text(json.dumps([{"train": [k for k in keys if k not in val], "val": val}]))
    frames, generator = {}, torch.Generator().manual_seed(2)  # not the global RNG: earlier tests move it
    for key in keys:
        sequence = torch.randn(int(rng.integers(3, 12)), 3, generator=generator)
        sequence[:, 0] = torch.rand(len(sequence), generator=generator) * 4 if key in val else 0.25
        frames[key] = sequence
    torch.save(frames, root / "muq_embeddings.pt")
    return open_cache(root)


N_RARE = 3


@pytest.fixture(scope="module")
def rare_column_cache(tmp_path_factory: pytest.TempPathFactory) -> PercepianoCache:
    """Frame columns 0..2 are nearly constant in training (deviation 1e-3, as a key two segments play) and active
    (values around 1) in the val segments; columns 3..5 are uniform on [0, 1] everywhere; labels follow column 3."""
    root = tmp_path_factory.mktemp("rare")
    rng = np.random.default_rng(3)
    keys = [f"W_8bars_{player}_{segment}" for segment in range(10) for player in range(6)]
    val = [key for key in keys if key.endswith(("_0", "_1", "_2"))]
    frames, labels = {}, {}
    for key in keys:
        sequence = rng.uniform(0, 1, size=(int(rng.integers(5, 20)), 6))
        sequence[:, :N_RARE] = rng.normal(1.0, 0.5, (len(sequence), N_RARE)) if key in val else \
            1e-3 * rng.normal(size=(len(sequence), N_RARE))
        frames[key] = torch.from_numpy(sequence).float()
        labels[key] = np.clip(0.5 + 0.3 * (sequence[:, 3].mean() - 0.5) + rng.normal(0, 0.02, 19), 0, 1).tolist()
    (root / "labels.json").write_text(json.dumps(labels))
    (root / "folds.json").write_text(json.dumps([{"train": [k for k in keys if k not in val], "val": val}]))
    torch.save(frames, root / "muq_embeddings.pt")
    return open_cache(root)


@pytest.fixture(scope="module")
def uniform_cache(tmp_path_factory: pytest.TempPathFactory) -> PercepianoCache:
    """Frames uniform on [0, 1] (within 1.8 deviations of the mean), 10-20 frames: pooled stats within 4."""
    root = tmp_path_factory.mktemp("uniform")
    rng = np.random.default_rng(4)
    keys = [f"W_8bars_{player}_{segment}" for segment in range(8) for player in range(5)]
    (root / "labels.json").write_text(json.dumps({key: rng.uniform(0, 1, 19).tolist() for key in keys}))
    val = [key for key in keys if key.endswith(("_0", "_1"))]
    (root / "folds.json").write_text(json.dumps([{"train": [k for k in keys if k not in val], "val": val}]))
    torch.save({key: torch.rand(int(rng.integers(10, 21)), 4) for key in keys}, root / "muq_embeddings.pt")
    return open_cache(root)


def test_standardization_counts_per_view_and_fold(constant_in_training_cache, cache, rare_column_cache) -> None:
    counts = standardization_counts(constant_in_training_cache)
    assert counts["stats"]["constant"] == [2] and counts["frames"]["constant"] == [1]
    assert standardization_counts(cache, clip=None) == {"stats": {"constant": [0, 0, 0], "clipped": [0, 0, 0]},
                                                        "frames": {"constant": [0, 0, 0], "clipped": [0, 0, 0]}}
    rare = standardization_counts(rare_column_cache)
    assert rare["stats"]["clipped"] == [2 * N_RARE] and rare["frames"]["clipped"] == [N_RARE]


class TestClipping:
    """Clipping bounds what nearly constant training columns do to validation rows, and leaves the rest alone."""

    @pytest.mark.parametrize("view", ["stats", "frames"])
    def test_clipped_count_equals_brute_force_over_served_values(self, rare_column_cache, view) -> None:
        module = FoldDataModule(rare_column_cache, fold=0, view=view, clip=5.0)
        plain = FoldDataModule(rare_column_cache, fold=0, view=view, clip=None)
        plain.setup()
        every = np.concatenate([plain.fit_rows_, plain.val_rows_])
        if view == "stats":
            values = plain.features(every)  # (n, 2D), unclipped
        else:
            values = np.concatenate([item[0].numpy() for item in plain.dataset(every)])  # (n_frames, D)
        assert module.n_clipped_features() == int((np.abs(values) > 5.0).any(axis=0).sum())

    @pytest.mark.parametrize("view", ["stats", "frames"])
    def test_served_values_are_bounded(self, rare_column_cache, view) -> None:
        module = FoldDataModule(rare_column_cache, fold=0, view=view, clip=2.5)
        module.setup()
        if view == "stats":
            served = module.features(module.val_rows_)
        else:
            served = np.concatenate([batch.frames.numpy() for batch in module.predict_dataloader()])
        assert np.abs(served).max() <= 2.5 and np.abs(served).max() == pytest.approx(2.5)

    def test_rare_columns_move_a_ridge_prediction_at_most_by_the_bound(self, rare_column_cache) -> None:
        """Against the same rows with the rare columns at their training mean: |change| <= clip * sum |coef| of the
        rare columns (their standardised value moves from 0 to at most +-clip); unclipped it is unbounded."""
        moves = {}
        for clip in (5.0, None):
            module = FoldDataModule(rare_column_cache, fold=0, view="stats", clip=clip)
            module.setup()
            ridge = RidgeProber(alpha=1.0).fit_arrays(module.features(module.fit_rows_),
                                                      module.targets(module.fit_rows_))
            raw = rare_column_cache.stats_features()[module.val_rows_].astype(np.float64)
            rare = np.r_[0:N_RARE, 6 : 6 + N_RARE]  # means and stds of the rare columns
            neutral = raw.copy()
            neutral[:, rare] = module.mean_[rare]
            move = np.abs(ridge.predict_arrays(module.transform(raw)) - ridge.predict_arrays(module.transform(neutral)))
            moves[clip] = move.max()
            if clip is not None:
                assert np.all(move <= clip * np.abs(ridge.coef_[:, rare]).sum(axis=1) + 1e-9)
        assert moves[None] > 20 * moves[5.0]  # validation values near 1000 training deviations, unclipped

    @pytest.mark.parametrize("view", ["stats", "frames"])
    def test_well_behaved_columns_are_unchanged(self, uniform_cache, view) -> None:
        """Columns within 5 training deviations everywhere: identical features with and without the rule."""
        clipped, plain = (FoldDataModule(uniform_cache, fold=0, view=view, clip=clip) for clip in (5.0, None))
        assert clipped.n_clipped_features() == 0
        rows = np.concatenate([clipped.fit_rows_, clipped.val_rows_])
        if view == "stats":
            np.testing.assert_array_equal(clipped.features(rows), plain.features(rows))
        else:
            for ours, theirs in zip(clipped.dataset(rows), plain.dataset(rows), strict=True):
                torch.testing.assert_close(ours[0], theirs[0], rtol=0, atol=0)

    @pytest.mark.parametrize("clip", [0, -1.0, float("nan"), float("inf"), "5"])
    def test_bad_clip(self, cache, clip) -> None:
        with pytest.raises(ValueError, match="clip must be a positive number"):
            FoldDataModule(cache, fold=0, clip=clip)


class TestFoldDataModule:
    @pytest.mark.parametrize(("view", "n_constant"), [("stats", 2), ("frames", 1)])
    def test_constant_training_features_keep_scale_one(self, constant_in_training_cache, view, n_constant) -> None:
        """As StandardScaler: centred on the training constant, never divided by a vanishing deviation."""
        cache = constant_in_training_cache
        module = FoldDataModule(cache, fold=0, view=view)
        module.setup()
        assert module.n_constant_features_ == n_constant
        np.testing.assert_allclose(module.mean_[0], 0.25, rtol=1e-6)
        assert module.scale_[0] == 1.0 and np.all(module.scale_[1:3] > 0.3)
        if view == "stats":  # mean and std of dimension 0: columns 0 and 3
            assert module.scale_[3] == 1.0
            raw = cache.stats_features()[module.val_rows_]
            np.testing.assert_allclose(module.features(module.val_rows_)[:, 0], raw[:, 0] - 0.25, atol=1e-6)
        else:
            batch = next(iter(module.predict_dataloader()))
            real = batch.frames  # (n_frames, 3)
            assert float(real[:, 0].abs().max()) <= 4.0

    def test_stats_standardisation_uses_training_rows_only(self, cache: PercepianoCache) -> None:
        module = FoldDataModule(cache, fold=1, view="stats")
        module.setup()
        train = cache.stats_features()[module.fit_rows_].astype(np.float64)
        np.testing.assert_allclose(module.mean_, train.mean(0))
        np.testing.assert_allclose(module.features(module.fit_rows_).mean(0), 0, atol=1e-5)
        assert abs(module.features(module.val_rows_).mean()) > 1e-4

    def test_frames_standardisation_equals_pooled_frames(self, cache: PercepianoCache) -> None:
        module = FoldDataModule(cache, fold=0, view="frames")
        module.setup()
        frames = np.concatenate([cache.store.frames(cache.store_rows[row])
                                 for row in module.fit_rows_]).astype(np.float64)
        np.testing.assert_allclose(module.mean_, frames.mean(0), atol=1e-3)
        np.testing.assert_allclose(module.scale_, frames.std(0), rtol=1e-3)

    def test_packed_batches_hold_each_segment_in_turn(self, cache: PercepianoCache) -> None:
        module = FoldDataModule(cache, fold=0, view="frames", batch_size=5, standardize=False)
        for batch in module.train_dataloader():
            store_rows = cache.store_rows[batch.rows.numpy()]
            assert batch.lengths.tolist() == cache.store.lengths[store_rows].tolist()
            for segment, store_row in zip(batch.frames.split(batch.lengths.tolist()), store_rows, strict=True):
                np.testing.assert_array_equal(segment.numpy(), cache.store.frames(store_row).astype(np.float32))
            np.testing.assert_allclose(batch.targets.numpy(), cache.labels[batch.rows.numpy()], atol=1e-6)

    @pytest.mark.parametrize("standardize", [True, False])
    def test_resident_frames_serve_the_streamed_batches(self, cache: PercepianoCache, standardize: bool) -> None:
        """Under the budget the frames are read once and kept; the batches equal those read from the store."""
        def batches(resident_bytes: int) -> tuple[list, bool]:
            module = FoldDataModule(cache, fold=1, view="frames", batch_size=6, seed=2, standardize=standardize,
                                    resident_bytes=resident_bytes)
            loader = module.train_dataloader()
            return [(batch.frames, batch.rows) for batch in loader], loader.dataset.is_resident

        kept, kept_resident = batches(2**30)
        streamed, streamed_resident = batches(0)
        assert kept_resident and not streamed_resident
        assert len(kept) == len(streamed)
        for (kept_frames, kept_rows), (frames, rows) in zip(kept, streamed, strict=True):
            assert torch.equal(kept_rows, rows) and torch.equal(kept_frames, frames)

    def test_resident_budget_counts_float32_frames(self, cache: PercepianoCache) -> None:
        module = FoldDataModule(cache, fold=0, view="frames")
        module.setup()
        n_bytes = int(cache.store.lengths[cache.store_rows[module.fit_rows_]].sum()) * cache.store.dim * 4
        for budget, resident in ((n_bytes, True), (n_bytes - 1, False)):
            module.resident_bytes = budget
            assert module.dataset(module.fit_rows_).is_resident is resident

    @pytest.mark.parametrize("view", ["stats", "frames"])
    def test_deterministic_given_seed(self, cache: PercepianoCache, view: str) -> None:
        def rows_of(seed: int) -> list[list[int]]:
            module = FoldDataModule(cache, fold=2, view=view, batch_size=7, seed=seed)
            return [(batch[2] if view == "stats" else batch.rows).tolist() for batch in module.train_dataloader()]

        assert rows_of(3) == rows_of(3)
        assert rows_of(3) != rows_of(4)

    def test_predict_covers_every_val_row_once(self, cache: PercepianoCache) -> None:
        module = FoldDataModule(cache, fold=2, view="frames", batch_size=4)
        module.setup()
        rows = torch.cat([batch.rows for batch in module.predict_dataloader()]).numpy()
        assert sorted(rows.tolist()) == sorted(module.val_rows_.tolist())

    def test_inner_split_keeps_excerpts_whole_and_never_touches_val(self, cache: PercepianoCache) -> None:
        module = FoldDataModule(cache, fold=0, inner_val_fraction=0.25, seed=5)
        module.setup()
        excerpts = np.asarray(cache.excerpts)
        assert not set(excerpts[module.fit_rows_]) & set(excerpts[module.inner_val_rows_])
        assert not set(module.inner_val_rows_) & set(module.val_rows_)
        assert set(module.fit_rows_) | set(module.inner_val_rows_) == set(cache.folds[0][0])

    @pytest.mark.parametrize(("kwargs", "match"), [
        ({"view": "audio"}, "view must be one of"), ({"fold": 3}, "fold must be in \\[0, 2\\], got 3"),
        ({"batch_size": 0}, "batch_size must be >= 1"),
        ({"resident_bytes": -1}, "resident_bytes must be a non-negative integer"),
        ({"resident_bytes": 1.5}, "resident_bytes must be a non-negative integer"),
    ])
    def test_bad_settings(self, cache: PercepianoCache, kwargs: dict, match: str) -> None:
        with pytest.raises(ValueError, match=match):
            FoldDataModule(cache, **{"fold": 0, **kwargs})

    def test_inner_split_needs_two_groups(self) -> None:
        with pytest.raises(ValueError, match="at least 2 groups"):
            inner_split(np.arange(3), np.array(["a", "a", "a"]), 0.5, 0)


class TestLengthBucketBatchSampler:
    def test_batches_partition_items_and_group_similar_lengths(self) -> None:
        lengths = np.random.default_rng(0).integers(1, 500, 200)
        sampler = LengthBucketBatchSampler(lengths, batch_size=8, seed=0)
        batches = list(sampler)
        assert sorted(i for batch in batches for i in batch) == list(range(200))
        spread = np.mean([np.ptp(lengths[batch]) for batch in batches])
        assert spread < 0.5 * np.ptp(lengths)


class TestEpochOrderSampler:
    def test_epochs_cut_at_their_length_follow_a_plain_shuffled_loop(self) -> None:
        """Lightning stops an epoch after len(loader) batches; the orders must still be the plain loop's."""
        data = TensorDataset(torch.arange(23))
        plain = DataLoader(data, batch_size=5, shuffle=True, generator=torch.Generator().manual_seed(4))
        expected = [torch.cat([batch for (batch,) in plain]).tolist() for _ in range(3)]
        generator = torch.Generator().manual_seed(4)
        cut = DataLoader(data, batch_size=5, sampler=EpochOrderSampler(23, generator), generator=generator)
        observed = []
        for _ in range(3):
            iterator = iter(cut)
            observed.append(torch.cat([next(iterator)[0] for _ in range(len(cut))]).tolist())
        assert observed == expected
        assert sorted(observed[1]) == list(range(23)) and observed[1] != observed[2]
