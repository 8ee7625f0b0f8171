"""End to end: ``textrec serve`` on loopback, its page driven in headless Chromium.

The browser is the system Chromium (Debian package ``chromium``) driven by Python ``playwright``
with ``executable_path``; no browser is downloaded. The test is skipped, saying why, where either is
missing. ``TEXTREC_SCREENSHOT=PATH`` saves the page as the browser shows it at the end (how
``docs/img/serve.png`` is made); ``TEXTREC_E2E_CATALOG`` and ``TEXTREC_E2E_POLICY`` serve another
catalog and policy (e.g. UT-Zappos and ``slot-filler``) instead of the toy ones, and
``TEXTREC_E2E_SENTENCES`` (``|``-separated) sets the two sentences typed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from textrec.logs import check_log
from textrec.logs.reader import list_shards, read_experience

CHROMIUM = os.environ.get("TEXTREC_CHROMIUM") or (
    "/usr/bin/chromium"
    if Path("/usr/bin/chromium").is_file()
    else shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

SENTENCES = os.environ.get(
    "TEXTREC_E2E_SENTENCES", "I would like them for women|with a round toe please"
).split("|")
"""The two feedback sentences typed (``|``-separated in ``TEXTREC_E2E_SENTENCES``)."""

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Python playwright is not installed (pip install playwright)"
    )
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, toy_catalog, toy_recommender):
    root = tmp_path_factory.mktemp("serve")
    catalog = os.environ.get("TEXTREC_E2E_CATALOG")
    policy = os.environ.get("TEXTREC_E2E_POLICY")
    if catalog is None:
        catalog, policy = str(root / "catalog"), str(root / "agent")
        toy_catalog.save(catalog)
        toy_recommender.save(policy)
    port = _free_port()
    log_dir = root / "log"
    cmd = [sys.executable, "-c", "from textrec.cli import main; main()", "serve"]
    cmd += ["--catalog", catalog, "--policy", policy or "slot-filler", "--port", str(port)]
    cmd += ["--host", "127.0.0.1", "--log-dir", str(log_dir), "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if proc.poll() is not None:
                pytest.fail(f"textrec serve exited {proc.returncode}: {proc.stderr.read()}")
            try:
                if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("textrec serve did not answer within 300 s")
            time.sleep(0.2)
        yield url, log_dir, catalog
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def expect(locator):
    """Playwright's auto-waiting assertions (they work under the page's strict CSP)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def _shown(page) -> str:
    return page.locator("#item-id").inner_text()


def test_page_finds_a_shoe_with_the_keyboard_and_logs_it(browser, server):
    url, log_dir, _ = server
    page = browser.new_page(viewport={"width": 1100, "height": 720})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    expect(page.locator("#item-id")).not_to_be_empty()
    first = _shown(page)
    assert page.locator("#attributes dt").count() >= 1
    seen = [first]
    for sentence in SENTENCES:
        page.fill("#text", sentence)
        page.press("#text", "Enter")
        expect(page.locator("#item-id")).not_to_have_text(seen[-1])
        seen.append(_shown(page))
        assert page.locator("#history").inner_text().count("You:") == len(seen) - 1
    assert len(set(seen)) == 3
    expect(page.locator("#picture")).to_have_js_property("complete", True)
    assert page.evaluate("document.getElementById('picture').naturalWidth") > 0
    # Keyboard only: from the text box, Tab to "Send", Tab to "This is it", Enter.
    page.focus("#text")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "found"
    page.keyboard.press("Enter")
    expect(page.locator("#status")).to_contain_text("Great")
    assert page.locator("#found").is_disabled()
    if os.environ.get("TEXTREC_SCREENSHOT"):
        page.screenshot(path=os.environ["TEXTREC_SCREENSHOT"], full_page=True)
    assert errors == []
    page.close()
    shards = list_shards(log_dir)
    (rows,) = [read_experience(p) for p in shards]
    said = [f for f in rows.feedback.tolist() if f]
    assert said == SENTENCES
    assert rows.item_id.tolist() == seen and rows.terminated.tolist() == [False, False, True]
    assert check_log(log_dir).ok


def test_page_fits_a_phone_screen_and_starts_over(browser, server):
    url, log_dir, _ = server
    page = browser.new_page(viewport={"width": 375, "height": 667}, is_mobile=True)
    page.goto(url)
    expect(page.locator("#item-id")).not_to_be_empty()
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"page is {width[0]} px wide on a {width[1]} px screen"
    box = page.locator("#text").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375
    page.fill("#text", "something else")
    page.press("#text", "Enter")
    expect(page.locator("#history")).to_contain_text("something else")
    page.click("#restart")
    expect(page.locator("#status")).to_contain_text("fresh")
    assert page.locator("#history").inner_text().count("You:") == 0
    page.close()
    abandoned = [read_experience(p) for p in list_shards(log_dir)]
    assert any(r.truncated[-1] and "something else" in r.feedback.tolist() for r in abandoned)
