"""Strip outputs and execution counts from notebooks, set the course kernel and the slide layout, in place.

Usage: python scripts/clean_notebooks.py notebooks/*.ipynb   (or `make strip`)
Also converts a jupytext percent script (``.py``) given as argument into a clean ``.ipynb``
next to ``notebooks/`` when ``--from-py OUT.ipynb`` is used.

Slides (``make slides``, RISE in JupyterLab) read each cell's ``metadata.slideshow.slide_type``.
:func:`slide_types` derives it from the cells' content alone, so every notebook gets the same layout
rules and re-running the script changes nothing:

- the ``# Title`` cell and every Markdown cell with a ``##`` heading start a **slide**;
- a ``###`` heading starts a **sub-slide** (reveal.js: one step down);
- the setup cell (the first code cell) and collapsed exercise solutions
  (``metadata.jupyter.source_hidden``) are **skipped**;
- a derivation (a Markdown cell with display maths) is a **fragment**, revealed on the next key press;
- everything else continues the current slide, and a new **sub-slide** starts whenever the slide
  would outgrow the screen (a rough line count: text lines, display maths, a figure counts as
  ``FIGURE_LINES``).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

KERNELSPEC = {
    "name": "learning-the-data-distribution",
    "display_name": "Python (Learning the data distribution)",
    "language": "python",
}


SLIDE_LINES = 22  # what fits on one reveal.js slide (960 x 700 at the template's font size)
FIGURE_LINES = 14  # the height of a typical figure, in lines of text
_FIGURE = re.compile(r"\bplt\.|\bfig\b|\bfig,|display\(|\.show\(|helpers\.plot\.|\bplot_")
_HEADING = re.compile(r"^(#{1,6}) ", re.MULTILINE)


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _hidden(cell: dict) -> bool:
    return bool(cell.get("metadata", {}).get("jupyter", {}).get("source_hidden"))


def _height(cell: dict) -> int:
    """A rough height of the cell on a slide, in lines of text."""
    src = _source(cell)
    lines = len(src.splitlines())
    if cell.get("cell_type") == "markdown":
        return lines + 2 * src.count("$$")  # display maths is taller than a line
    return lines + (FIGURE_LINES if _FIGURE.search(src) else 2)


def slide_types(cells: list[dict]) -> list[str]:
    """The reveal.js slide type of each cell, from the content only (see the module docstring)."""
    types, used = [], 0
    first_code = next((i for i, c in enumerate(cells) if c.get("cell_type") == "code"), None)
    for i, cell in enumerate(cells):
        src = _source(cell)
        levels = (
            [len(m.group(1)) for m in _HEADING.finditer(src)] if cell.get("cell_type") == "markdown" else []
        )
        height = _height(cell)
        if i == first_code or (cell.get("cell_type") == "code" and _hidden(cell)):
            types.append("skip")
            continue
        if i == 0 or (levels and min(levels) <= 2):
            kind, used = "slide", height
        elif levels and min(levels) == 3:
            kind, used = "subslide", height
        elif used + height > SLIDE_LINES and used > 0:
            kind, used = "subslide", height
        else:
            kind = "fragment" if cell.get("cell_type") == "markdown" and "$$" in src else "-"
            used += height
        types.append(kind)
    return types


def clean(nb: dict) -> dict:
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        meta = cell.get("metadata", {})
        for key in ("execution", "ExecuteTime", "collapsed", "scrolled", "lines_to_next_cell"):
            meta.pop(key, None)
    for cell, kind in zip(nb.get("cells", []), slide_types(nb.get("cells", []))):
        cell.setdefault("metadata", {})["slideshow"] = {"slide_type": kind}
    nb["metadata"] = {
        "kernelspec": KERNELSPEC,
        "language_info": {"name": "python"},
    }
    nb.setdefault("nbformat", 4)
    nb.setdefault("nbformat_minor", 5)
    return nb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument(
        "--from-py",
        type=Path,
        default=None,
        help="convert the single percent-format script given into this .ipynb",
    )
    args = parser.parse_args()
    if args.from_py:
        import jupytext

        (src,) = args.paths
        nb = jupytext.read(src)
        jupytext.write(nb, args.from_py)
        targets = [args.from_py]
    else:
        targets = args.paths
    for path in targets:
        nb = json.loads(path.read_text())
        path.write_text(json.dumps(clean(nb), indent=1, ensure_ascii=False) + "\n")
        print(f"cleaned {path}")


if __name__ == "__main__":
    main()
