"""The data contract: every bad input is rejected with a message naming file, key and problem."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from datamodules.cache import open_cache
from datamodules.dimensions import DIMENSIONS, SHIFTED_DIMENSION_NAMES, canonical_names, dimension_index
from datamodules.embeddings import convert_embeddings
from datamodules.errors import DataContractError
from datamodules.inputs.folds import load_folds
from datamodules.inputs.labels import load_labels
from datamodules.keys import parse_key

KEYS = [f"Work_8bars_{player}_{segment}" for segment in (1, 2, 3) for player in ("1", "2", "Score")]


def _write(path: Path, payload: object) -> Path:
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    return path


def _labels(**overrides: object) -> dict:
    rng = np.random.default_rng(0)
    labels = {key: [*rng.uniform(0, 1, 19).tolist(), index] for index, key in enumerate(KEYS)}
    labels.update(overrides)
    return labels


class TestDimensions:
    def test_nineteen_names_in_percepiano_order(self) -> None:
        assert len(DIMENSIONS) == 19 and len(set(DIMENSIONS)) == 19
        assert DIMENSIONS[13] == "balance" and DIMENSIONS[9] == "sophistication"

    def test_shifted_alias_list_is_positional(self) -> None:
        assert SHIFTED_DIMENSION_NAMES[13] == "drama"
        assert SHIFTED_DIMENSION_NAMES[9:18] == DIMENSIONS[10:18] + ("sophistication",)
        assert canonical_names(SHIFTED_DIMENSION_NAMES) == DIMENSIONS
        assert canonical_names(list(DIMENSIONS)) == DIMENSIONS

    @pytest.mark.parametrize(
        ("names", "match"),
        [(["timing"] * 19, "unknown order"), ([*DIMENSIONS[:18], "loudness"], "unknown names \\['loudness'\\]")],
    )
    def test_unknown_lists_are_rejected(self, names: list[str], match: str) -> None:
        with pytest.raises(ValueError, match=match):
            canonical_names(names)

    def test_dimension_index(self) -> None:
        assert dimension_index("interpretation") == 18
        with pytest.raises(ValueError, match="unknown dimension name 'drama2'"):
            dimension_index("drama2")


class TestKeyGrammar:
    def test_player_is_second_to_last(self) -> None:
        key = parse_key("Schubert_D935_no.3_4bars_Score2_17")
        assert (key.work, key.n_bars, key.player, key.segment) == ("Schubert_D935_no.3", 4, "Score2", "17")
        assert key.excerpt == "Schubert_D935_no.3_4bars_17" and key.is_deadpan

    def test_bad_key(self) -> None:
        with pytest.raises(ValueError, match="does not follow the grammar"):
            parse_key("no_bars_here")


class TestLabels:
    def test_valid_file(self, tmp_path: Path) -> None:
        table = load_labels(_write(tmp_path / "labels.json", _labels()))
        assert table.values.shape == (9, 19) and table.performer_index.tolist() == list(range(9))

    @pytest.mark.parametrize(
        ("payload", "match"),
        [
            ("{not json", "unreadable JSON at line 1"),
            ([1, 2], "expected a JSON object"),
            ({}, "no labelled segments"),
            (_labels(**{KEYS[0]: "x"}), f"key '{KEYS[0]}': expected a list of 19 floats, got str"),
            (_labels(**{KEYS[1]: [0.5] * 18}), f"key '{KEYS[1]}': has 18 values, expected 19"),
            (_labels(**{KEYS[1]: [0.5] * 21}), "has 21 values, expected at most 20"),
            (_labels(**{KEYS[2]: [0.5] * 18 + ["a"]}), "value 18 is 'a', expected a number"),
            (_labels(**{KEYS[2]: [0.5] * 18 + [True]}), "value 18 is True, expected a number"),
            (_labels(**{KEYS[3]: [float("nan")] + [0.5] * 18}), "value 0 is nan, expected a finite number"),
            (_labels(**{KEYS[3]: [float("inf")] + [0.5] * 18}), "value 0 is inf"),
            (_labels(**{KEYS[4]: [1.2] + [0.5] * 18}), "value 0 is 1.2, outside \\[0, 1\\]"),
            (_labels(**{KEYS[4]: [-0.1] + [0.5] * 18}), "value 0 is -0.1, outside"),
            (_labels(**{KEYS[5]: [0.5] * 19 + [1.5]}), "performer index is 1.5, expected an integer"),
        ],
    )
    def test_bad_labels_are_rejected(self, tmp_path: Path, payload: object, match: str) -> None:
        path = tmp_path / "labels.json"
        path.write_text(payload if isinstance(payload, str) else json.dumps(payload, allow_nan=True))
        with pytest.raises(DataContractError, match=match) as error:
            load_labels(path)
        assert str(path) in str(error.value)

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(FileNotFoundError, match="labels.json: file not found"):
            load_labels(tmp_path / "labels.json")


class TestFolds:
    @pytest.mark.parametrize(
        ("folds", "match"),
        [
            ({"train": []}, "expected a JSON list of folds"),
            ([], "no folds"),
            ([[1]], "fold 0 is list, expected an object"),
            ([{"train": KEYS[:3]}], "fold 0 'val' must be a list of key strings"),
            ([{"train": KEYS[:3], "val": [1]}], "fold 0 'val' must be a list of key strings"),
            ([{"train": KEYS[:3], "val": []}], "fold 0 has an empty 'val' part"),
            ([{"train": [], "val": KEYS[:3]}], "fold 0 has an empty 'train' part"),
            ([{"train": KEYS[:3], "val": KEYS[2:4]}], f"key '{KEYS[2]}': is in both train and val of fold 0"),
            ([{"train": KEYS[:3], "val": KEYS[3:6]}, {"train": KEYS[:3], "val": KEYS[5:7]}],
             f"key '{KEYS[5]}': in the val sets of folds 0 and 1"),
            ([{"train": KEYS[:3], "val": ["Other_8bars_1_1"]}], "key 'Other_8bars_1_1': in fold 0 'val' but missing"),
            ([{"train": [KEYS[0], KEYS[0]], "val": KEYS[3:4]}], "fold 0 'train' lists keys more than once"),
        ],
    )
    def test_bad_folds_are_rejected(self, tmp_path: Path, folds: object, match: str) -> None:
        path = _write(tmp_path / "folds.json", folds)
        with pytest.raises(DataContractError, match=match):
            load_folds(path, KEYS)


def _cache(tmp_path: Path, embeddings: dict) -> Path:
    _write(tmp_path / "labels.json", _labels())
    folds = [{"train": KEYS[3:6], "val": KEYS[:3]}, {"train": KEYS[:3], "val": KEYS[3:6]}]
    _write(tmp_path / "folds.json", folds)
    torch.save(embeddings, tmp_path / "muq_embeddings.pt")
    return tmp_path


class TestEmbeddings:
    @pytest.mark.parametrize(
        ("embeddings", "match"),
        [
            ({}, "no embeddings"),
            ({KEYS[0]: torch.zeros(0, 4)}, f"key '{KEYS[0]}': has T = 0 frames"),
            ({KEYS[0]: torch.zeros(3, 4), KEYS[1]: torch.zeros(3, 5)}, f"key '{KEYS[1]}': has D = 5 but earlier"),
            ({KEYS[0]: torch.tensor([[0.0, float("nan")]])}, "has non-finite values \\(first at frame 0\\)"),
            ({KEYS[0]: torch.tensor([[0.0], [float("inf")]])}, "has non-finite values \\(first at frame 1\\)"),
            ({KEYS[0]: torch.zeros(3, 4, dtype=torch.int64)}, "dtype torch.int64, expected float16 or float32"),
            ({KEYS[0]: torch.zeros(3)}, "expected a \\[T, D\\] tensor, got shape \\(3,\\)"),
            ({KEYS[0]: [1.0, 2.0]}, "value is list, expected a Tensor"),
            ({KEYS[0]: torch.full((2, 2), 1e6)}, "beyond float16 range"),
        ],
    )
    def test_bad_embeddings_are_rejected(self, tmp_path: Path, embeddings: dict, match: str) -> None:
        cache = _cache(tmp_path, embeddings)
        with pytest.raises(DataContractError, match=match):
            open_cache(cache)
        assert not (tmp_path / "store").exists(), "a failed conversion must leave no store behind"

    def test_unreadable_torch_file(self, tmp_path: Path) -> None:
        (tmp_path / "muq_embeddings.pt").write_bytes(b"\x00garbage")
        with pytest.raises(DataContractError, match="muq_embeddings.pt: not a readable torch file"):
            convert_embeddings(tmp_path / "muq_embeddings.pt", tmp_path / "store")

    def test_not_a_dict(self, tmp_path: Path) -> None:
        torch.save([torch.zeros(2, 2)], tmp_path / "muq_embeddings.pt")
        with pytest.raises(DataContractError, match="expected a dict"):
            convert_embeddings(tmp_path / "muq_embeddings.pt", tmp_path / "store")


class TestAlignment:
    def test_exclusions_are_counted_and_named(self, tmp_path: Path) -> None:
        embeddings = {key: torch.randn(4, 3) for key in KEYS[1:]}
        embeddings["Extra_8bars_1_1"] = torch.randn(2, 3)
        cache = open_cache(_cache(tmp_path, embeddings))
        report = cache.alignment.to_dict()
        assert report["labelled_without_embeddings"] == [KEYS[0]] and report["n_labelled_without_embeddings"] == 1
        assert report["embedded_without_labels"] == ["Extra_8bars_1_1"]
        assert report["n_fold_keys_without_embeddings"] == [1, 1]
        assert report["labelled_in_no_fold"] == sorted(KEYS[6:])
        assert cache.n_segments == 8 and KEYS[0] not in cache.keys and cache.labels.shape == (8, 19)
        assert len(cache.folds[0][1]) == 2 and len(cache.folds[1][1]) == 3
        assert any("1 labelled keys have no embeddings" in line for line in cache.alignment.summary_lines())

    def test_label_only_cache_keeps_every_key(self, tmp_path: Path) -> None:
        cache = open_cache(_cache(tmp_path, {KEYS[0]: torch.zeros(1, 1)}), embeddings=False)
        assert cache.n_segments == 9 and cache.store is None
        with pytest.raises(ValueError, match="has no embeddings"):
            cache.stats_features()
