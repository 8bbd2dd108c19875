"""Strip outputs and execution counts from notebooks and set the course kernel, in place.

Usage: python scripts/clean_notebooks.py notebooks/*.ipynb   (or `make strip`)
Also converts a jupytext percent script (``.py``) given as argument into a clean ``.ipynb``
next to ``notebooks/`` when ``--from-py OUT.ipynb`` is used.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

KERNELSPEC = {
    "name": "learning-the-data-distribution",
    "display_name": "Python (Learning the data distribution)",
    "language": "python",
}


def clean(nb: dict) -> dict:
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        meta = cell.get("metadata", {})
        for key in ("execution", "ExecuteTime", "collapsed", "scrolled", "lines_to_next_cell"):
            meta.pop(key, None)
    nb["metadata"] = {
        "kernelspec": KERNELSPEC,
        "language_info": {"name": "python"},
    }
    nb.setdefault("nbformat", 4)
    nb.setdefault("nbformat_minor", 5)
    return nb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument(
        "--from-py",
        type=Path,
        default=None,
        help="convert the single percent-format script given into this .ipynb",
    )
    args = parser.parse_args()
    if args.from_py:
        import jupytext

        (src,) = args.paths
        nb = jupytext.read(src)
        jupytext.write(nb, args.from_py)
        targets = [args.from_py]
    else:
        targets = args.paths
    for path in targets:
        nb = json.loads(path.read_text())
        path.write_text(json.dumps(clean(nb), indent=1, ensure_ascii=False) + "\n")
        print(f"cleaned {path}")


if __name__ == "__main__":
    main()
