"""The ratings loader: validation messages, exclusions, and the labels it reproduces."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from datamodules.errors import DataContractError
from datamodules.inputs.labels import load_labels
from datamodules.inputs.ratings import load_ratings

QUESTIONS = [f"Question_{i}_1_1" for i in range(1, 21)]
HEADER = ["user", "dataID", "filename", *QUESTIONS, "message"]


def _row(user: str, key: str, values: list[str], message: str = "") -> list[str]:
    return [user, "0", f"{key}.wav", *values, "", message]


def _csv(rows: list[list[str]], header: list[str] = HEADER) -> str:
    def cell(text: str) -> str:
        return f'"{text}"' if any(c in text for c in ',"\n') else text

    return "\n".join(",".join(cell(c) for c in row) for row in [header, *rows]) + "\n"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ratings.csv"
    path.write_text(text, encoding="utf-8")
    return path


def _good_rows() -> list[list[str]]:
    a, b = "W_4bars_1_1", "W_4bars_2_1"
    return [
        _row("u1", a, ["3.0"] * 19),  # line 2
        _row("u2", a, ["5.0"] * 18 + [""], message="two\nlines, quoted"),  # lines 3-4
        _row("u1", b, ["0.0"] + ["7.0"] * 18),  # line 5
        _row("u3", b, ["8.0"] + ["1.0"] * 18),  # line 6: dropped
        _row("u1", b, ["2.0"] * 19),  # line 7: u1 rates b again
        _row("u9", "W_4bars_3_1", ["9.0"] * 19),  # line 8: dropped, its key has no other rating
    ]


class TestLoadRatings:
    def test_values_missing_cells_and_dropped_rows(self, tmp_path: Path) -> None:
        table = load_ratings(_write(tmp_path, _csv(_good_rows())))
        assert table.keys == ("W_4bars_1_1", "W_4bars_2_1")
        assert table.raters == ("u1", "u2")
        assert table.n_ratings == 4 and table.n_repeated_pairs == 1
        np.testing.assert_array_equal(table.lines, [2, 3, 5, 7])
        np.testing.assert_array_equal(table.key_index, [0, 0, 1, 1])
        np.testing.assert_array_equal(table.rater_index, [0, 1, 0, 0])
        assert np.isnan(table.values[1, 18]) and np.isnan(table.values[2, 0])
        report = table.report
        assert report.n_rows_read == 6 and report.dropped_lines == (6, 8) and report.n_dropped_rows == 2
        assert (report.n_blank_cells, report.n_zero_cells) == (1, 1)
        assert report.n_missing_per_dimension[0] == 1 and report.n_missing_per_dimension[18] == 1
        assert report.keys_without_ratings == ("W_4bars_3_1",)
        assert report.to_dict()["n_missing_cells"] == 2
        assert table.rating_columns == tuple(QUESTIONS[:19])

    def test_key_means_are_row_means_over_seven(self, tmp_path: Path) -> None:
        table = load_ratings(_write(tmp_path, _csv(_good_rows())))
        means = table.key_means()
        assert means.shape == (2, 19)
        np.testing.assert_allclose(means[0, :18], 4.0 / 7)  # (3 + 5) / 2
        np.testing.assert_allclose(means[0, 18], 3.0 / 7)  # u2's cell is missing
        np.testing.assert_allclose(means[1, 0], 2.0 / 7)  # the 0 cell is missing
        np.testing.assert_allclose(means[1, 1:], 4.5 / 7)  # (7 + 2) / 2: repeats count as rows
        np.testing.assert_array_equal(table.n_ratings_per_key()[:, [0, 1, 18]], [[2, 2, 1], [1, 2, 2]])

    def test_key_means_nan_when_a_dimension_is_unrated(self, tmp_path: Path) -> None:
        table = load_ratings(_write(tmp_path, _csv([_row("u1", "W_4bars_1_1", [""] + ["4"] * 18)])))
        assert np.isnan(table.key_means()[0, 0]) and table.key_means()[0, 1] == pytest.approx(4 / 7)

    @pytest.mark.parametrize(
        ("header", "match"),
        [
            ([h for h in HEADER if h != "user"], "header has no column 'user'"),
            ([h for h in HEADER if h != "filename"], "header has no column 'filename'"),
            (
                [*HEADER[:3], *QUESTIONS[:18], "message"],
                "rating column 19 of 19 after 'filename' \\(dimension 'interpretation'\\) is 'message'",
            ),
            ([*HEADER[:3], *QUESTIONS[:5]], "rating column 6 of 19 .*'timbre_variety'.* missing \\(header ends\\)"),
        ],
    )
    def test_bad_header(self, tmp_path: Path, header: list[str], match: str) -> None:
        path = _write(tmp_path, ",".join(header) + "\n")
        with pytest.raises(DataContractError, match=f"{re.escape(str(path))}: .*{match}"):
            load_ratings(path)

    @pytest.mark.parametrize(
        ("bad", "column", "value"),
        [("abc", "Question_2_1_1", "'abc'"), ("3.5", "Question_2_1_1", "'3.5'"), ("-1", "Question_2_1_1", "'-1'"),
         ("nan", "Question_2_1_1", "'nan'"), ("10", "Question_2_1_1", "'10'")],
    )
    def test_bad_rating_cell_names_line_column_value(self, tmp_path: Path, bad: str, column: str, value: str) -> None:
        rows = _good_rows()
        rows[2][4] = bad  # line 5, second rating column
        path = _write(tmp_path, _csv(rows))
        match = f"{re.escape(str(path))}: line 5, column '{column}': value {re.escape(value)}, expected an integer"
        with pytest.raises(DataContractError, match=match):
            load_ratings(path)

    def test_truncated_row(self, tmp_path: Path) -> None:
        text = _csv(_good_rows())
        start = text.index("u1,0,W_4bars_2_1.wav,2.0")
        path = _write(tmp_path, text[: start + len("u1,0,W_4bars_2_1.wav,2.0,2.0,2.0,2.0,2.0")])  # cut in line 7
        with pytest.raises(DataContractError, match="line 7: row has 8 fields, expected 24 \\(truncated"):
            load_ratings(path)

    def test_truncated_inside_quoted_field(self, tmp_path: Path) -> None:
        text = _csv(_good_rows())
        path = _write(tmp_path, text[: text.index("two\n") + 4])
        with pytest.raises(DataContractError, match="malformed CSV in the record starting at line 3"):
            load_ratings(path)

    @pytest.mark.parametrize("filename", ["W_4bars_1_1.mp3", ".wav"])
    def test_bad_filename(self, tmp_path: Path, filename: str) -> None:
        rows = _good_rows()
        rows[0][2] = filename
        match = f"line 2, column 'filename': value {re.escape(repr(filename))}, expected '<key>.wav'"
        with pytest.raises(DataContractError, match=match):
            load_ratings(_write(tmp_path, _csv(rows)))

    def test_empty_user(self, tmp_path: Path) -> None:
        rows = _good_rows()
        rows[1][0] = " "
        with pytest.raises(DataContractError, match="line 3, column 'user': empty rater id"):
            load_ratings(_write(tmp_path, _csv(rows)))

    def test_empty_file_and_no_usable_rows(self, tmp_path: Path) -> None:
        with pytest.raises(DataContractError, match="empty file"):
            load_ratings(_write(tmp_path, ""))
        with pytest.raises(DataContractError, match="no usable rating rows \\(1 read, 1 dropped\\)"):
            load_ratings(_write(tmp_path, _csv([_row("u", "W_4bars_1_1", ["8"] * 19)])))

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(FileNotFoundError, match="nope.csv: file not found"):
            load_ratings(tmp_path / "nope.csv")


@pytest.mark.real_data
class TestRealRatings:
    def test_reproduces_labels_json(self, real_data_dir: Path) -> None:
        table = load_ratings(real_data_dir / "percepiano" / "labels" / "total_2rounds.csv")
        labels = load_labels(real_data_dir / "crescendai" / "percepiano" / "labels.json")
        assert set(table.keys) == set(labels.keys) and len(table.keys) == 1202
        row = {key: index for index, key in enumerate(table.keys)}
        means = table.key_means()[[row[key] for key in labels.keys]]
        np.testing.assert_allclose(means, labels.values, rtol=0, atol=1e-12)
        assert table.report.n_dropped_rows == 208 and table.report.keys_without_ratings == ()
        rows_per_key = np.bincount(table.key_index)
        assert (rows_per_key.min(), rows_per_key.max()) == (4, 19)
