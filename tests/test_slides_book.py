"""Slides and the offline book: slide metadata from `make strip`, `make slides` builds, no CDN."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import build_book  # noqa: E402
from clean_notebooks import clean, slide_types  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
KINDS = {"slide", "subslide", "fragment", "skip", "-"}


def _src(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_clean_gives_every_cell_a_slide(path):
    nb = clean(json.loads(path.read_text()))
    kinds = [c["metadata"]["slideshow"]["slide_type"] for c in nb["cells"]]
    assert set(kinds) <= KINDS
    assert kinds[0] == "slide", "the title cell opens the deck"
    first_code = next(i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code")
    assert kinds[first_code] == "skip", "the setup cell is not shown"
    for cell, kind in zip(nb["cells"], kinds):
        if cell["cell_type"] == "markdown" and any(ln.startswith("## ") for ln in _src(cell).splitlines()):
            assert kind == "slide", _src(cell)[:60]
        if cell["cell_type"] == "code" and cell["metadata"].get("jupyter", {}).get("source_hidden"):
            assert kind == "skip", "exercise solutions are not shown"
    again = clean(copy.deepcopy(nb))
    assert again == nb, "clean() is idempotent"


def test_slide_rules_on_a_small_notebook():
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    cells = [
        md("# Title"),
        code("import helpers"),
        md("## A section"),
        md("A derivation:\n$$a = b$$"),
        code("x = 1"),
        md("### A step"),
        code("def solution_f():\n    pass", metadata={"jupyter": {"source_hidden": True}}),
        code("fig, ax = plt.subplots()\n" + "\n".join(f"y{i} = {i}" for i in range(20))),
    ]
    assert slide_types(cells) == ["slide", "skip", "slide", "fragment", "-", "subslide", "skip", "subslide"]


def test_committed_notebooks_carry_slide_metadata():
    """Every committed notebook carries the layout `make strip` gives it."""
    carried = {p: json.loads(p.read_text()) for p in NOTEBOOKS}
    if not any("slideshow" in c.get("metadata", {}) for nb in carried.values() for c in nb["cells"]):
        pytest.skip("no notebook carries slide metadata yet: run `make strip`")
    for path, nb in carried.items():
        have = [c.get("metadata", {}).get("slideshow", {}).get("slide_type") for c in nb["cells"]]
        assert have == slide_types(nb["cells"]), f"{path.name}: run `make strip`"


def test_make_slides_builds(tmp_path):
    lesson = ROOT / "notebooks" / "01_gaussian_mle.ipynb"
    cmd = [sys.executable, "scripts/build_slides.py", "--no-execute", "--out", str(tmp_path), str(lesson)]
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    page = (tmp_path / "01_gaussian_mle.slides.html").read_text()
    assert page.count("<section") > 5
    assert 'src="reveal.js/dist/reveal.js"' in page and 'src="mathjax/tex-svg-full.js"' in page
    assert (tmp_path / "reveal.js" / "dist" / "reveal.js").exists()
    assert (tmp_path / "mathjax" / "tex-svg-full.js").exists()
    assert build_book.remote_assets(page) == []
    hidden = [_src(c) for c in json.loads(lesson.read_text())["cells"] if c["metadata"].get("jupyter")]
    for source in hidden:  # solutions are skipped
        assert source.splitlines()[0] not in page
    assert (tmp_path / "index.html").exists()


def test_book_pages_load_nothing_from_the_network(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# T\n$x$ and ![map](../assets/figures/00_model_map.png)"),
        nbformat.v4.new_code_cell("w", outputs=[
            nbformat.v4.new_output("display_data", data={
                "application/vnd.jupyter.widget-view+json": {"model_id": "abc", "version_major": 2},
                "text/plain": "HBox(children=(FloatSlider(value=1.0),))",
            }),
            nbformat.v4.new_output("display_data", data={
                "text/html": '<link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/font-awesome/4.4.0/'
                'css/font-awesome.min.css"><div class="anim-buttons"><i class="fa fa-play"></i></div>',
            }),
        ]),
    ]  # fmt: skip
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    build_book.offline_outputs(nb)
    assert len(nb.cells[1].outputs) == 1 and "widgets" not in nb.metadata
    page = build_book.export(nb, ROOT / "notebooks" / "x.ipynb", build_book.html_exporter())
    assert "HBox(" not in page and "font-awesome" not in page and "fa-play:before" in page
    assert 'src="data:image/png;base64,' in page, "Markdown images are inlined"
    assert build_book.remote_assets(page) == []
    # the guard sees what it is there for
    assert build_book.remote_assets('<script src="https://cdn.example/x.js"></script>')
    assert build_book.remote_assets("<link href='//cdn.example/x.css' rel=stylesheet>")
    assert not build_book.remote_assets('<a href="https://example.org">a link</a>')


def test_build_runs_a_notebook_with_an_output_widget(tmp_path):
    """An ipywidgets Output that receives output while the cell runs (lesson 12's slider) goes through
    the same build() as `make book` and `make slides`: nbclient mimics the front end's Output widget and
    writes each output into its widget state, so the executor must keep that state (it raised
    KeyError on the widget's id with ``store_widget_state=False``)."""
    ipywidgets = pytest.importorskip("ipywidgets")
    assert ipywidgets
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# An Output widget"),
        nbformat.v4.new_code_cell(
            "from IPython.display import display\n"
            "from ipywidgets import IntSlider, Output, interact\n"
            "out = Output()\n"
            "def on_slide(t):\n"
            "    with out:\n"
            "        out.clear_output(wait=True)\n"
            "        print('t is', t)\n"
            "interact(on_slide, t=IntSlider(value=3, min=0, max=5))\n"
            "display(out)\n"
            "with out:\n"
            "    out.clear_output()\n"
            "    print('cleared')"
        ),
        nbformat.v4.new_code_cell("print('after the widget')"),
    ]
    path = tmp_path / "widget.ipynb"
    nbformat.write(nb, path)
    out = tmp_path / "book"
    failed = build_book.build(
        [path], out, build_book.html_exporter(), ".html", True, True, 120, "the book"
    )  # fmt: skip
    assert failed == []
    page = (out / "widget.html").read_text()
    assert "after the widget" in page
    assert build_book.remote_assets(page) == []
