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


def output_widget_notebook(folder: Path) -> Path:
    """A small notebook whose cell sends output into an ipywidgets ``Output`` (as lesson 12's slider
    does), then a plain cell after it."""
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
    path = Path(folder) / "widget.ipynb"
    nbformat.write(nb, path)
    return path


# build() in a child process, as `make book` runs it (a kernel driven from the pytest process left
# CPython 3.11.7's AST recursion counter off: a SystemError at the end of the session). "plant"
# names a bug to plant first (tests/test_planted_bugs_builds.py).
_BUILD = r"""
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import build_book
if sys.argv[2] == "no-widget-state":
    from nbconvert.preprocessors import ExecutePreprocessor
    original = ExecutePreprocessor.__init__
    ExecutePreprocessor.__init__ = lambda self, **kw: original(self, **dict(kw, store_widget_state=False))
paths = [Path(p) for p in sys.argv[4:]]
failed = build_book.build(paths, Path(sys.argv[3]), build_book.html_exporter(), ".html", True, True, 120, "b")
print(json.dumps(failed))
"""


def build_in_child(paths, out: Path, plant: str = "") -> list[str]:
    """build_book.build(paths, out, …) in fast mode in a child process; returns the failed notebooks."""
    cmd = [sys.executable, "-c", _BUILD, str(ROOT / "scripts"), plant or "-", str(out), *map(str, paths)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_build_runs_a_notebook_with_an_output_widget(tmp_path):
    """An ipywidgets Output that receives output while the cell runs (lesson 12's slider) goes through
    the same build() as `make book` and `make slides`: nbclient mimics the front end's Output widget and
    writes each output into its widget state, so the executor must keep that state (it raised
    KeyError on the widget's id with ``store_widget_state=False``)."""
    pytest.importorskip("ipywidgets")
    path = output_widget_notebook(tmp_path)
    out = tmp_path / "book"
    assert build_in_child([path], out) == []
    page = (out / "widget.html").read_text()
    assert "after the widget" in page and "t is 3" not in page, "the widget's output is dropped"
    assert build_book.remote_assets(page) == []
