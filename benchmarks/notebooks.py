"""Time every notebook in fast and full mode, each in a fresh kernel, and write a table.

    python benchmarks/notebooks.py                       # every notebook, both modes
    python benchmarks/notebooks.py --modes fast 03 05    # some notebooks, one mode
    python benchmarks/notebooks.py --out benchmarks/results/notebooks.md \
        --tables benchmarks/results/model_comparison.md   # + lesson 13's tables from its full run

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
tables = len(sys.argv) > 3
if tables:  # one more cell, after the timed ones: every DataFrame named table_* as JSON
    nb.cells.append(nbformat.v4.new_code_cell(sys.argv[3]))
client = NotebookClient(nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}})
seconds = None
try:
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            if tables and index == len(nb.cells) - 1:
                seconds = time.perf_counter() - start
            client.execute_cell(cell, index)
except Exception as err:  # report, don't crash the table
    error = f"{type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err).strip() else ''}"[:200]
if seconds is None:
    seconds = time.perf_counter() - start
peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
found = {}
if tables and not error:
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.get("output_type") == "stream")
    found = json.loads(text)
print(json.dumps({"seconds": seconds, "peak_mib": peak_kib / 1024, "error": error, "tables": found}))
"""

# Appended to lesson 13's full run when --tables is given (not timed): its result tables as JSON.
_DUMP_TABLES = r"""
import json as _json
import pandas as _pd
print(_json.dumps({
    _name: {"index": [str(i) for i in _t.index], "columns": [str(c) for c in _t.columns],
            "data": [[str(x) for x in row] for row in _t.values.tolist()]}
    for _name, _t in dict(globals()).items() if _name.startswith("table_") and isinstance(_t, _pd.DataFrame)
}))
"""
TABLE_NOTEBOOK = "13_"
TABLE_TITLES = {
    "table_nll2d": "2-D toys: held-out negative log-likelihood (nats, ± standard error; ≤ marks an upper bound, −ELBO)",
    "table_sw2d": "2-D toys: sliced Wasserstein distance to fresh true samples (× the true-vs-true floor)",
    "table_coverage": "Ring of 8 Gaussians: modes covered and high-quality share",
    "table_digits": "Digits: the judge's verdict, memorisation, sampling speed, training time",
    "table_binarised": "Binarised digits: held-out log-likelihood",
    "table_dequantised": "Dequantised digits (8-bit pixels): held-out log-likelihood",
}


def run(notebook: Path, mode: str, tables: bool = False) -> dict:
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=str(ROOT))
    if mode == "fast":
        env.update(COURSE_FAST="1", COURSE_THREADS="1")
    else:
        env["COURSE_FAST"] = "0"
        env.pop("COURSE_THREADS", None)
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(notebook), str(notebook.parent)]
        + ([_DUMP_TABLES] if tables else []),
        env=env,
        capture_output=True,
        text=True,
        cwd=notebook.parent,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        return {
            "seconds": float("nan"),
            "peak_mib": float("nan"),
            "error": out.stderr.strip()[-200:],
            "tables": {},
        }
    return json.loads(lines[-1])


def tables_markdown(tables: dict) -> str:
    """Lesson 13's tables (name → index, columns, data) as Markdown sections, in the notebook's order."""
    from benchmarks.estimators import table

    parts = []
    for name, t in tables.items():
        parts += [f"## {TABLE_TITLES.get(name, name)}", ""]
        parts.append(table([[i] + row for i, row in zip(t["index"], t["data"])], [""] + t["columns"]))
        parts.append("")
    return "\n".join(parts)


def header() -> str:
    import numpy
    import torch

    return (
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · {platform.machine()} · "
        f"{os.cpu_count()} CPUs · Python {platform.python_version()} · torch {torch.__version__} · "
        f"numpy {numpy.__version__} · load average {os.getloadavg()[0]:.1f} at start"
    )


def main(argv=None) -> str:
    from benchmarks.estimators import table, write_markdown

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("select", nargs="*", help="notebook number prefixes (default: all)")
    p.add_argument("--modes", nargs="+", default=["fast", "full"], choices=["fast", "full"])
    p.add_argument("--out", type=Path, help="also write the table (Markdown) to this file")
    p.add_argument(
        "--tables",
        type=Path,
        help="write lesson 13's result tables (from its full-mode run) to this Markdown file",
    )
    args = p.parse_args(argv)
    notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if args.select:
        notebooks = [nb for nb in notebooks if any(nb.name.startswith(s) for s in args.select)]
    if not notebooks:
        raise SystemExit(f"no notebook matches {args.select}")
    head = header()
    lines = ["# Notebook times (fresh kernel each, checkpoints as shipped)", "", head, ""]
    rows, misses = [], []
    for nb in notebooks:
        row = [nb.stem]
        for mode in ("fast", "full"):
            if mode not in args.modes:
                row += ["", ""]
                continue
            print(f"{nb.name} ({mode}) …", end=" ", flush=True)
            dump = args.tables is not None and mode == "full" and nb.name.startswith(TABLE_NOTEBOOK)
            r = run(nb, mode, tables=dump)
            if dump and r["tables"]:
                write_markdown(
                    args.tables,
                    "# Lesson 13: every model on the same data (full mode, checkpoints as shipped)\n\n"
                    + head
                    + "\n\n"
                    + tables_markdown(r["tables"]),
                )
            print(f"{r['seconds']:.1f} s, {r['peak_mib']:.0f} MiB {r['error']}", flush=True)
            if dump and r["tables"]:
                print(f"lesson 13's tables → {args.tables}", flush=True)
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
        write_markdown(args.out, text)
    return text


if __name__ == "__main__":
    main()
