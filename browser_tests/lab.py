"""JupyterLab and headless Chromium for the browser tests (`make test-browser`).

``Lab`` starts JupyterLab as `make lab` does (in a folder, on 127.0.0.1, with a generated token and a
free port) with throwaway settings: autosave off (the browser must never write into the committed
notebooks) and every cell kept in the page (``windowingMode: none``). ``chrome()`` makes a headless
Chromium driven by selenium; ``offline=True`` blocks its network (no host resolves, a proxy that
refuses). The page checks (``notebook_report``) and the slider step (``move_first_slider``) are
plain functions so that a test can point them at any notebook.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "build" / "screenshots"
CHROMIUM = ("chromium", "chromium-browser", "google-chrome", "chrome")
CHROMEDRIVER = ("chromedriver",)
INSTALL_HINT = "Debian/Ubuntu: sudo apt-get install chromium chromium-driver"

SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}


def find_browser() -> tuple[str, str] | None:
    """(chromium, chromedriver) paths, or None when either is missing."""
    browser = os.environ.get("CHROMIUM") or next(filter(None, map(shutil.which, CHROMIUM)), None)
    driver = os.environ.get("CHROMEDRIVER") or next(filter(None, map(shutil.which, CHROMEDRIVER)), None)
    return (browser, driver) if browser and driver else None


def lab_env() -> dict:
    """The environment of the JupyterLab under test: the course's fast mode, one thread."""
    env = dict(os.environ)
    env.setdefault("COURSE_FAST", "1")
    env.setdefault("COURSE_THREADS", "1")
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A JupyterLab server in ``root``; ``url(path)`` opens a notebook with the token."""

    def __init__(self, root: Path, env: dict | None = None, log: Path | None = None):
        self.root = Path(root)
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.tmp = Path(tempfile.mkdtemp(prefix="course-lab-"))
        for plugin, values in SETTINGS.items():
            path = self.tmp / "settings" / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        (self.tmp / "workspaces").mkdir()
        cmd = [
            sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
            f"--port={self.port}", f"--IdentityProvider.token={self.token}",
            f"--LabApp.user_settings_dir={self.tmp / 'settings'}",
            f"--LabApp.workspaces_dir={self.tmp / 'workspaces'}",
            "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: read the cells' outputs
            "--ServerApp.port_retries=0",
        ]  # fmt: skip
        if os.getuid() == 0:
            cmd.append("--allow-root")
        run_env = dict(os.environ if env is None else env)
        run_env.pop("MPLBACKEND", None)  # Agg would hide every figure: the kernel picks inline
        self.log = open(log or self.tmp / "lab.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            cmd, cwd=self.root, env=run_env, stdout=self.log, stderr=subprocess.STDOUT
        )
        self._wait()

    def api(self, path: str, method: str = "GET"):
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/{path}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
        return json.loads(body) if body else None

    def _wait(self, timeout: float = 90) -> None:
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited: see {self.log.name}")
            try:
                self.api("status")
                return
            except OSError:
                time.sleep(0.5)
        raise TimeoutError(f"JupyterLab did not answer in {timeout} s: see {self.log.name}")

    def url(self, notebook: str) -> str:
        return f"http://127.0.0.1:{self.port}/lab/tree/{notebook}?token={self.token}&reset"

    def kernel_of(self, notebook: str) -> str | None:
        """The name of the kernel JupyterLab started for ``notebook`` (None: no session)."""
        for session in self.api("sessions") or []:
            if session.get("path", "").endswith(notebook) and session.get("kernel"):
                return session["kernel"]["name"]
        return None

    def shutdown_kernels(self) -> None:
        for session in self.api("sessions") or []:
            self.api(f"sessions/{session['id']}", "DELETE")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def chrome(offline: bool = False, width: int = 1400, height: int = 1000):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver = find_browser()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        f"--window-size={width},{height}",
    ):
        options.add_argument(arg)
    if offline:  # nothing resolves but this machine, and any request that still tries meets a dead proxy
        options.add_argument("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1")
        options.add_argument("--proxy-server=http://127.0.0.1:9")
        options.add_argument("--proxy-bypass-list=<-loopback>")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    options.unhandled_prompt_behavior = "accept"  # "leave this page?" between notebooks
    return webdriver.Chrome(service=Service(driver), options=options)


def wait_for(predicate, timeout: float, what: str, interval: float = 0.5):
    end = time.time() + timeout
    while time.time() < end:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


# --- a notebook in JupyterLab ---------------------------------------------------------------

JS_STATE = r"""
const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
const dialog = document.querySelector('.jp-Dialog');
const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
const kernel = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
return {
  kernel: kernel ? kernel.name : null,
  kernel_status: kernel ? kernel.status : null,
  cells: panel ? panel.querySelectorAll('.jp-Cell').length : 0,
  status: panel ? (panel.querySelector('.jp-Notebook-ExecutionIndicator') || document.querySelector(
      '.jp-Notebook-ExecutionIndicator') || {dataset: {}}).dataset.status : null,
  busy: panel ? Array.from(panel.querySelectorAll('.jp-InputPrompt')).filter(
      p => p.textContent.includes('*')).length : 0,
  dialog: dialog ? dialog.innerText.slice(0, 300) : null,
  code: panel ? panel.querySelectorAll('.jp-CodeCell').length : 0,
  executed: panel ? Array.from(panel.querySelectorAll('.jp-CodeCell .jp-InputPrompt')).filter(
      p => /\[\d+\]/.test(p.textContent)).length : 0,
};
"""


def open_notebook(driver, url: str, timeout: float = 120) -> dict:
    """Open a notebook and wait for its kernel; a kernel-picker dialog is returned, not waited out."""
    driver.get(url)

    def ready():
        s = driver.execute_script(JS_STATE)
        return s if (s["dialog"] or (s["cells"] and s["kernel_status"] == "idle")) else None

    return wait_for(ready, timeout, "the notebook and its kernel")


def run_all_from_menu(driver, tries: int = 3) -> None:
    """Run > Run All Cells, clicked as a student does; returns once the first cell has started."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    enabled = 'li.lm-Menu-item[data-command="runmenu:run-all"]:not(.lm-mod-disabled)'
    for _ in range(tries):
        items = driver.find_elements(By.CSS_SELECTOR, "li.lm-MenuBar-item")
        next(i for i in items if i.text.strip() == "Run").click()
        try:
            wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, enabled), 10, "Run All Cells")[0].click()
        except TimeoutError:
            driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)  # close the menu, try again
            continue

        def started():
            s = driver.execute_script(JS_STATE)
            return s["busy"] > 0 or (s["code"] and s["executed"] == s["code"])

        try:
            wait_for(started, 20, "Run All to start", interval=0.2)
            return
        except TimeoutError:
            continue
    raise AssertionError("Run > Run All Cells did not start the notebook")


