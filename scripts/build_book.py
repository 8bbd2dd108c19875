"""Execute every notebook in full mode and write HTML copies plus an index to build/book/.

Usage: python scripts/build_book.py [--fast] [notebooks/01_*.ipynb ...]   (or `make book`)
"""

from __future__ import annotations

import argparse
import html
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "book"


def title_of(path: Path) -> str:
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return path.stem


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--fast", action="store_true", help="render the fast (test) mode instead")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    args = parser.parse_args()
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    OUT.mkdir(parents=True, exist_ok=True)
    env = dict(
        os.environ,
        COURSE_FAST="1" if args.fast else "0",
        MPLBACKEND="module://matplotlib_inline.backend_inline",
    )
    rows, failed = [], []
    for nb in notebooks:
        nb = nb.resolve()
        start = time.time()
        cmd = [
            sys.executable,
            "-m",
            "jupyter",
            "nbconvert",
            "--to",
            "html",
            "--execute",
            f"--ExecutePreprocessor.timeout={args.timeout}",
            "--ExecutePreprocessor.kernel_name=python3",
            "--output-dir",
            str(OUT),
            str(nb),
        ]
        print(f"executing {nb.name} …", flush=True)
        result = subprocess.run(cmd, cwd=nb.parent, env=env)
        seconds = time.time() - start
        ok = result.returncode == 0
        if not ok:
            failed.append(nb.name)
        rows.append((nb.stem, title_of(nb), seconds, ok))
        print(f"  {'ok' if ok else 'FAILED'} in {seconds:.0f} s", flush=True)
    items = "\n".join(
        f'<li><a href="{html.escape(stem)}.html">{html.escape(title)}</a>'
        f" <small>({seconds:.0f} s{'' if ok else ', FAILED'})</small></li>"
        for stem, title, seconds, ok in rows
    )
    (OUT / "index.html").write_text(
        "<!doctype html><meta charset='utf-8'><title>Learning the data distribution</title>"
        "<style>body{font-family:sans-serif;max-width:48em;margin:2em auto;line-height:1.5}</style>"
        "<h1>Learning the data distribution</h1>"
        f"<p>Executed notebooks ({'fast' if args.fast else 'full'} mode).</p><ol>{items}</ol>\n"
    )
    print(f"wrote {OUT / 'index.html'}")
    if failed:
        sys.exit(f"these notebooks failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
