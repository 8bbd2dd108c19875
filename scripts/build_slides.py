"""Write each lesson as reveal.js slides (HTML, offline) to build/slides/, with an index.

Usage: python scripts/build_slides.py [--fast] [--no-execute] [--executed DIR] [--out DIR]
[notebooks/01_*.ipynb ...]   (or `make slides`). ``--executed DIR`` takes the executed copies that
``build_book.py --keep DIR`` wrote (where newer than the notebook) instead of running them again.

The slide of each cell comes from its ``slideshow`` metadata, which ``scripts/clean_notebooks.py``
(``make strip``) derives from the content. reveal.js is the copy in ``assets/vendor/reveal.js`` and
MathJax the copy in ``assets/vendor/mathjax``: both are copied next to the slides,
so they present with no network. Open ``build/slides/NN_topic.slides.html`` in a browser (arrows
move, ``f`` is full screen, Esc the overview).
To present live, with a kernel, use RISE inside JupyterLab instead (see the README).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from build_book import ROOT, TEMPLATES, build, executed_copies, notebooks_from
from clean_notebooks import slide_types

OUT = ROOT / "build" / "slides"
REVEAL = ROOT / "assets" / "vendor" / "reveal.js"


def with_slide_types(nb) -> None:
    """Cells without ``slideshow`` metadata (a notebook not yet through `make strip`) get clean's."""
    for cell, kind in zip(nb.cells, slide_types(nb.cells)):
        cell.metadata.setdefault("slideshow", {"slide_type": kind})


def slides_exporter():
    from nbconvert import SlidesExporter

    return SlidesExporter(
        template_name="course_reveal",
        extra_template_basedirs=[str(TEMPLATES)],
        extra_template_paths=[str(TEMPLATES)],
        mathjax_url="mathjax/tex-svg-full.js",
        reveal_url_prefix="reveal.js",
        reveal_theme="white",
        reveal_transition="none",
        reveal_number="c/t",
        embed_images=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--fast", action="store_true", help="execute in fast (test) mode")
    parser.add_argument("--no-execute", action="store_true", help="slides of the code without outputs")
    parser.add_argument("--out", type=Path, default=OUT, help="output folder (default build/slides)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    parser.add_argument(
        "--executed", type=Path, help="executed copies to reuse (from build_book.py --keep DIR)"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REVEAL, args.out / "reveal.js", dirs_exist_ok=True)
    paths = notebooks_from(args.notebooks)
    failed = build(
        paths,
        args.out,
        slides_exporter(),
        ".slides.html",
        args.fast,
        not args.no_execute,
        args.timeout,
        "slides",
        prepare=with_slide_types,
        executed=executed_copies(paths, args.executed) if args.executed else None,
    )
    if failed:
        sys.exit(f"these notebooks failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