def wait_idle(driver, timeout: float, polls: int = 4) -> None:
    """Wait until no prompt reads [*] and the kernel stays idle for ``polls`` polls in a row."""
    end, calm = time.time() + timeout, 0
    while time.time() < end:
        s = driver.execute_script(JS_STATE)
        calm = calm + 1 if (s["busy"] == 0 and s["status"] == "idle" and s["kernel_status"] == "idle") else 0
        if calm >= polls:
            return
        time.sleep(0.5)
    raise TimeoutError(f"the notebook was still running after {timeout:.0f} s")


JS_REPORT = r"""
const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
const out = {errors: [], stderr: [], images: 0, broken: [], figure_text: [], raw_math: [],
             math: 0, math_errors: [], widget_errors: [], widget_text: [], loading: 0};
const app = window.jupyterapp;
const widget = app && app.shell.currentWidget;
if (widget && widget.content && widget.content.model) {
  const cells = widget.content.model.cells;
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i);
    if (cell.type !== 'code') continue;
    for (const o of cell.outputs.toJSON()) {
      if (o.output_type === 'error') out.errors.push(`cell ${i}: ${o.ename}: ${o.evalue}`);
      if (o.output_type === 'stream' && o.name === 'stderr') {
        const text = Array.isArray(o.text) ? o.text.join('') : o.text;
        out.stderr.push(`cell ${i}: ${text.trim().slice(0, 200)}`);
      }
    }
  }
}
panel.querySelectorAll('.jp-OutputArea-output img, .jp-RenderedMarkdown img').forEach((img, k) => {
  out.images += 1;
  if (!img.complete || img.naturalWidth === 0) out.broken.push(k);
});
panel.querySelectorAll('.jp-OutputArea-output[data-mime-type="text/plain"]').forEach(o => {
  const t = o.innerText.trim();
  if (/^<Figure size \d+x\d+ with \d+ Axes>$/m.test(t)) out.figure_text.push(t.slice(0, 80));
  if (/^(HBox|VBox|Box|GridBox|IntSlider|FloatSlider|FloatLogSlider|IntRangeSlider|FloatRangeSlider|interactive|Output|Play|Button|Dropdown|Tab|Accordion|Label|Checkbox|ToggleButtons|RadioButtons|SelectionSlider)\(/.test(t))
    out.widget_text.push(t.slice(0, 80));
});
panel.querySelectorAll('.jp-RenderedMarkdown').forEach(md => {
  out.math += md.querySelectorAll('mjx-container').length;
  md.querySelectorAll('mjx-merror, [data-mjx-error]').forEach(e =>
    out.math_errors.push((e.getAttribute('data-mjx-error') || e.textContent).slice(0, 120)));
  const copy = md.cloneNode(true);
  copy.querySelectorAll('mjx-container, code, pre, script, style').forEach(e => e.remove());
  const text = copy.textContent;
  const m = text.match(/\$\$|\$[^$\s][^$]*\$|\\\(|\\\[|\\begin\{/);
  if (m) out.raw_math.push(text.slice(Math.max(0, m.index - 40), m.index + 60).replace(/\s+/g, ' '));
});
const text = panel.innerText;
if (text.includes('Error displaying widget')) out.widget_errors.push('Error displaying widget');
out.loading = (text.match(/Loading widget\.\.\./g) || []).length;
return out;
"""


