"""The prober registry: built-ins, entry-point plugins (mocked query), duplicate and contract errors."""

from __future__ import annotations

import logging
from unittest import mock

import pytest

import probes.registry as registry
from probes.base import Prober
from probes.registry import (
    BUILTIN_PROBERS,
    ENTRY_POINT_GROUP,
    UnknownProberError,
    available_probers,
    check_prober_class,
    get_prober,
    prober_sources,
)

EXPECTED = {
    "ridge": ("stats", "faithful"), "ridge_tuned": ("stats", "tuned"), "attention": ("frames", "faithful"),
    "attention_es": ("frames", "tuned"), "mlp": ("stats", "faithful"), "factor": ("stats", "corrected"),
    "factor_leaky": ("stats", "leaky"),
}


def _prober_class(name: str, view: str = "stats") -> type:
    return type(f"Plugin_{name}", (Prober,),
                {"name": name, "view": view, "__init__": lambda self, k=1: setattr(self, "k", k)})


def _entry_point(name: str, loaded: object, dist: str | None = "fake-dist") -> mock.Mock:
    entry_point = mock.Mock()
    entry_point.name, entry_point.value = name, f"fake_module:{getattr(loaded, '__name__', 'thing')}"
    entry_point.load.return_value = loaded
    if dist is None:
        entry_point.dist = None
    else:
        entry_point.dist.name, entry_point.dist.version = dist, "1.0"
    return entry_point


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch):
    """Replace the entry-point query; returns the list the fake query serves (append entry points to it)."""
    served: list = []

    def fake_entry_points(group: str):
        assert group == ENTRY_POINT_GROUP
        return list(served)

    monkeypatch.setattr(registry, "entry_points", fake_entry_points)
    return served


class TestBuiltins:
    @pytest.mark.parametrize("name", sorted(EXPECTED))
    def test_builtin(self, name: str, plugins) -> None:
        prober = get_prober(name)
        assert prober.name == name and (prober.view, prober.variant) == EXPECTED[name]
        assert isinstance(prober, BUILTIN_PROBERS[name]) and name in available_probers()
        assert type(prober)(**prober.get_params()).get_params() == prober.get_params()

    def test_keyword_construction(self, plugins) -> None:
        assert get_prober("mlp", max_epochs=3, seed=9).get_params()["max_epochs"] == 3

    def test_unknown_name(self, plugins) -> None:
        with pytest.raises(UnknownProberError, match=r"unknown prober 'nope'; available: \['attention', "):
            get_prober("nope")


class TestEntryPoints:
    def test_plugin_is_found_and_logged(self, plugins, caplog: pytest.LogCaptureFixture) -> None:
        plugin = _prober_class("fancy")
        plugins.append(_entry_point("fancy", plugin))
        with caplog.at_level(logging.INFO, logger="probes.registry"):
            assert available_probers()["fancy"] is plugin
        assert "Adding prober 'fancy' (stats view) from entry point 'fancy = fake_module:Plugin_fancy'" in caplog.text
        assert prober_sources()["fancy"][1].endswith("of distribution fake-dist 1.0")
        assert get_prober("fancy", k=4).k == 4

    def test_plugin_reusing_a_builtin_name(self, plugins) -> None:
        plugins.append(_entry_point("ridge", _prober_class("ridge"), dist="other-dist"))
        with pytest.raises(ValueError, match=r"prober name 'ridge' is declared twice: by built-in probes\.ridge\."
                                             r"RidgeProber and by entry point 'ridge = .*' of distribution other-dist"):
            available_probers()

    def test_two_plugins_with_one_name(self, plugins) -> None:
        plugins.extend([_entry_point("twin", _prober_class("twin"), dist="first"),
                        _entry_point("twin", _prober_class("twin"), dist="second")])
        with pytest.raises(ValueError,
                           match="'twin' is declared twice: by entry point .*first 1.0 and by .*second 1.0"):
            available_probers()

    def test_name_must_match_the_entry_point(self, plugins) -> None:
        plugins.append(_entry_point("alias", _prober_class("real_name"), dist=None))
        with pytest.raises(ValueError,
                           match="the class declares name 'real_name'; expected the entry-point name 'alias'"):
            available_probers()

    @pytest.mark.parametrize(("loaded", "error", "message"), [
        (_prober_class("bad_view", view="audio"), ValueError,
         r"\.view is 'audio'; expected one of \['frames', 'stats'\]"),
        (type("NoName", (), {"view": "stats", "fit": None, "predict": None}), ValueError, r"NoName\.name is None"),
        (type("NoFit", (), {"name": "no_fit", "view": "stats", "variant": "tuned"}), TypeError,
         r"NoFit has no fit\(\) method \(subclass probes\.base\.Prober"),
        (type("Bare", (), {"name": "bare", "view": "stats", "variant": "tuned", "fit": print, "predict": print}),
         TypeError, r"Bare has no get_params\(\) method"),
        (type("Odd", (Prober,), {"name": "odd", "view": "stats", "variant": "best"}), ValueError,
         r"Odd\.variant is 'best'; expected one of \['faithful', 'tuned', 'corrected', 'leaky'\]"),
        (lambda: None, TypeError, "expected a prober class"),
    ])
    def test_plugin_contract(self, plugins, loaded, error, message) -> None:
        plugins.append(_entry_point(getattr(loaded, "name", "x"), loaded))
        with pytest.raises(error, match=message):
            available_probers()

    def test_check_prober_class_names_the_source(self) -> None:
        with pytest.raises(ValueError, match="^my source: "):
            check_prober_class(_prober_class(""), "my source")
