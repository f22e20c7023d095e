"""Tests of datamodules/extractors/registry.py: built-ins and entry-point loading (mocked and real)."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

from datamodules.extractors import (
    ENTRY_POINT_GROUP,
    FrameExtractor,
    MidiFrameExtractor,
    available_extractors,
    get_extractor,
    load_external_extractors,
)

ENTRY_POINTS = "datamodules.extractors.registry.entry_points"


class ToyExtractor(FrameExtractor):
    name = "toy"
    frame_rate_hz = 25.0

    @property
    def feature_names(self) -> tuple[str, ...]:
        return ("one",)

    def extract_with_counts(self, path: Path) -> tuple[np.ndarray, dict[str, int]]:
        return np.ones((2, 1), np.float32), {}


def fake_entry_point(name: str, loaded: object) -> mock.Mock:
    entry_point = mock.Mock(value=f"plugin.module:{name}")
    entry_point.name = name
    entry_point.load.return_value = loaded
    return entry_point


class TestRegistry:
    def test_builtin_midi(self):
        with mock.patch(ENTRY_POINTS, return_value=[]) as query:
            extractors = available_extractors()
        query.assert_called_once_with(group=ENTRY_POINT_GROUP)
        assert extractors == {"midi": MidiFrameExtractor}

    def test_mocked_entry_point_loaded(self):
        with mock.patch(ENTRY_POINTS, return_value=[fake_entry_point("toy_ep", ToyExtractor)]):
            assert available_extractors()["toy"] is ToyExtractor
            extractor = get_extractor("toy")
        assert isinstance(extractor, ToyExtractor) and extractor.extract(Path("x")).shape == (2, 1)

    def test_duplicate_entry_points(self):
        entry_points = [fake_entry_point("first", ToyExtractor), fake_entry_point("second", ToyExtractor)]
        with mock.patch(ENTRY_POINTS, return_value=entry_points), pytest.raises(
            ValueError, match=r"'toy' is declared twice: by entry point first = .* and by entry point second"
        ):
            load_external_extractors()

    def test_entry_point_shadowing_builtin(self):
        shadow = type("Shadow", (ToyExtractor,), {"name": "midi"})
        with mock.patch(ENTRY_POINTS, return_value=[fake_entry_point("shadow", shadow)]), pytest.raises(
            ValueError, match="'midi' is declared twice: by built-in datamodules.extractors.midi.MidiFrameExtractor"
        ):
            available_extractors()

    @pytest.mark.parametrize(
        ("loaded", "match"),
        [(object, "expected a FrameExtractor subclass"),
         (type("Nameless", (ToyExtractor,), {"name": ""}), "class attribute name is ''")],
    )
    def test_bad_entry_point(self, loaded, match):
        with mock.patch(ENTRY_POINTS, return_value=[fake_entry_point("bad", loaded)]), pytest.raises(
            TypeError, match=match
        ):
            load_external_extractors()

    def test_unknown_name(self):
        with mock.patch(ENTRY_POINTS, return_value=[]), pytest.raises(
            ValueError, match=r"extractor 'mfcc' is unknown; expected one of \['midi'\]"
        ):
            get_extractor("mfcc")

    def test_real_entry_point(self, tmp_path, monkeypatch):
        (tmp_path / "toy_extractor_plugin.py").write_text(
            "import numpy as np\n"
            "from datamodules.extractors import FrameExtractor\n"
            "class PluginExtractor(FrameExtractor):\n"
            "    name = 'plugin'\n"
            "    frame_rate_hz = 25.0\n"
            "    feature_names = ('a', 'b')\n"
            "    def extract_with_counts(self, path):\n"
            "        return np.zeros((3, 2), np.float32), {}\n"
        )
        monkeypatch.syspath_prepend(str(tmp_path))
        entry_point = EntryPoint("plugin", "toy_extractor_plugin:PluginExtractor", ENTRY_POINT_GROUP)
        with mock.patch(ENTRY_POINTS, return_value=[entry_point]):
            extractor = get_extractor("plugin")
        assert extractor.settings() == {"name": "plugin", "version": 1, "frame_rate_hz": 25.0}
