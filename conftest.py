"""Root conftest.

- nbval waits 5 s per output message by default, a known flake on a busy two-core machine
  (../shared/TESTING.md); give each message a minute instead.
- Offline: ``tests/offline`` (a ``sitecustomize`` that makes network connections raise) goes on the
  PYTHONPATH of every process the tests start, so each notebook kernel nbval starts (and each
  pytest-xdist worker) runs with the network blocked. ``COURSE_ALLOW_NETWORK=1`` turns it off.
"""

import os
from pathlib import Path

OFFLINE = Path(__file__).resolve().parent / "tests" / "offline"

if os.environ.get("COURSE_ALLOW_NETWORK", "").strip().lower() not in {"1", "true", "yes", "on"}:
    _paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if str(OFFLINE) not in _paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(OFFLINE), *_paths])


def pytest_collection_modifyitems(config, items):
    for item in items:
        if hasattr(item, "output_timeout"):
            item.output_timeout = 60
