"""Execute every notebook in full mode and write offline HTML copies plus an index to build/book/.

Usage: python scripts/build_book.py [--fast] [--out DIR] [--keep DIR] [notebooks/01_*.ipynb ...]
(or `make book`). ``--fast`` executes in fast mode (COURSE_FAST=1, one torch thread), as CI does;
``--keep DIR`` also writes each executed notebook there, for ``build_slides.py --executed DIR``.

The pages load nothing from the network: images are inlined, MathJax 3 (``assets/vendor/mathjax``,
from the npm package ``mathjax``) is copied next to them, and nbconvert's template is replaced by
``scripts/templates/course_lab`` (no require.js, mermaid or widget manager from a CDN).
Live widgets need a kernel: the book drops their outputs and shows the notebook's static figure.
``scripts/build_slides.py`` builds the reveal.js slides with the same pieces.
"""

from __future__ import annotations

import argparse
import base64
import html
import mimetypes
import os
import re
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "scripts" / "templates"
OUT = ROOT / "build" / "book"
MATHJAX = ROOT / "assets" / "vendor" / "mathjax"

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# matplotlib's to_jshtml player asks a CDN for Font Awesome; these glyphs stand in for its icons.
FONT_AWESOME_CDN = re.compile(r"<link[^>]*font-awesome[^>]*>", re.IGNORECASE)
PLAYER_ICONS = (
    "<style>.anim-buttons .fa{font-style:normal;font-family:sans-serif}"
    ".fa-fast-backward:before{content:'\\23EE'}.fa-step-backward:before{content:'\\23F4\\2759'}"
    ".fa-play:before{content:'\\25B6'}.fa-pause:before{content:'\\23F8'}"
    ".fa-step-forward:before{content:'\\2759\\23F5'}.fa-fast-forward:before{content:'\\23ED'}"
    ".fa-minus:before{content:'\\2212'}.fa-plus:before{content:'+'}"
    ".fa-flip-horizontal{display:inline-block;transform:scaleX(-1)}</style>"
)
# A tag that would fetch something from the network when the page loads.
REMOTE_ASSET = re.compile(
    r"<(?:script|link|img|iframe|source)\b[^>]*\b(?:src|href)=[\"']?(?:https?:)?//", re.I
)


def copy_mathjax(out: Path) -> Path:
    """Copy MathJax (one file, ``assets/vendor/mathjax``) to ``out/mathjax``."""
    target = out / "mathjax"
    shutil.copytree(MATHJAX, target, dirs_exist_ok=True)
    return target


