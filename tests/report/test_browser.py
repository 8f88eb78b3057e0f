"""The report in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright.

Every page of the report of a small trained spectrum is loaded from disk (file://): no console
error, no failed request, no script dialog (class names are markup), every link resolves to a
file in the site (and its #anchor to an element there), every image decodes (naturalWidth > 0)
and has alt text, and a screenshot of the overview is not blank.

Playwright uses the system browser (``executable_path``): nothing is downloaded at run time.
The browser is a documented prerequisite (README; ``.ci/run`` installs it): outside CI the test
skips when it is missing, in CI (the ``CI`` variable set) it fails.
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest
from PIL import Image

BROWSERS = ("chromium", "chromium-browser")


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must provide it (.ci/run installs it: apt-get install chromium)")
    pytest.skip(f"{reason} (Debian: apt-get install chromium)")


@pytest.fixture(scope="module")
def browser():
    path = next((p for p in map(shutil.which, BROWSERS) if p), None)
    if path is None:
        _missing("no chromium on PATH")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, headless=True)
        yield browser
        browser.close()


def _check_page(page, url: str, site: Path, problems: list[str]) -> None:
    """Load ``url`` in ``page`` (whose event handlers append to ``problems``) and check its
    images and links."""
    response = page.goto(url, wait_until="load")
    assert response is None or response.ok, url
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    for img in page.query_selector_all("img"):
        src = img.get_attribute("src")
        if not img.get_attribute("alt"):
            problems.append(f"image without alt text: {src}")
        if not img.evaluate("i => i.complete && i.naturalWidth > 0"):
            problems.append(f"broken image: {src}")
    here = Path(unquote(urlsplit(url).path))
    for href in [a.get_attribute("href") or "" for a in page.query_selector_all("a")]:
        parts = urlsplit(href)
        if parts.scheme or parts.netloc:
            problems.append(f"link leaves the site: {href}")
            continue
        target = (here.parent / unquote(parts.path)).resolve() if parts.path else here
        if not target.is_file() or site.resolve() not in target.parents:
            problems.append(f"broken link: {href}")
        elif parts.fragment and f'id="{parts.fragment}"' not in target.read_text("utf-8"):
            problems.append(f"missing anchor: {href}")


def test_every_page_loads_and_resolves(browser, spectrum_site: Path):
    pages = sorted(spectrum_site.glob("*.html"))
    assert {"index.html", "provenance.html", "model-ib.html"} <= {p.name for p in pages}
    assert any(p.name.startswith("head-ib-") for p in pages)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    found: list[str] = []
    page.on("console", lambda m: m.type == "error" and found.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: found.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: found.append(f"failed request: {r.url}"))
    page.on("dialog", lambda d: (found.append(f"dialog: {d.message}"), d.dismiss()))
    problems = {}
    for path in pages:
        _check_page(page, path.as_uri(), spectrum_site, found)
        if found:
            problems[path.name] = list(found)
            found.clear()
    page.close()
    assert not problems, problems


def test_overview_screenshot_is_not_blank(browser, spectrum_site: Path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto((spectrum_site / "index.html").as_uri(), wait_until="load")
    shot = np.asarray(Image.open(io.BytesIO(page.screenshot(full_page=True))).convert("L"))
    page.close()
    assert shot.shape[0] >= 900
    assert shot.std() > 20, "the overview renders (nearly) blank"
    assert (shot < 128).mean() > 0.02, "too little ink: text and figure missing"


def test_class_names_are_text_not_markup(browser, spectrum_site: Path):
    """The class folders are named like markup: the browser shows them as text."""
    page = browser.new_page()
    page.goto((spectrum_site / "model-ib.html").as_uri(), wait_until="load")
    text = page.inner_text("main")
    assert page.query_selector_all("main script") == []
    assert page.query_selector("img[src=x]") is None
    page.close()
    assert "<script>alert(1)" in text or "<img src=x onerror=alert(2)>" in text
