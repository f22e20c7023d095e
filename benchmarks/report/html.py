"""``report.html``: ``report.md`` as one self-contained page, figures embedded as base64 data URIs.

The page needs no other file and no network: tables and headings come from Python-Markdown (``tables``, ``toc``),
every local image is inlined, and a tiny inline script records on ``window.load`` whether each image actually
decoded (``data-rendered`` on each ``<img>``, ``data-figures-rendered="<rendered>/<images>"`` on ``<body>``), so a
headless browser can check the page.
"""

from __future__ import annotations

import base64
import mimetypes
import xml.etree.ElementTree as etree
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

import markdown
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

from datamodules.jsonio import write_text_atomic

FIGURES_PREFIX = "figures"

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; line-height: 1.5; color: #1b1b1b;
       max-width: 72rem; margin: 2rem auto; padding: 0 1rem; }
h1, h2 { border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
code { background: #f3f3f3; padding: 0 .25rem; border-radius: 3px; }
table { border-collapse: collapse; margin: .75rem 0; font-size: .9rem; }
th, td { border: 1px solid #ccc; padding: .25rem .6rem; text-align: left; }
th { background: #f0f0f0; }
tbody tr:nth-child(even) { background: #fafafa; }
td:not(:first-child) { font-variant-numeric: tabular-nums; }
img { max-width: 100%; height: auto; display: block; margin: 1rem 0; }
.missing-figure { display: block; color: #a00; font-weight: bold; }
"""

SCRIPT = """
window.addEventListener("load", function () {
  var images = document.images, rendered = 0;
  for (var i = 0; i < images.length; i++) {
    var ok = images[i].complete && images[i].naturalWidth > 0;
    images[i].dataset.rendered = ok ? "true" : "false";
    if (ok) { rendered += 1; }
  }
  document.body.dataset.figuresRendered = rendered + "/" + images.length;
});
"""


def _figure_path(src: str, figures_dir: Path) -> Path | None:
    """The local file an image ``src`` names, or None for URLs (``data:``, ``http:``...) left as they are.

    ``figures/x.png`` (as ``report.md`` writes it) and a bare ``x.png`` both resolve to ``figures_dir / "x.png"``.
    """
    parts = urlsplit(src)
    if parts.scheme or parts.netloc or not parts.path:
        return None
    relative = PurePosixPath(unquote(parts.path))
    if relative.parts[:1] == (FIGURES_PREFIX,):
        relative = PurePosixPath(*relative.parts[1:])
    return Path(figures_dir, *relative.parts)


def _data_uri(path: Path) -> str:
    """``data:<mime>;base64,...`` of the file at ``path``."""
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


class _EmbedImages(Treeprocessor):
    """Replace each local image ``src`` with a data URI; a missing file keeps its ``<img>`` plus a visible note."""

    def __init__(self, md: markdown.Markdown, figures_dir: Path) -> None:
        super().__init__(md)
        self.figures_dir = figures_dir

    def run(self, root: etree.Element) -> None:
        for parent in list(root.iter()):
            for index, child in reversed(list(enumerate(parent))):
                if child.tag == "img":
                    self._embed(parent, index, child)

    def _embed(self, parent: etree.Element, index: int, image: etree.Element) -> None:
        src = image.get("src", "")
        path = _figure_path(src, self.figures_dir)
        if path is None:
            return
        if path.is_file():
            image.set("src", _data_uri(path))
            return
        del image.attrib["src"]  # no file reference remains; the browser reports naturalWidth 0
        image.set("data-missing", src)
        note = etree.Element("span", {"class": "missing-figure"})
        note.text = f"figure missing: {src} (no such file beside the report)"
        note.tail, image.tail = image.tail, None
        parent.insert(index + 1, note)


class _EmbedImagesExtension(Extension):
    def __init__(self, figures_dir: Path) -> None:
        super().__init__()
        self.figures_dir = figures_dir

    def extendMarkdown(self, md: markdown.Markdown) -> None:  # noqa: N802 (Python-Markdown's name)
        # after inline parsing made the <img>s
        md.treeprocessors.register(_EmbedImages(md, self.figures_dir), "embed_images", 0)


def render_html(markdown_text: str, figures_dir: Path) -> str:
    """Render report markdown as one self-contained HTML page.

    Parameters
    ----------
    markdown_text : str
        The report, as ``render_report`` writes it; images as ``![name](figures/name.png)``.
    figures_dir : pathlib.Path
        Directory the ``figures/`` prefix stands for (``<out>/figures``).

    Returns
    -------
    str
        A complete HTML document with inline CSS and script, every local image as a ``data:`` URI.

    Notes
    -----
    A referenced figure that does not exist does not raise: its ``<img>`` keeps its ``alt`` text, loses its
    ``src`` (recorded in ``data-missing``), is followed by a visible "figure missing" note, and the page script
    counts it as not rendered. URLs with a scheme (``data:``, ``https:``) are left unchanged.

    Examples
    --------
    >>> page = render_html("| a | b |\\n|---|---|\\n| 1 | 2 |", Path("figures"))
    >>> "<table>" in page and "figuresRendered" in page
    True
    """
    embed = _EmbedImagesExtension(Path(figures_dir))
    converter = markdown.Markdown(extensions=["tables", "toc", embed], output_format="html")
    body = converter.convert(markdown_text)
    headings = [token["name"] for token in converter.toc_tokens if token["level"] == 1]
    title = headings[0] if headings else "percepiano-bench report"  # toc already escaped the heading text
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{title}</title>",
        f"<style>{STYLE}</style>",
        f"<script>{SCRIPT}</script>",
        "</head>",
        "<body>",
        body,
        "</body>",
        "</html>",
        "",
    ])


def write_html_report(out_dir: Path) -> Path:
    """Write ``<out_dir>/report.html`` atomically from ``<out_dir>/report.md`` and ``<out_dir>/figures``.

    Parameters
    ----------
    out_dir : pathlib.Path
        The run directory holding ``report.md``.

    Returns
    -------
    pathlib.Path
        The path of ``report.html``.

    Raises
    ------
    FileNotFoundError
        If ``<out_dir>/report.md`` does not exist.
    """
    out_dir = Path(out_dir)
    source = out_dir / "report.md"
    if not source.is_file():
        raise FileNotFoundError(f"report.md not found at {source}: write it (write_report) before report.html")
    path = out_dir / "report.html"
    write_text_atomic(path, render_html(source.read_text(encoding="utf-8"), out_dir / FIGURES_PREFIX))
    return path


__all__ = ["render_html", "write_html_report"]