def notebook_report(driver) -> dict:
    """What a student sees after Run All: errors, figures, maths and widgets (see JS_REPORT)."""
    return driver.execute_script(JS_REPORT)


def problems(report: dict) -> list[str]:
    """The report's failures, one line each (stderr warnings are listed, not failures)."""
    lines = [f"error output: {e}" for e in report["errors"]]
    lines += [f"figure {k} did not load" for k in report["broken"]]
    lines += [f"figure shown as text, not an image: {t}" for t in report["figure_text"]]
    lines += [f"maths left untypeset: …{t}…" for t in report["raw_math"]]
    lines += [f"MathJax error: {t}" for t in report["math_errors"]]
    lines += [f"widget error: {t}" for t in report["widget_errors"]]
    lines += [f"widget shown as text: {t}" for t in report["widget_text"]]
    if report["loading"]:
        lines.append(f"{report['loading']} widget(s) never finished loading")
    return lines


# Console messages of JupyterLab itself on an offline machine, not caused by the course.
LAB_NOISE = re.compile(r"favicon|/api/(workspaces|lab)|lsp|jupyterlab_pygments|extension manager|pypi", re.I)


def console_errors(driver) -> list[str]:
    """SEVERE browser-console messages since the last call, minus JupyterLab's own offline noise."""
    logs = driver.get_log("browser")
    return [e["message"][:300] for e in logs if e["level"] == "SEVERE" and not LAB_NOISE.search(e["message"])]


SCROLLER = (
    "document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer')"
    " || document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook')"
)


def full_screenshot(driver, path: Path, max_height: int = 16000) -> None:
    """The whole notebook in one PNG: hide the file browser, grow the window to the notebook's
    height, scroll to the top, shoot, restore."""
    driver.execute_script(
        "const app = window.jupyterapp;"
        "if (app && !app.shell.leftCollapsed) app.commands.execute('application:toggle-left-area');"
    )
    height = driver.execute_script(f"const s = {SCROLLER}; return s ? s.scrollHeight : 1000;")
    size = driver.get_window_size()
    driver.set_window_size(size["width"], min(max_height, int(height) + 200))
    time.sleep(1.0)
    driver.execute_script(f"const s = {SCROLLER}; if (s) s.scrollTop = 0;")
    time.sleep(0.5)
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
    driver.set_window_size(size["width"], size["height"])


# --- the live-widget step -------------------------------------------------------------------

JS_SLIDER = r"""
const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
const slider = panel && panel.querySelector('.jupyter-widgets.widget-slider, .jupyter-widgets .widget-slider');
if (!slider) return null;
const cell = slider.closest('.jp-Cell');
const scope = (cell && cell.querySelector('.jp-OutputArea-output img')) ? cell : panel;
const readout = slider.querySelector('.widget-readout');
return {
  images: Array.from(scope.querySelectorAll('.jp-OutputArea-output img')).map(i => i.src),
  readout: readout ? (readout.value !== undefined && readout.value !== '' ? readout.value : readout.textContent) : null,
};
"""


def has_slider(driver) -> bool:
    return driver.execute_script(JS_SLIDER) is not None


def move_first_slider(driver, presses: int = 3, timeout: float = 15) -> dict:
    """Move the page's first ipywidgets slider with the keyboard; return how the figure responded.

    Focuses the slider's handle (noUiSlider in ipywidgets 8, or the slider itself), presses the right
    arrow ``presses`` times, then waits until the images of the slider's cell (or of the notebook,
    when its own cell shows none) differ from before. Returns ``{"readout": (before, after),
    "changed": bool, "seconds": float}``; raises when the page has no slider.
    """
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    before = driver.execute_script(JS_SLIDER)
    if before is None:
        raise AssertionError("no ipywidgets slider on the page")
    slider = driver.find_element(By.CSS_SELECTOR, ".jp-NotebookPanel:not(.lm-mod-hidden) .widget-slider")
    handles = slider.find_elements(By.CSS_SELECTOR, ".noUi-handle, .ui-slider-handle, input[type=range]")
    target = handles[0] if handles else slider
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", target)
    ActionChains(driver).move_to_element(target).click().perform()
    start = time.time()
    for _ in range(presses):
        ActionChains(driver).send_keys(Keys.ARROW_RIGHT).perform()
        time.sleep(0.05)
    after, changed = before, False
    while time.time() - start < timeout:
        after = driver.execute_script(JS_SLIDER)
        if after and after["images"] and after["images"] != before["images"]:
            changed = True
            break
        time.sleep(0.1)
    seconds = time.time() - start
    # the figure is redrawn once per value: wait for the kernel before the next step looks around
    wait_idle(driver, 60, polls=2)
    after = driver.execute_script(JS_SLIDER) or after
    return {
        "readout": (before["readout"], after["readout"]),
        "changed": changed,
        "seconds": round(seconds, 2),
    }
