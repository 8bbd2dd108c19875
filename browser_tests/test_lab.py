"""Every notebook in JupyterLab in a real browser, run as a student runs it (fast mode).

Open it, Run All from the Run menu, wait for the kernel, then check what nbval cannot see: no error
output, no kernel-picker dialog, every figure an image that loaded, every formula typeset (no raw
``$``, no MathJax error), widgets drawn (no "Error displaying widget", no bare ``HBox(...)`` text),
no browser-console error caused by the course, and a live slider that redraws its figure.
A screenshot of each notebook goes to build/screenshots/NN_topic.png.

``COURSE_BROWSER_NOTEBOOKS=00,01`` limits the run to some notebooks (prefixes or names).
``COURSE_BROWSER_SLIDERS`` names the notebooks whose first slider must be moved (default ``auto``:
every notebook whose code makes an ipywidgets slider or calls ``interact``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path

import pytest
from lab import (
    ROOT,
    SCREENSHOTS,
    Lab,
    console_errors,
    full_screenshot,
    has_slider,
    lab_env,
    move_first_slider,
    notebook_report,
    open_notebook,
    problems,
    run_all_from_menu,
    wait_idle,
)

EXECUTED = SCREENSHOTS / "executed"
# matplotlib's to_jshtml player links Font Awesome from a CDN; offline the request fails and the
# player draws with JupyterLab's icons (shared/TESTING.md). Reported in report.json, not a failure.
TOLERATED = re.compile(r"font-awesome", re.I)
NOTEBOOK_TIMEOUT = 240  # seconds for Run All of one notebook in fast mode
SLIDER_SOURCE = re.compile(r"\b(Int|Float|FloatLog|Selection)Slider\(|\binteract(ive)?\(")


def selected_notebooks() -> list[Path]:
    paths = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    wanted = [w.strip() for w in os.environ.get("COURSE_BROWSER_NOTEBOOKS", "").split(",") if w.strip()]
    return [p for p in paths if not wanted or any(p.name.startswith(w) for w in wanted)]


def slider_expected(path: Path) -> bool:
    setting = os.environ.get("COURSE_BROWSER_SLIDERS", "auto").strip()
    if setting != "auto":
        return any(path.name.startswith(w.strip()) for w in setting.split(",") if w.strip())
    nb = json.loads(path.read_text())
    return any(c["cell_type"] == "code" and SLIDER_SOURCE.search("".join(c["source"])) for c in nb["cells"])


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("path", selected_notebooks(), ids=lambda p: p.stem)
def test_notebook_in_the_browser(path, lab, driver, report):
    before = digest(path)
    start = time.time()
    state = open_notebook(driver, lab.url(path.name))
    assert not state["dialog"], f"{path.name}: a dialog instead of the kernel: {state['dialog']!r}"
    wanted = json.loads(path.read_text())["metadata"]["kernelspec"]["name"]
    assert state["kernel"] == wanted, f"{path.name}: runs on {state['kernel']!r}, not {wanted!r}"
    at_open = console_errors(driver)  # e.g. a Markdown image that does not load
    opened = time.time() - start
    run_all_from_menu(driver)
    wait_idle(driver, NOTEBOOK_TIMEOUT)
    ran = time.time() - start - opened
    time.sleep(1.0)  # MathJax and the last images settle
    page = notebook_report(driver)
    failures = problems(page)

    slider = None
    if slider_expected(path):
        if not has_slider(driver):
            failures.append("the notebook makes a slider but the page shows none")
        else:
            slider = move_first_slider(driver)
            if not slider["changed"]:
                failures.append(f"moving the first slider did not change the figure: {slider}")
            elif slider["readout"][0] == slider["readout"][1]:
                failures.append(f"the slider's value did not move: {slider}")
    executed = driver.execute_script("return window.jupyterapp.shell.currentWidget.content.model.toJSON();")
    for cell in executed["cells"]:  # the model writes "attachments": null, which nbformat rejects
        for key in [k for k, v in cell.items() if v is None and k != "execution_count"]:
            del cell[key]
    EXECUTED.mkdir(parents=True, exist_ok=True)  # what the student saw: the offline book test renders it
    (EXECUTED / path.name).write_text(json.dumps(executed))
    console = at_open + console_errors(driver)
    tolerated = [m for m in console if TOLERATED.search(m)]
    failures += [f"browser console: {m}" for m in console if m not in tolerated]
    full_screenshot(driver, SCREENSHOTS / f"{path.stem}.png")
    lab.shutdown_kernels()
    report[path.stem] = {
        "open_s": round(opened, 1),
        "run_all_s": round(ran, 1),
        "total_s": round(time.time() - start, 1),
        "images": page["images"],
        "formulas": page["math"],
        "stderr": page["stderr"],
        "slider": slider,
        "console_tolerated": tolerated,
        "failures": failures,
        "screenshot": str((SCREENSHOTS / f"{path.stem}.png").relative_to(ROOT)),
    }
    assert digest(path) == before, f"{path.name} was modified on disk by the browser session"
    assert not failures, f"{path.name}:\n  " + "\n  ".join(failures)


SLIDER_NOTEBOOK = r"""
import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