def title_of(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return ""


def execute(path: Path, fast: bool, timeout: int):
    """Run the notebook in its folder (``COURSE_FAST`` set for the kernel); return (nb, error).

    ``error`` is None, the failing cell's exception (``Name: message``) or the executor's own: either way
    the caller writes the page and counts the notebook as failed.

    The executor keeps the widgets' state (``store_widget_state=True``) although the pages drop it
    (``offline_outputs``): nbclient stands in for the front end of every ipywidgets ``Output`` and
    writes what the kernel prints into it to ``widget_state[comm_id]``, an entry that exists only
    when the state is stored; with ``store_widget_state=False`` the first output sent to an
    ``Output`` widget (lesson 12's noise-level slider) raised ``KeyError`` on the widget's id
    (nbclient 0.11, ``output_widget.py``).
    """
    import nbformat
    from nbconvert.preprocessors import CellExecutionError, ExecutePreprocessor

    nb = nbformat.read(path, as_version=4)
    os.environ["COURSE_FAST"] = "1" if fast else "0"
    if fast:  # as `make test` runs the fast mode
        os.environ.setdefault("COURSE_THREADS", "1")
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    pre = ExecutePreprocessor(timeout=timeout, kernel_name="python3", store_widget_state=True)
    try:
        pre.preprocess(nb, {"metadata": {"path": str(path.parent)}})
    except CellExecutionError as exc:  # the cell's exception, not nbclient's "An error occurred …"
        ename, evalue = getattr(exc, "ename", ""), getattr(exc, "evalue", "")
        return nb, f"{ename}: {evalue}"[:500] if ename else (str(exc).splitlines() or [type(exc).__name__])[0]
    except Exception as exc:  # the executor itself failed: report it, build the other notebooks
        return nb, f"{type(exc).__name__} in the executor: {exc}"
    return nb, None


def offline_outputs(nb) -> None:
    """Drop live-widget outputs (they need a kernel) and the player's Font Awesome CDN link."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if WIDGET_VIEW in data:
                continue
            if "text/html" in data:
                text = data["text/html"]
                text = "".join(text) if isinstance(text, list) else text
                if FONT_AWESOME_CDN.search(text):
                    data["text/html"] = PLAYER_ICONS + FONT_AWESOME_CDN.sub("", text)
            kept.append(out)
        cell["outputs"] = kept
    nb.metadata.pop("widgets", None)


MD_IMAGE = re.compile(r"(!\[[^\]]*\]\()([^)\s]+)(\))|(<img\b[^>]*\bsrc=[\"'])([^\"']+)([\"'])")


def inline_markdown_images(nb, folder: Path) -> None:
    """Replace relative image paths in Markdown (``![..](../assets/x.png)``, ``<img src=..>``) by
    data URIs: nbconvert embeds only images below the notebook's folder, the course keeps them in
    ``assets/``."""

    def data_uri(match: re.Match) -> str:
        head, src, tail = (
            (match.group(1), match.group(2), match.group(3)) if match.group(1) else match.groups()[3:]
        )
        path = (folder / src).resolve()
        if re.match(r"^[a-z]+:", src) or not path.is_file():
            return match.group(0)
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return f"{head}data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}{tail}"

    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = MD_IMAGE.sub(data_uri, cell.source)


def remote_assets(page: str) -> list[str]:
    """The tags in ``page`` that would load something from the network."""
    return [m.group(0)[:120] for m in REMOTE_ASSET.finditer(page)]


def export(nb, path: Path, exporter) -> str:
    inline_markdown_images(nb, path.parent)
    body, _ = exporter.from_notebook_node(
        nb, resources={"metadata": {"name": path.stem, "path": str(path.parent)}}
    )
    bad = remote_assets(body)
    if bad:
        raise RuntimeError(f"{path.name}: the page would load from the network: {bad}")
    return body


def html_exporter():
    from nbconvert import HTMLExporter

    return HTMLExporter(
        template_name="course_lab",
        extra_template_basedirs=[str(TEMPLATES)],
        extra_template_paths=[str(TEMPLATES)],
        mathjax_url="mathjax/tex-svg-full.js",
        embed_images=True,
    )


def notebooks_from(args_notebooks: list[Path]) -> list[Path]:
    paths = args_notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    return [p.resolve() for p in paths]


def executed_copies(paths, folder: Path) -> dict:
    """The executed copies in ``folder`` (``NN_topic.ipynb``) that are newer than their notebook,
    by stem: ``build(executed=...)`` exports these as they are instead of running the notebook again."""
    import nbformat

    found = {}
    for path in paths:
        copy = Path(folder) / path.name
        if copy.exists() and copy.stat().st_mtime >= path.stat().st_mtime:
            found[path.stem] = nbformat.read(copy, as_version=4)
    return found


def build(
    paths, out: Path, exporter, suffix, fast, run, timeout, what, prepare=None, executed=None, keep=None
):
    """Execute (unless ``run`` is False) and export each notebook; write an index; return failures.

    ``executed`` maps a notebook's stem to an already executed copy (a notebook node) to export as it is;
    ``keep`` is a folder where each notebook executed here is also written, outputs as run.
    """
    import nbformat

    out.mkdir(parents=True, exist_ok=True)
    copy_mathjax(out)
    rows, failed = [], []
    for path in paths:
        start = time.time()
        fresh = run and not (executed and path.stem in executed)
        print(f"{'executing' if fresh else 'rendering'} {path.name} …", flush=True)
        if executed and path.stem in executed:
            nb, error = executed[path.stem], None
        elif run:
            nb, error = execute(path, fast, timeout)
            if keep and not error:
                Path(keep).mkdir(parents=True, exist_ok=True)
                nbformat.write(nb, Path(keep) / path.name)
        else:
            nb, error = nbformat.read(path, as_version=4), None
        offline_outputs(nb)
        if prepare:
            prepare(nb)
        (out / f"{path.stem}{suffix}").write_text(export(nb, path, exporter))
        seconds = time.time() - start
        if error:
            failed.append(path.name)
            print(f"  FAILED: {error}", flush=True)
        print(f"  {'ok' if not error else 'written with the error'} in {seconds:.0f} s", flush=True)
        rows.append((path.stem + suffix, title_of(nb) or path.stem, seconds, not error))
    items = "\n".join(
        f'<li><a href="{html.escape(href)}">{html.escape(title)}</a>'
        f" <small>({seconds:.0f} s{'' if ok else ', FAILED'})</small></li>"
        for href, title, seconds, ok in rows
    )
    mode = "not executed" if not run else ("fast mode" if fast else "full mode")
    (out / "index.html").write_text(
        "<!doctype html><html lang='en'><meta charset='utf-8'>"
        f"<title>Learning the data distribution — {what}</title>"
        "<style>body{font-family:sans-serif;max-width:48em;margin:2em auto;line-height:1.5}</style>"
        f"<h1>Learning the data distribution — {what}</h1>"
        f"<p>Executed notebooks ({mode}). These pages work offline.</p><ol>{items}</ol></html>\n"
    )
    print(f"wrote {out / 'index.html'}")
    return failed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--fast", action="store_true", help="render the fast (test) mode instead")
    parser.add_argument("--out", type=Path, default=OUT, help="output folder (default build/book)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    parser.add_argument("--keep", type=Path, help="also write the executed notebooks to this folder")
    args = parser.parse_args()
    failed = build(
        notebooks_from(args.notebooks),
        args.out,
        html_exporter(),
        ".html",
        args.fast,
        True,
        args.timeout,
        "the book",
        keep=args.keep,
    )
    if failed:
        sys.exit(f"these notebooks failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
