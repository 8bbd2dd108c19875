"""Planted bugs in the book and slides build: the tests that guard it must fail when it breaks.

- The executor without the widgets' state (``store_widget_state=False``, what ``make slides`` had):
  the notebook with an ipywidgets ``Output`` fails with nbclient's ``KeyError`` on the widget's id.
- An executor that crashes on one notebook: the build reports that notebook as failed, still writes
  the others, and ``build_book.py`` exits non-zero (what makes CI fail).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_book  # noqa: E402
from test_slides_book import build_in_child, output_widget_notebook  # noqa: E402


def test_without_widget_state_the_output_widget_notebook_fails(tmp_path):
    pytest.importorskip("ipywidgets")
    path = output_widget_notebook(tmp_path)
    assert build_in_child([path], tmp_path / "book", plant="no-widget-state") == ["widget.ipynb"]


def test_an_executor_crash_fails_that_notebook_and_the_build_goes_on(tmp_path, monkeypatch, capsys):
    from nbconvert.preprocessors import ExecutePreprocessor

    def crash(self, nb, resources=None, km=None):
        if any("crash here" in c.source for c in nb.cells):
            raise KeyError("3f2a")  # what nbclient's Output-widget mimic raised
        return nb, resources

    monkeypatch.setattr(ExecutePreprocessor, "preprocess", crash)
    paths = []
    for name, text in (("a_crash.ipynb", "# crash here"), ("b_fine.ipynb", "# fine")):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_markdown_cell(f"# {name}"), nbformat.v4.new_code_cell(text)]
        nbformat.write(nb, tmp_path / name)
        paths.append(tmp_path / name)
    out = tmp_path / "book"
    failed = build_book.build(paths, out, build_book.html_exporter(), ".html", True, True, 60, "b")
    assert failed == ["a_crash.ipynb"]
    assert "KeyError in the executor" in capsys.readouterr().out
    assert (out / "a_crash.html").exists() and (out / "b_fine.html").exists()
    assert "FAILED" in (out / "index.html").read_text()


def test_build_book_exits_non_zero_when_a_notebook_fails(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Fails"),
        nbformat.v4.new_code_cell("raise ValueError('planted')"),
    ]
    nbformat.write(nb, tmp_path / "fails.ipynb")
    cmd = [
        sys.executable,
        "scripts/build_book.py",
        "--fast",
        "--out",
        str(tmp_path / "book"),
        str(tmp_path / "fails.ipynb"),
    ]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "fails.ipynb" in done.stderr, done.stderr[-500:]
    assert "FAILED: ValueError: planted" in done.stdout, "the log names the cell's exception"
