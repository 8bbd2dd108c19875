"""Time every notebook in fast and full mode, each in a fresh kernel, and write a table.

    python benchmarks/notebooks.py                       # every notebook, both modes
    python benchmarks/notebooks.py --modes fast 03 05    # some notebooks, one mode
    python benchmarks/notebooks.py --out benchmarks/results/notebooks.md

Each run executes one notebook with nbclient in a child process (checkpoints as shipped, outputs
discarded) and records its wall-clock seconds and the kernel's peak resident memory (the largest
``ru_maxrss`` among the child's finished children). Fast mode runs as ``make test`` does
(``COURSE_FAST=1 COURSE_THREADS=1``); full mode as a learner does (all of torch's threads).
Targets on 2 CPU cores: under 60 s fast and under 120 s full per notebook.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TARGET = {"fast": 60.0, "full": 120.0}

_CHILD = r"""
import json, resource, sys, time
import nbformat
from nbclient import NotebookClient
path = sys.argv[1]
nb = nbformat.read(path, as_version=4)
start = time.perf_counter()
error = ""
try:
    NotebookClient(nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}}).execute()
except Exception as err:  # report, don't crash the table
    error = f"{type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err).strip() else ''}"[:200]
seconds = time.perf_counter() - start
peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_mib": peak_kib / 1024, "error": error}))
"""


def run(notebook: Path, mode: str) -> dict:
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=str(ROOT))
    if mode == "fast":
        env.update(COURSE_FAST="1", COURSE_THREADS="1")
    else:
        env["COURSE_FAST"] = "0"
        env.pop("COURSE_THREADS", None)
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(notebook), str(notebook.parent)],
        env=env,
        capture_output=True,
        text=True,
        cwd=notebook.parent,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        return {"seconds": float("nan"), "peak_mib": float("nan"), "error": out.stderr.strip()[-200:]}
    return json.loads(lines[-1])


def header() -> str:
    import numpy
    import torch

    return (
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · {platform.machine()} · "
        f"{os.cpu_count()} CPUs · Python {platform.python_version()} · torch {torch.__version__} · "
        f"numpy {numpy.__version__} · load average {os.getloadavg()[0]:.1f} at start"
    )


def main(argv=None) -> str:
    from benchmarks.estimators import table

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("select", nargs="*", help="notebook number prefixes (default: all)")
    p.add_argument("--modes", nargs="+", default=["fast", "full"], choices=["fast", "full"])
    p.add_argument("--out", type=Path, help="also write the table (Markdown) to this file")
    args = p.parse_args(argv)
    notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if args.select:
        notebooks = [nb for nb in notebooks if any(nb.name.startswith(s) for s in args.select)]
    if not notebooks:
        raise SystemExit(f"no notebook matches {args.select}")
    lines = ["# Notebook times (fresh kernel each, checkpoints as shipped)", "", header(), ""]
    rows, misses = [], []
    for nb in notebooks:
        row = [nb.stem]
        for mode in ("fast", "full"):
            if mode not in args.modes:
                row += ["", ""]
                continue
            print(f"{nb.name} ({mode}) …", end=" ", flush=True)
            r = run(nb, mode)
            print(f"{r['seconds']:.1f} s, {r['peak_mib']:.0f} MiB {r['error']}", flush=True)
            ok = r["seconds"] < TARGET[mode] and not r["error"]
            if not ok:
                misses.append(f"{nb.stem} {mode}: {r['seconds']:.1f} s {r['error']}".strip())
            row += [f"{r['seconds']:.1f}" + ("" if ok else " ✗"), f"{r['peak_mib']:.0f}"]
        rows.append(row)
    lines.append(table(rows, ["notebook", "fast (s)", "fast peak MiB", "full (s)", "full peak MiB"]))
    lines.append("")
    lines.append(
        f"Targets: under {TARGET['fast']:.0f} s fast (COURSE_FAST=1, 1 thread, as `make test` runs them) and "
        f"under {TARGET['full']:.0f} s full (all threads). ✗ marks a miss or an error."
    )
    if misses:
        lines += ["", "Misses: " + "; ".join(misses)]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return text


if __name__ == "__main__":
    main()