def draw(h=1.0):
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot(np.sin(np.linspace(0, 6, 200) * h))
    ax.set_title(f"h = {h:.2f}")
    plt.show()

widgets.interact(draw, h=widgets.FloatSlider(value=1.0, min=0.5, max=3.0, step=0.25));
"""

FROZEN_NOTEBOOK = r"""
import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display

fig, ax = plt.subplots(figsize=(3, 2))
ax.plot([0, 1], [0, 1])
plt.show()
display(widgets.FloatSlider(value=1.0, min=0.5, max=3.0, step=0.25))  # moves, redraws nothing
"""


def write_notebook(
    path: Path, code: str, markdown: str = "# A throwaway slider, $h$", kernel="python3"
) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(markdown), nbformat.v4.new_code_cell(code)]
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    nbformat.write(nb, path)


def test_the_checks_on_throwaway_notebooks(tmp_path, driver):
    """The checks themselves, on notebooks made here: the slider step sees a redraw where there is
    one and none where there is none; a failing cell, a formula that does not parse and a kernelspec
    that does not resolve are all reported."""
    write_notebook(tmp_path / "slider.ipynb", SLIDER_NOTEBOOK)
    write_notebook(tmp_path / "frozen.ipynb", FROZEN_NOTEBOOK)
    write_notebook(tmp_path / "broken.ipynb", "raise ValueError('planted')", markdown="Broken: $\\frac{1}{$")
    write_notebook(tmp_path / "nokernel.ipynb", "1 + 1", kernel="no-such-kernel")
    server = Lab(tmp_path, env=lab_env())
    try:
        state = open_notebook(driver, server.url("nokernel.ipynb"))  # JupyterLab 4 may pick another
        assert state["dialog"] or state["kernel"] != "no-such-kernel", state
        server.shutdown_kernels()
        open_notebook(driver, server.url("broken.ipynb"))
        run_all_from_menu(driver)
        wait_idle(driver, 120)
        found = " | ".join(problems(notebook_report(driver)))
        assert "ValueError: planted" in found, found
        assert "MathJax error" in found or "maths left untypeset" in found, found
        server.shutdown_kernels()
        results = {}
        for name in ("slider", "frozen"):
            open_notebook(driver, server.url(f"{name}.ipynb"))
            run_all_from_menu(driver)
            wait_idle(driver, 120)
            assert not problems(notebook_report(driver)), problems(notebook_report(driver))
            results[name] = move_first_slider(driver, timeout=5 if name == "frozen" else 15)
            server.shutdown_kernels()
        console_errors(driver)
    finally:
        server.stop()
    live, frozen = results["slider"], results["frozen"]
    assert live["changed"] and live["readout"][0] != live["readout"][1], live
    assert live["seconds"] < 5, live
    assert not frozen["changed"] and frozen["readout"][0] != frozen["readout"][1], frozen
