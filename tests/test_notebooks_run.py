"""Notebooks: offline, deterministic, and safe to run twice — one kernel, two passes.

Each selected notebook is executed in fast mode in ONE kernel with the network blocked (the
``sitecustomize`` in ``tests/offline``): every code cell in order (pass 1), the record of checked
numbers is read back (``helpers.check.recorded()``) and cleared, then every cell again in the same
kernel (pass 2: "Run All" twice must raise nothing) and the record is read again. The two records
must be identical: the first cell re-seeds (``helpers.seed_everything(0)``), so any difference is
a notebook whose checked numbers depend on leftover state or an unseeded random source.

Cost: two fast-mode executions per notebook. nbval already executes EVERY notebook once in
``make test`` (offline too: the root conftest blocks the network in its kernels), so ``make test``
runs this double pass only on a cheap subset — ``COURSE_TWICE`` (comma-separated name prefixes,
default ``DEFAULT_TWICE``) — and ``make test-notebooks`` runs it on all of ``notebooks/*.ipynb``
(``COURSE_TWICE=all``).
"""

from __future__ import annotations

import json
import os
import queue
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
OFFLINE = ROOT / "tests" / "offline"
#: Notebooks run twice in `make test`: one cheap lesson whose checked numbers come from several
#: random sources (04: sampling, k-means and random EM starts, ~25 s a pass on an idle machine).
#: `make test-notebooks` runs every notebook (01 passed too: ~15 s a pass; 05: ~70 s a pass).
DEFAULT_TWICE = "04_"
CELL_TIMEOUT = 300


def _selected() -> list[Path]:
    spec = os.environ.get("COURSE_TWICE", DEFAULT_TWICE).strip()
    if spec.lower() == "all":
        return NOTEBOOKS
    prefixes = [p.strip() for p in spec.split(",") if p.strip()]
    return [nb for nb in NOTEBOOKS if any(nb.name.startswith(p) for p in prefixes)]


class CellError(AssertionError):
    pass


def _run(kc, code: str, label: str) -> str:
    """Execute ``code``; return its stdout; raise CellError with the traceback on an error."""
    out: list[str] = []

    def hook(msg):
        if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
            out.append(msg["content"]["text"])

    try:
        reply = kc.execute_interactive(code, timeout=CELL_TIMEOUT, output_hook=hook, allow_stdin=False)
    except (TimeoutError, queue.Empty):
        raise CellError(f"{label}: no reply within {CELL_TIMEOUT} s") from None
    content = reply["content"]
    if content["status"] != "ok":
        tb = "\n".join(content.get("traceback", []))
        raise CellError(f"{label} raised {content.get('ename')}: {content.get('evalue')}\n{tb}")
    return "".join(out)


_READ_RECORD = (
    "import json as _json, helpers.check as _check\n"
    "print('@@RECORD@@' + _json.dumps(_check.recorded()))\n"
    "_check.clear_record()"
)


def _record(kc, label: str) -> list:
    text = _run(kc, _READ_RECORD, label)
    line = next(x for x in text.splitlines() if x.startswith("@@RECORD@@"))
    return json.loads(line.removeprefix("@@RECORD@@"))


def _kernel_env() -> dict:
    env = dict(os.environ)
    env.update(COURSE_FAST="1", COURSE_THREADS=env.get("COURSE_THREADS", "1"), MPLBACKEND="Agg")
    env.pop("COURSE_ALLOW_NETWORK", None)  # this test is the offline proof: never allow it here
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([str(OFFLINE), str(ROOT), *[p for p in paths if p != str(OFFLINE)]])
    return env


def run_twice(path: Path) -> tuple[list, list]:
    """Execute every code cell of ``path`` twice in one offline fast-mode kernel → (record 1, record 2)."""
    from jupyter_client.manager import start_new_kernel

    nb = nbformat.read(path, as_version=4)
    cells = [(i, c.source) for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip()]
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(path.parent), env=_kernel_env())
    try:
        records = []
        for p in (1, 2):
            for i, src in cells:
                _run(kc, src, f"{path.name}, pass {p}, cell {i}")
            records.append(_record(kc, f"{path.name}, pass {p}, reading the record"))
        return records[0], records[1]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def _timing(entry) -> bool:
    """A check of a duration (its name mentions seconds): wall/CPU time is never reproducible."""
    return "second" in str(entry[1]).lower()


def _differences(a: list, b: list) -> list[str]:
    a = [x for x in a if not _timing(x)]
    b = [x for x in b if not _timing(x)]
    out = []
    if len(a) != len(b):
        out.append(f"{len(a)} checks ran in pass 1, {len(b)} in pass 2")
    for x, y in zip(a, b):
        if x != y:
            out.append(f"{x[0]}({x[1]!r}): {x[2]!r} in pass 1, {y[2]!r} in pass 2")
    return out


@pytest.mark.notebooks
@pytest.mark.parametrize("path", _selected(), ids=lambda p: p.stem)
def test_notebook_offline_deterministic_and_rerunnable(path):
    first, second = run_twice(path)
    uses_checks = "check." in path.read_text()
    if uses_checks:
        assert first, f"{path.name} calls helpers.check but no check was recorded"
    diffs = _differences(first, second)
    assert not diffs, f"{path.name}: the checked numbers changed between two runs:\n" + "\n".join(diffs[:20])


def test_kernel_is_offline():
    """The kernel the notebooks run in cannot reach the network; the loopback still works."""
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", cwd=str(ROOT), env=_kernel_env())
    try:
        out = _run(
            kc,
            "import socket, urllib.request\n"
            "try:\n"
            "    urllib.request.urlopen('https://example.org', timeout=5)\n"
            "    print('ONLINE')\n"
            "except OSError as err:\n"
            "    print('OFFLINE', err)\n"
            "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); c = socket.socket()\n"
            "c.connect(s.getsockname()); print('LOOPBACK OK')",
            "offline probe",
        )
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert "OFFLINE" in out and "network access blocked" in out and "LOOPBACK OK" in out


def test_record_of_checks_is_additive_and_readable():
    import numpy as np

    from helpers import check

    check.clear_record()
    check.close_to(1.0, 1.0, "one", quiet=True)
    check.greater(2.0, 1.0, "two", quiet=True)
    check.close_to(np.arange(100.0), np.arange(100.0), "ramp", quiet=True)
    with pytest.raises(check.CheckFailed):
        check.greater(0.0, 1.0, "failed checks are not recorded", quiet=True)
    rec = check.recorded()
    assert rec[:2] == [("close_to", "one", 1.0), ("greater", "two", [2.0, 1.0])]
    assert rec[2] == ("close_to", "ramp", {"shape": [100], "sum": 4950.0, "min": 0.0, "max": 99.0})
    json.dumps(rec)
    check.clear_record()
    assert check.recorded() == []
