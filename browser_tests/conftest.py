"""Fixtures of the browser tests: one JupyterLab on notebooks/ and one headless Chromium per run.

Run them with `make test-browser` (fast mode, one kernel thread). Without Chromium and chromedriver
every test is skipped with one line that says how to install them. Timings and what each notebook
showed go to build/screenshots/report.json next to the screenshots.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lab import INSTALL_HINT, ROOT, SCREENSHOTS, Lab, chrome, find_browser, lab_env  # noqa: E402

REPORT: dict[str, dict] = {}


def pytest_collection_modifyitems(config, items):
    if find_browser() is None:
        skip = pytest.mark.skip(reason=f"no Chromium/chromedriver found ({INSTALL_HINT})")
        for item in items:
            item.add_marker(skip)


def pytest_sessionfinish(session, exitstatus):
    if REPORT:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / "report.json"
        old = json.loads(path.read_text()) if path.exists() else {}
        old.update(REPORT)
        path.write_text(json.dumps(old, indent=1, sort_keys=True) + "\n")


@pytest.fixture(scope="session")
def report():
    return REPORT


@pytest.fixture(scope="session")
def lab():
    """JupyterLab serving notebooks/, as `make lab` starts it."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    server = Lab(ROOT / "notebooks", env=lab_env(), log=SCREENSHOTS / "jupyterlab.log")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def driver():
    d = chrome()
    yield d
    d.quit()


@pytest.fixture(scope="session")
def offline_driver():
    d = chrome(offline=True)
    yield d
    d.quit()
