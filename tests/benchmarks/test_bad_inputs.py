"""Bad inputs through the command line: ``python -m benchmarks.run`` (``benchmarks.extract``: its own file).

Every broken input either stops the run with exit code 2 and one ``error:`` line naming the file, the key or line
and the problem (no traceback), or is excluded and counted in ``audit.json`` / ``extraction_report.json``.
The loaders' own unit tests live in ``tests/datamodules``; here each case goes through ``main``.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks import run
from datamodules.dimensions import DIMENSIONS
from datamodules.synthetic import SyntheticSpec, generate_synthetic_cache

SMALL_SPEC = SyntheticSpec(
    n_segments=100, n_works=2, n_excerpts_per_work=8, n_players=6, dim=16, frames_per_segment=(8, 16),
    n_rater_pool=20, raters_per_key=(3, 6), n_videos=2, moments_per_video=(4, 6), recording_frames=(10, 20),
    n_competition_performers=4, competition_rounds=(("stage2", 4), ("final", 3)),
)
FAST = ["--probes", "ridge_tuned", "--permutations", "5", "--bootstrap", "20", "--parallel-simulations", "20",
        "--stability-resamples", "5", "--accelerator", "cpu"]
Mutation = Callable[[Path], "list[str] | None"]


@pytest.fixture(scope="module")
def base_cache(tmp_path_factory) -> Path:
    return generate_synthetic_cache(tmp_path_factory.mktemp("base") / "cache", SMALL_SPEC, seed=0)


@pytest.fixture
def cache(base_cache: Path, tmp_path: Path) -> Path:
    """A private copy of the small synthetic cache, to break."""
    return Path(shutil.copytree(base_cache, tmp_path / "cache", ignore=shutil.ignore_patterns("store")))


def run_cli(cache: Path, sections: str, extra: list[str], capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = run.main(["--cache", str(cache), "--out", str(cache.parent / "out"), "--sections", sections, *FAST, *extra])
    return code, capsys.readouterr().err


def assert_clear_error(code: int, error: str, file: str, *parts: str) -> None:
    """Exit 2 and one ``error: <path naming file>: ...`` line holding every part (regular expressions)."""
    assert code == 2, error[-2000:]
    assert "Traceback" not in error
    lines = [line for line in error.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, error[-2000:]
    assert re.match(rf"error: (--[\w-]+ )?\S*{re.escape(file)}: ", lines[0]), lines[0]
    for part in parts:
        assert re.search(part, lines[0]), f"{part!r} not in {lines[0]!r}"


# --- helpers that break one file of the cache --------------------------------------------------------------------

def first_key(cache: Path) -> str:
    return next(iter(json.loads((cache / "labels.json").read_text())))


def edit_json(name: str, change: Callable[[object, Path], object]) -> Mutation:
    def mutate(cache: Path) -> None:
        path = cache / name
        path.write_text(json.dumps(change(json.loads(path.read_text()), cache)))
    return mutate


def write_text(name: str, text: Callable[[str], str]) -> Mutation:
    def mutate(cache: Path) -> None:
        (cache / name).write_text(text((cache / name).read_text()))
    return mutate


def write_bytes(name: str, data: Callable[[bytes], bytes]) -> Mutation:
    def mutate(cache: Path) -> None:
        (cache / name).write_bytes(data((cache / name).read_bytes()))
    return mutate


def set_label(value: object, position: int = 0) -> Mutation:
    def change(labels: dict, cache: Path) -> dict:
        key = next(iter(labels))
        labels[key] = [*labels[key][:position], value, *labels[key][position + 1:]]
        return labels
    return edit_json("labels.json", change)


def edit_embeddings(change: Callable[[dict, str], object]) -> Mutation:
    def mutate(cache: Path) -> None:
        embeddings = torch.load(cache / "muq_embeddings.pt")
        torch.save(change(embeddings, first_key(cache)), cache / "muq_embeddings.pt")
    return mutate


def replace_first(name: str, old: str, new: str) -> Mutation:
    return write_text(name, lambda text: text.replace(old, new, 1))


def edit_first_record(name: str, **fields: object) -> Mutation:
    def text(content: str) -> str:
        lines = content.splitlines()
        return "\n".join([json.dumps({**json.loads(lines[0]), **fields}), *lines[1:]]) + "\n"
    return write_text(name, text)


def duplicate_json_key(text: str) -> str:
    """Repeat the first key of the top-level object with other values (json would keep the last silently)."""
    key = next(iter(json.loads(text)))
    return "{" + json.dumps(key) + ": " + json.dumps([0.5] * 19) + ", " + text.lstrip()[1:]


def quality_file(payload: object) -> Mutation:
    def mutate(cache: Path) -> list[str]:
        path = cache / "quality.json"
        path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
        return ["--quality-predictions", str(path)]
    return mutate


NAMES = list(DIMENSIONS)
GOOD_ROW = [0.5] * 19

LABELS_CASES = {
    "truncated": (write_text("labels.json", lambda t: t[:200]), [r"unreadable JSON at line 1 column \d+"]),
    "empty_file": (write_text("labels.json", lambda t: ""), [r"unreadable JSON at line 1 column 1"]),
    "not_utf8": (write_bytes("labels.json", lambda b: b"\xff\xfe" + b), [r"not UTF-8 text"]),
    "top_level_list": (write_text("labels.json", lambda t: "[]"), [r"expected a JSON object .*got list"]),
    "empty_object": (write_text("labels.json", lambda t: "{}"), [r"no labelled segments"]),
    "string_value": (set_label("0.5", 3), [r"key '\S+': value 3 is '0\.5', expected a number"]),
    "nan_value": (set_label(float("nan")), [r"key '\S+': value 0 is nan, expected a finite number"]),
    "infinite_value": (set_label(float("inf")), [r"key '\S+': value 0 is inf, expected a finite number"]),
    "out_of_range": (set_label(1.5, 7), [r"value 7 is 1\.5, outside \[0, 1\]"]),
    "short_row": (edit_json("labels.json", lambda labels, c: {**labels, first_key(c): [0.5] * 18}),
                  [r"key '\S+': has 18 values, expected 19"]),
    "fractional_performer": (set_label(1.5, 19), [r"performer index is 1\.5, expected an integer"]),
    "duplicated_key": (write_text("labels.json", duplicate_json_key), [r"key '\S+': appears twice in one JSON object"]),
}
FOLDS_CASES = {
    "truncated": (write_text("folds.json", lambda t: t[:300]), [r"unreadable JSON at line 1 column \d+"]),
    "object_not_list": (write_text("folds.json", lambda t: "{}"), [r"expected a JSON list of folds, got dict"]),
    "empty_list": (write_text("folds.json", lambda t: "[]"), [r"no folds \(empty list\)"]),
    "missing_val": (edit_json("folds.json", lambda f, c: [{"train": f[0]["train"]}, *f[1:]]),
                    [r"fold 0 'val' must be a list of key strings, got None"]),
    "number_key": (edit_json("folds.json", lambda f, c: [{**f[0], "val": [*f[0]["val"], 7]}, *f[1:]]),
                   [r"fold 0 'val' must be a list of key strings"]),
    "key_in_train_and_val": (edit_json("folds.json", lambda f, c: [{**f[0], "val": [*f[0]["val"], f[0]["train"][0]]},
                                                                    *f[1:]]),
                             [r"key '\S+': is in both train and val of fold 0"]),
    "key_in_two_val_sets": (edit_json("folds.json", lambda f, c: [f[0], {
        "train": [key for key in f[1]["train"] if key != f[0]["val"][0]], "val": [*f[1]["val"], f[0]["val"][0]]},
        *f[2:]]), [r"key '\S+': in the val sets of folds 0 and 1"]),
    "repeated_key": (edit_json("folds.json", lambda f, c: [{**f[0], "val": [*f[0]["val"], f[0]["val"][0]]}, *f[1:]]),
                     [r"fold 0 'val' lists keys more than once"]),
    "unlabelled_key": (edit_json("folds.json", lambda f, c: [{**f[0], "train": [*f[0]["train"], "Nope_4bars_1_1"]},
                                                              *f[1:]]),
                       [r"key 'Nope_4bars_1_1': in fold 0 'train' but missing from the labels"]),
    "duplicated_json_key": (write_text("folds.json", lambda t: t.replace('{"train": ', '{"val": [], "train": ', 1)),
                            [r"key 'val': appears twice in one JSON object"]),
}
EMBEDDINGS_CASES = {
    "truncated": (write_bytes("muq_embeddings.pt", lambda b: b[: len(b) // 2]), [r"not a readable torch file"]),
    "empty_file": (write_bytes("muq_embeddings.pt", lambda b: b""), [r"not a readable torch file"]),
    "list_not_dict": (edit_embeddings(lambda e, k: list(e.values())), [r"expected a dict .*got list"]),
    "empty_dict": (edit_embeddings(lambda e, k: {}), [r"no embeddings \(empty dict\)"]),
    "nan_frames": (edit_embeddings(lambda e, k: {**e, k: torch.full((5, 16), float("nan"), dtype=torch.float16)}),
                   [r"key '\S+': has non-finite values \(first at frame 0\)"]),
    "infinite_frames": (edit_embeddings(lambda e, k: {**e, k: torch.full((5, 16), float("-inf"))}),
                        [r"key '\S+': has non-finite values"]),
    "beyond_float16": (edit_embeddings(lambda e, k: {**e, k: torch.full((5, 16), 1e6)}),
                       [r"key '\S+': has values beyond float16 range"]),
    "integer_dtype": (edit_embeddings(lambda e, k: {**e, k: torch.ones((5, 16), dtype=torch.int64)}),
                      [r"key '\S+': dtype torch\.int64, expected float16 or float32"]),
    "mixed_dim": (edit_embeddings(lambda e, k: {**e, k: torch.ones((5, 8))}), [r"has D = 8 but earlier .* D = 16"]),
    "zero_frames": (edit_embeddings(lambda e, k: {**e, k: torch.ones((0, 16))}), [r"key '\S+': has T = 0 frames"]),
    "one_dimensional": (edit_embeddings(lambda e, k: {**e, k: torch.ones(16)}), [r"expected a \[T, D\] tensor"]),
    "number_key": (edit_embeddings(lambda e, k: {**e, 7: torch.ones((5, 16))}), [r"key 7 is int, expected str"]),
    "numpy_values": (edit_embeddings(lambda e, k: {**e, k: np.ones((5, 16), np.float32)}),
                     [r"holds a numpy\S* object, refused by torch\.load\(weights_only=True\)"]),
}


class TestLabelsAndFolds:
    @pytest.mark.parametrize(("mutate", "parts"), LABELS_CASES.values(), ids=LABELS_CASES.keys())
    def test_bad_labels(self, cache, capsys, mutate, parts) -> None:
        mutate(cache)
        assert_clear_error(*run_cli(cache, "labels", [], capsys), "labels.json", *parts)

    @pytest.mark.parametrize(("mutate", "parts"), FOLDS_CASES.values(), ids=FOLDS_CASES.keys())
    def test_bad_folds(self, cache, capsys, mutate, parts) -> None:
        mutate(cache)
        assert_clear_error(*run_cli(cache, "labels", [], capsys), "folds.json", *parts)

    @pytest.mark.parametrize(("remove", "extra", "file"), [
        ("labels.json", [], "labels.json"),
        ("folds.json", [], "folds.json"),
        (None, ["--folds", "/nonexistent/folds.json"], "folds.json"),
    ])
    def test_missing_file(self, cache, capsys, remove, extra, file) -> None:
        if remove:
            (cache / remove).unlink()
        assert_clear_error(*run_cli(cache, "labels", extra, capsys), file, r"file not found")


class TestEmbeddings:
    @pytest.mark.parametrize(("mutate", "parts"), EMBEDDINGS_CASES.values(), ids=EMBEDDINGS_CASES.keys())
    def test_bad_embeddings(self, cache, capsys, mutate, parts) -> None:
        mutate(cache)
        assert_clear_error(*run_cli(cache, "embedding", [], capsys), "muq_embeddings.pt", *parts)

    def test_fold_without_embedded_val_keys(self, cache, capsys) -> None:
        val = set(json.loads((cache / "folds.json").read_text())[0]["val"])
        edit_embeddings(lambda e, k: {key: value for key, value in e.items() if key not in val})(cache)
        assert_clear_error(*run_cli(cache, "probing", [], capsys), "muq_embeddings.pt",
                           rf"none of the {len(val)} 'val' keys of fold 0 has embeddings")

    def test_no_embeddings_for_probing(self, cache, capsys) -> None:
        (cache / "muq_embeddings.pt").unlink()
        assert_clear_error(*run_cli(cache, "probing", [], capsys), "cache",
                           r"no embeddings \(muq_embeddings\.pt or store/\)", r"--sections labels")


RATINGS_CASES = {
    "truncated": (write_text("total_2rounds.csv", lambda t: t[: len(t) // 2]),
                  [r"line \d+: row has \d+ fields, expected 24 \(truncated or malformed\?\)"]),
    "nan_cell": (replace_first("total_2rounds.csv", ",5.0,", ",nan,"),
                 [r"line \d+, column 'Question_\w+': value 'nan', expected an integer rating 1-7"]),
    "infinite_cell": (replace_first("total_2rounds.csv", ",5.0,", ",inf,"), [r"line \d+, column .*value 'inf'"]),
    "text_cell": (replace_first("total_2rounds.csv", ",5.0,", ",good,"), [r"line \d+, column .*value 'good'"]),
    "fractional_cell": (replace_first("total_2rounds.csv", ",5.0,", ",4.5,"), [r"line \d+, column .*value '4\.5'"]),
    "empty_file": (write_text("total_2rounds.csv", lambda t: ""), [r"empty file, expected a header"]),
    "not_utf8": (write_bytes("total_2rounds.csv", lambda b: b"\xff\xfe" + b), [r"not UTF-8 text"]),
    "misnamed_rating_column": (replace_first("total_2rounds.csv", "Question_5_3_1", "Q5"),
                               [r"header line 1: rating column 10 of 19 .* is 'Q5'"]),
    "no_filename_column": (replace_first("total_2rounds.csv", "filename", "file"),
                           [r"header has no column 'filename'"]),
    "bad_filename": (replace_first("total_2rounds.csv", ".wav,", ".mp3,"),
                     [r"line 2, column 'filename': value '\S+\.mp3', expected '<key>\.wav'"]),
    "no_labelled_key": (write_text("total_2rounds.csv", lambda t: t.replace("Synth_", "Other_")),
                        [r"none of its \d+ rated keys .* is in \S+labels\.json"]),
}
MOMENTS_CASES = {
    "truncated": (write_text("all_moments.jsonl", lambda t: t[:-40]), [r"line \d+: unreadable JSON at column \d+"]),
    "empty_file": (write_text("all_moments.jsonl", lambda t: "\n"), [r"no moments"]),
    "list_line": (write_text("all_moments.jsonl", lambda t: "[1, 2]\n" + t),
                  [r"line 1: expected a JSON object, got list"]),
    "nan_stop": (edit_first_record("all_moments.jsonl", stop_timestamp=float("nan")),
                 [r"key 'stop_timestamp': line 1: is nan, expected a finite number of seconds"]),
    "text_time": (edit_first_record("all_moments.jsonl", feedback_end="12s"),
                  [r"key 'feedback_end': line 1: is '12s', expected a number of seconds or null"]),
    "negative_time": (edit_first_record("all_moments.jsonl", playing_before_start=-1),
                      [r"key 'playing_before_start': line 1: is -1"]),
    "end_before_start": (edit_first_record("all_moments.jsonl", feedback_start=50.0, feedback_end=40.0),
                         [r"key 'feedback_end': line 1: feedback_end=40\.0 is before feedback_start=50\.0"]),
    "missing_id": (edit_first_record("all_moments.jsonl", moment_id=None),
                   [r"key 'moment_id': line 1: is None, expected a non-empty string"]),
    "duplicated_moment": (write_text("all_moments.jsonl", lambda t: t + t.splitlines()[0] + "\n"),
                          [r"line \d+: moment_id already used on line 1"]),
}
COMPETITION_CASES = {
    "truncated": (write_text("recordings.jsonl", lambda t: t[:-40]), [r"line \d+: unreadable JSON at column \d+"]),
    "empty_file": (write_text("recordings.jsonl", lambda t: "\n\n"), [r"no recordings"]),
    "nan_placement": (edit_first_record("recordings.jsonl", placement=float("nan")),
                      [r"key 'placement': line 1: recording '\S+' has placement nan, expected a positive integer"]),
    "text_placement": (edit_first_record("recordings.jsonl", placement="1"),
                       [r"has placement '1', expected a positive"]),
    "zero_placement": (edit_first_record("recordings.jsonl", placement=0), [r"has placement 0, expected a positive"]),
    "fractional_placement": (edit_first_record("recordings.jsonl", placement=1.5), [r"has placement 1\.5"]),
    "missing_id": (edit_first_record("recordings.jsonl", recording_id=""), [r"key 'recording_id': line 1: is ''"]),
    "conflicting_duplicate": (write_text("recordings.jsonl", lambda t: t + json.dumps(
        {**json.loads(t.splitlines()[0]), "placement": 99}) + "\n"),
        [r"key '\S+': lines 1 and \d+ share recording_id but differ in \['placement'\]"]),
}
QUALITY_CASES = {
    "truncated": (quality_file(json.dumps({"dimensions": NAMES, "predictions": {"a": GOOD_ROW}})[:-5]),
                  [r"unreadable JSON at line 1"]),
    "top_level_list": (quality_file([1, 2]), [r"expected an object with 'dimensions' .* and 'predictions'"]),
    "unknown_dimension": (quality_file({"dimensions": [*NAMES[:18], "loudness"], "predictions": {"a": GOOD_ROW}}),
                          [r"'dimensions': unknown names \['loudness'\]"]),
    "dimensions_text": (quality_file({"dimensions": "timing", "predictions": {"a": GOOD_ROW}}),
                        [r"'dimensions' must be a list of 19 names, got str"]),
    "eighteen_dimensions": (quality_file({"dimensions": NAMES[:18], "predictions": {"a": GOOD_ROW}}),
                            [r"'dimensions' must be a list of 19 names, got 18 names"]),
    "short_row": (quality_file({"dimensions": NAMES, "predictions": {"a": [0.5] * 18}}),
                  [r"key 'a': expected a list of 19 numbers"]),
    "nan_value": (quality_file({"dimensions": NAMES, "predictions": {"a": [0.5] * 4 + [float("nan")] + [0.5] * 14}}),
                  [r"key 'a': value 4 is nan, expected a finite number"]),
    "text_value": (quality_file({"dimensions": NAMES, "predictions": {"a": ["0.5"] * 19}}),
                   [r"key 'a': value 0 is '0\.5', expected a finite number"]),
    "empty_predictions": (quality_file({"dimensions": NAMES, "predictions": {}}),
                          [r"'predictions' must be a non-empty"]),
    "duplicated_id": (quality_file(f'{{"dimensions": {json.dumps(NAMES)}, "predictions": {{"a": {GOOD_ROW}, '
                                   f'"a": {[0.4] * 19}}}}}'), [r"key 'a': appears twice in one JSON object"]),
}
DOWNSTREAM_EMBEDDINGS_CASES = {
    "truncated_masterclass": (write_bytes("masterclass_embeddings.pt", lambda b: b[:100]),
                              "masterclass_embeddings.pt", [r"not a readable torch file"]),
    "nan_competition": (lambda c: torch.save({"r": torch.full((3, 16), float("nan"))}, c / "competition_embeddings.pt"),
                        "competition_embeddings.pt", [r"key 'r': has non-finite values"]),
    "other_dim_masterclass": (lambda c: torch.save({k: v[:, :8] for k, v in torch.load(
        c / "masterclass_embeddings.pt").items()}, c / "masterclass_embeddings.pt"),
        "masterclass_embeddings.pt", [r"has D = 8, but the cache's embeddings have D = 16"]),
}


class TestOptionalInputs:
    """Ratings, moments, competition records, quality predictions: refused before the probing fit starts."""

    @pytest.mark.parametrize(("mutate", "parts"), RATINGS_CASES.values(), ids=RATINGS_CASES.keys())
    def test_bad_ratings(self, cache, capsys, mutate, parts) -> None:
        mutate(cache)
        assert_clear_error(*run_cli(cache, "labels", [], capsys), "total_2rounds.csv", *parts)

    @pytest.mark.parametrize(("mutate", "parts"), MOMENTS_CASES.values(), ids=MOMENTS_CASES.keys())
    def test_bad_moments(self, cache, capsys, mutate, parts) -> None:
        mutate(cache)
        assert_clear_error(*run_cli(cache, "probing,downstream", [], capsys), "all_moments.jsonl", *parts)
        assert not (cache.parent / "out" / "predictions").exists()  # stopped before fitting anything

    @pytest.mark.parametrize(("mutate", "parts"), COMPETITION_CASES.values(), ids=COMPETITION_CASES.keys())
    def test_bad_competition(self, cache, capsys, mutate, parts) -> None:
        mutate(cache)
        assert_clear_error(*run_cli(cache, "probing,downstream", [], capsys), "recordings.jsonl", *parts)

    @pytest.mark.parametrize(("mutate", "parts"), QUALITY_CASES.values(), ids=QUALITY_CASES.keys())
    def test_bad_quality_predictions(self, cache, capsys, mutate, parts) -> None:
        extra = mutate(cache)
        assert_clear_error(*run_cli(cache, "probing,downstream", extra, capsys), "quality.json", *parts)
        assert not (cache.parent / "out" / "predictions").exists()

    @pytest.mark.parametrize(("mutate", "file", "parts"), DOWNSTREAM_EMBEDDINGS_CASES.values(),
                             ids=DOWNSTREAM_EMBEDDINGS_CASES.keys())
    def test_bad_downstream_embeddings(self, cache, capsys, mutate, file, parts) -> None:
        mutate(cache)
        assert_clear_error(*run_cli(cache, "probing,downstream", [], capsys), file, *parts)

    @pytest.mark.parametrize(("option", "file"), [
        ("--ratings", "r.csv"), ("--moments", "m.jsonl"), ("--competition", "c.jsonl"),
        ("--quality-predictions", "q.json"),
    ])
    def test_missing_file(self, cache, capsys, option, file) -> None:
        code, error = run_cli(cache, "labels,probing,downstream", [option, f"/nonexistent/{file}"], capsys)
        assert_clear_error(code, error, file, r"file not found")
        assert f"error: {option} /nonexistent/{file}: file not found" in error
