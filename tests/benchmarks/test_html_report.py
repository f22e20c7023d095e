"""Tests of benchmarks/report/html.py: the self-contained ``report.html``, checked as text and in a headless browser."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread

from benchmarks.report import write_report
from benchmarks.report.html import render_html, write_html_report

FIGURES = ["alpha.png", "beta.png"]
BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def write_figures(figures_dir: Path, names: list[str]) -> None:
    """Tiny matplotlib PNGs, one line plot each."""
    figures_dir.mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(names):
        figure = Figure(figsize=(2, 1.5), dpi=40)
        figure.add_subplot().plot([0, 1, 2], [0, index + 1, 0], color="tab:blue")
        figure.savefig(figures_dir / name)


def report_markdown(figure_names: list[str]) -> str:
    lines = ["# Small report", "", "## Table", "", "| dimension | r |", "|---|---|", "| timing | 0.512 |",
             "| pedal | 0.250 |", "", "## Figures", ""]
    return "\n".join(lines + [f"![{name}](figures/{name})" for name in figure_names] + [""])


def write_small_report(out_dir: Path, referenced: list[str], existing: list[str]) -> Path:
    write_figures(out_dir / "figures", existing)
    (out_dir / "report.md").write_text(report_markdown(referenced), encoding="utf-8")
    return write_html_report(out_dir)


class _DomImages(HTMLParser):
    """Attributes of every ``<img>`` and of ``<body>`` in an HTML text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.images: list[dict[str, str | None]] = []
        self.body: dict[str, str | None] = {}
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images.append(dict(attrs))
        elif tag == "body":
            self.body = dict(attrs)


class TestRenderHtml:
    def test_embeds_figures_as_data_uris(self, tmp_path):
        write_figures(tmp_path / "figures", FIGURES)
        page = render_html(report_markdown(FIGURES), tmp_path / "figures")
        images = _DomImages(page).images
        assert [image["alt"] for image in images] == FIGURES
        for image, name in zip(images, FIGURES, strict=True):
            assert image["src"].startswith("data:image/png;base64,")
            decoded = base64.b64decode(image["src"].split(",", 1)[1])
            assert decoded == (tmp_path / "figures" / name).read_bytes()
            assert decoded.startswith(PNG_SIGNATURE)
        assert "figures/" not in page
        assert not re.search(r"""(src|href)=["'](?!data:|#)""", page)  # nothing outside the page is referenced

    def test_tables_headings_and_page_furniture(self, tmp_path):
        page = render_html(report_markdown([]), tmp_path / "figures")
        assert page.startswith("<!DOCTYPE html>")
        assert "<title>Small report</title>" in page
        assert "<table>" in page and "<th>dimension</th>" in page and "<td>0.512</td>" in page
        assert '<h2 id="table">Table</h2>' in page
        assert "<style>" in page and "border-collapse" in page
        assert "figuresRendered" in page and 'addEventListener("load"' in page

    def test_missing_figure_keeps_img_with_note(self, tmp_path):
        write_figures(tmp_path / "figures", FIGURES[:1])
        page = render_html(report_markdown(["alpha.png", "gone.png"]), tmp_path / "figures")
        present, missing = _DomImages(page).images
        assert present["src"].startswith("data:image/png;base64,")
        assert "src" not in missing and missing["data-missing"] == "figures/gone.png" and missing["alt"] == "gone.png"
        assert "figure missing: figures/gone.png" in page

    def test_urls_with_a_scheme_are_left_alone(self, tmp_path):
        source = "![dot](data:image/png;base64,AAAA)"
        assert 'src="data:image/png;base64,AAAA"' in render_html(source, tmp_path)


class TestWriteHtmlReport:
    def test_writes_report_html_beside_report_md(self, tmp_path):
        path = write_small_report(tmp_path, FIGURES, FIGURES)
        assert path == tmp_path / "report.html"
        assert path.read_text(encoding="utf-8").count("data:image/png;base64,") == 2
        assert not list(tmp_path.glob(".report.html.*"))  # the temporary sibling was renamed away

    def test_missing_report_md_raises(self, tmp_path):
        with pytest.raises(FileNotFoundError, match=r"report\.md not found at .*report\.md"):
            write_html_report(tmp_path)

    def test_write_report_also_writes_html(self, tmp_path):
        write_figures(tmp_path / "figures", FIGURES)
        write_report({"run": {"seed": 7}}, tmp_path)
        page = (tmp_path / "report.html").read_text(encoding="utf-8")
        assert page.count("data:image/png;base64,") == 2 and "figures/" not in page


@pytest.fixture(scope="module")
def browser() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("no headless browser: install Debian's chromium (.ci/run does)")
    return path


def run_browser(browser: str, tmp_path: Path, page: Path, *args: str) -> str:
    """Run headless chromium on ``page`` with a fresh profile; returns stdout (the DOM for ``--dump-dom``)."""
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    profile.mkdir()
    command = [browser, *BROWSER_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=10000", *args,
               page.resolve().as_uri()]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode == 0, f"{command} exited {completed.returncode}: {completed.stderr[-2000:]}"
    return completed.stdout


class TestReportInBrowser:
    def test_all_figures_render(self, browser, tmp_path):
        page = write_small_report(tmp_path / "out", FIGURES, FIGURES)
        dom = _DomImages(run_browser(browser, tmp_path, page, "--dump-dom"))
        assert len(dom.images) == 2
        assert [image.get("data-rendered") for image in dom.images] == ["true", "true"]
        assert dom.body.get("data-figures-rendered") == "2/2"

    def test_missing_figure_is_reported_not_rendered(self, browser, tmp_path):
        page = write_small_report(tmp_path / "out", ["alpha.png", "gone.png"], ["alpha.png"])
        dom = _DomImages(run_browser(browser, tmp_path, page, "--dump-dom"))
        assert {image["alt"]: image.get("data-rendered") for image in dom.images} == {"alpha.png": "true",
                                                                                       "gone.png": "false"}
        assert dom.body.get("data-figures-rendered") == "1/2"

    def test_screenshot_is_not_blank(self, browser, tmp_path):
        page = write_small_report(tmp_path / "out", FIGURES, FIGURES)
        screenshot = tmp_path / "page.png"
        run_browser(browser, tmp_path, page, f"--screenshot={screenshot}", "--window-size=800,900",
                    "--hide-scrollbars")
        pixels = imread(screenshot)
        assert pixels.shape[:2] == (900, 800)
        assert np.var(pixels[..., :3]) > 1e-3
