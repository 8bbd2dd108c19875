"""Time every notebook in fast and full mode, each in a fresh kernel, and write a table.

    python benchmarks/notebooks.py                       # every notebook, both modes
    python benchmarks/notebooks.py --modes fast 03 05    # some notebooks, one mode
    python benchmarks/notebooks.py --out benchmarks/results/notebooks.md \
        --tables benchmarks/results/model_comparison.md   # + lesson 13's tables from its full run
    python benchmarks/notebooks.py --modes full --load 3 05 06   # quiet, then beside 3 busy processes

Each run executes one notebook with nbclient in a child process (checkpoints as shipped, outputs
discarded) and records its wall-clock seconds and the kernel's peak resident memory (the largest
``ru_maxrss`` among the child's finished children). Fast mode runs as ``make test`` does
(``COURSE_FAST=1 COURSE_THREADS=1``); full mode as a learner does (no thread variable set: the
course's default; ``--threads N`` sets ``COURSE_THREADS=N`` for it). The thread variables of the
calling shell (``OMP_NUM_THREADS`` and the like, which ``/work/train-slot`` sets) are not passed on.
Targets on 2 CPU cores: under 60 s fast and under 120 s full per notebook.

``--load N`` times each run a second time beside N competing CPU-bound processes (busy Python
loops, started before the notebook and killed after it) and adds those columns and the ratio
loaded / quiet: with N busy processes on C cores a one-thread notebook gets about C / (N + 1) of a
core, so the ratio it should show is about (N + 1) / C once N + 1 > C — far more means the
notebook's threads waste the cores they are given. Other programs running meanwhile count as load
too: the header prints the load average, and each row the one at the start of its runs.
"""

from __future__ import annotations

import argparse
import contextlib
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


# Thread settings of the calling shell that would change what is measured (a learner sets none).
THREAD_VARIABLES = (
    "COURSE_THREADS",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OMP_WAIT_POLICY",
    "GOMP_SPINCOUNT",
    "KMP_BLOCKTIME",
)
BUSY = "while True:\n    pass"


@contextlib.contextmanager
def competing(n: int):
    """``n`` CPU-bound processes (busy Python loops) running while the block runs."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"load must be a whole number of processes ≥ 0, got {n!r}.")
    procs = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(n)]
    try:
        yield procs
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait()


def run(notebook: Path, mode: str, tables: bool = False, threads: int | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    env.update(MPLBACKEND="Agg", PYTHONPATH=str(ROOT))
    if mode == "fast":
        env.update(COURSE_FAST="1", COURSE_THREADS="1")
    else:
        env["COURSE_FAST"] = "0"
        if threads is not None:
            env["COURSE_THREADS"] = str(threads)
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
    p.add_argument(
        "--load",
        type=int,
        default=0,
        metavar="N",
        help="also time each run beside N competing CPU-bound processes (default 0: quiet only)",
    )
    p.add_argument("--threads", type=int, metavar="N", help="COURSE_THREADS for full mode (default unset)")
    args = p.parse_args(argv)
    if args.load < 0:
        p.error(f"--load must be ≥ 0, got {args.load}")
    if args.threads is not None and args.threads < 1:
        p.error(f"--threads must be ≥ 1, got {args.threads}")
    notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if args.select:
        notebooks = [nb for nb in notebooks if any(nb.name.startswith(s) for s in args.select)]
    if not notebooks:
        raise SystemExit(f"no notebook matches {args.select}")
    head = header()
    threads = "" if args.threads is None else f", full mode with COURSE_THREADS={args.threads}"
    lines = ["# Notebook times (fresh kernel each, checkpoints as shipped)", "", head + threads, ""]
    rows, misses = [], []
    modes = [m for m in ("fast", "full") if m in args.modes]
    for nb in notebooks:
        row = [nb.stem]
        for mode in modes:
            print(f"{nb.name} ({mode}) …", end=" ", flush=True)
            dump = args.tables is not None and mode == "full" and nb.name.startswith(TABLE_NOTEBOOK)
            load_before = os.getloadavg()[0]
            r = run(nb, mode, tables=dump, threads=args.threads)
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
            if args.load:
                print(f"{nb.name} ({mode}, beside {args.load} busy process(es)) …", end=" ", flush=True)
                with competing(args.load):
                    loaded = run(nb, mode, threads=args.threads)
                print(f"{loaded['seconds']:.1f} s {loaded['error']}", flush=True)
                if loaded["error"]:
                    misses.append(f"{nb.stem} {mode} loaded: {loaded['error']}")
                ratio = loaded["seconds"] / r["seconds"]
                row += [f"{loaded['seconds']:.1f}" + (" ✗" if loaded["error"] else ""), f"{ratio:.2f}"]
            row.append(f"{load_before:.1f}")
        rows.append(row)
    names = []
    for mode in modes:
        names += [f"{mode} (s)", f"{mode} peak MiB"]
        if args.load:
            names += [f"{mode} +{args.load} busy (s)", "× quiet"]
        names.append("load avg")
    lines.append(table(rows, ["notebook", *names]))
    lines.append("")
    lines.append(
        f"Targets: under {TARGET['fast']:.0f} s fast (COURSE_FAST=1, 1 thread, as `make test` runs them) and "
        f"under {TARGET['full']:.0f} s full (the course's default threads). ✗ marks a miss or an error. "
        "load avg: the 1-minute load average when the row's runs of that mode began."
    )
    if args.load:
        cores = os.cpu_count() or 1
        lines.append(
            f"+{args.load} busy: the same run beside {args.load} CPU-bound process(es) on {cores} cores; "
            f"a notebook using one core fairly would take about {max(1.0, (args.load + 1) / cores):.1f} × "
            "its quiet time."
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
