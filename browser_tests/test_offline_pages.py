"""The book and the slides render with the network blocked for the browser.

The book is build/book when `make book` has made it; otherwise two lessons rendered here from the
copies the JupyterLab test ran (build/screenshots/executed/, fast mode), or executed here when that
test did not run. The slides are one deck rendered without outputs. Each is opened from ``file://`` in a
Chromium that resolves no host and whose proxy refuses every connection; the maths must be typeset by
the local MathJax, every image must load, reveal.js must start, and the console must stay clean.
"""

from __future__ import annotations

import sys
import time

import pytest
from lab import ROOT, wait_for

sys.path.insert(0, str(ROOT / "scripts"))
BOOK_LESSONS = ["00_course_map", "01_gaussian_mle"]

JS_PAGE = r"""
const math = document.querySelectorAll('mjx-container').length;
const copy = document.body.cloneNode(true);
copy.querySelectorAll('mjx-container, code, pre, script, style, .jp-InputArea').forEach(e => e.remove());
const m = copy.textContent.match(/\$\$|\$[^$\s][^$]*\$|\\\(|\\\[/);
return {
  math,
  raw: m ? copy.textContent.slice(Math.max(0, m.index - 40), m.index + 60).replace(/\s+/g, ' ') : null,
  errors: document.querySelectorAll('mjx-merror, [data-mjx-error]').length,
  images: document.images.length,
  broken: Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src.slice(0, 80)),
  reveal: !!(window.Reveal && window.Reveal.isReady && window.Reveal.isReady()),
};
"""


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    """build/book when `make book` made it, otherwise a fast two-lesson book built here."""
    import build_book

    made = ROOT / "build" / "book"
    if all((made / f"{stem}.html").exists() for stem in BOOK_LESSONS) and (made / "index.html").exists():
        return made
    out = tmp_path_factory.mktemp("book")
    paths = [ROOT / "notebooks" / f"{stem}.ipynb" for stem in BOOK_LESSONS]
    executed = build_book.executed_copies(paths, ROOT / "build" / "screenshots" / "executed")
    failed = build_book.build(
        paths, out, build_book.html_exporter(), ".html", True, True, 600, "the book", executed=executed
    )
    assert not failed, failed
    return out


@pytest.fixture(scope="module")
def slides(tmp_path_factory):
    import shutil

    import build_book
    import build_slides

    out = tmp_path_factory.mktemp("slides")
    shutil.copytree(build_slides.REVEAL, out / "reveal.js")
    path = ROOT / "notebooks" / "01_gaussian_mle.ipynb"
    build_book.build(
        [path], out, build_slides.slides_exporter(), ".slides.html", True, False, 600, "slides",
        prepare=build_slides.with_slide_types,
    )  # fmt: skip
    return out


def look(driver, url: str) -> dict:
    driver.get(url)
    wait_for(lambda: driver.execute_script("return document.readyState") == "complete", 30, url)
    # MathJax typesets after load: wait until the count of formulas stops growing
    last, stable = -1, 0
    end = time.time() + 30
    while time.time() < end and stable < 3:
        page = driver.execute_script(JS_PAGE)
        stable = stable + 1 if page["math"] == last else 0
        last = page["math"]
        time.sleep(0.5)
    page["console"] = [e["message"][:200] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    return page


def test_the_network_is_blocked(offline_driver):
    """The offline browser cannot fetch from a CDN (else the two tests below would prove nothing)."""
    from selenium.common.exceptions import WebDriverException

    try:
        offline_driver.get("https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-svg.js")
        text = offline_driver.execute_script("return document.body ? document.body.innerText : ''")
    except WebDriverException as exc:  # chromedriver reports the failed navigation itself
        assert "ERR_" in str(exc), exc
        text = ""
    assert "MathJax" not in text and "function" not in text[:200], "the offline browser reached a CDN"
    offline_driver.get_log("browser")


def test_the_book_renders_offline(book, offline_driver):
    index = look(offline_driver, (book / "index.html").as_uri())
    assert not index["console"], index["console"]
    for stem in BOOK_LESSONS:
        page = look(offline_driver, (book / f"{stem}.html").as_uri())
        assert page["math"] > 0, f"{stem}: no formula typeset"
        assert page["raw"] is None, f"{stem}: maths left raw: …{page['raw']}…"
        assert page["errors"] == 0, f"{stem}: {page['errors']} MathJax errors"
        assert page["images"] > 0 and not page["broken"], (
            f"{stem}: images {page['images']}, broken {page['broken']}"
        )
        assert not page["console"], f"{stem}: {page['console']}"
    offline_driver.save_screenshot(str(ROOT / "build" / "screenshots" / f"book_{BOOK_LESSONS[-1]}.png"))


def test_the_slides_render_offline(slides, offline_driver):
    page = look(offline_driver, (slides / "01_gaussian_mle.slides.html").as_uri() + "#/4")
    assert page["reveal"], "reveal.js did not start"
    assert page["math"] > 0 and page["raw"] is None and page["errors"] == 0, page
    assert not page["console"], page["console"]
    offline_driver.save_screenshot(str(ROOT / "build" / "screenshots" / "slides_01_gaussian_mle.png"))
