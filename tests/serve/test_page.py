"""End to end: ``textrec serve`` on loopback, its page driven in headless Chromium.

The browser is the system Chromium (Debian package ``chromium``) driven by Python ``playwright``
with ``executable_path``; no browser is downloaded. The tests are skipped, saying why, where either
is missing. They serve a small built-in catalog (drawn pictures) with the slot-filler, on a desktop
and a 390x844 phone viewport: the whole flow (describe, feedback, the strip of recent items,
accept, the end screen), no console error (favicon included), and axe-core's accessibility rules
(``axe-playwright-python`` ships axe's script) with no serious or critical violation.

Environment:

* ``TEXTREC_SCREENSHOTS=DIR`` saves ``serve-welcome.png``, ``serve-desktop.png``,
  ``serve-phone.png`` and ``serve-end.png`` there (``benchmarks/screenshots.py`` makes the
  README's pictures this way), with ``TEXTREC_SCREENSHOT_TAG`` inserted before ``.png`` when set;
* ``TEXTREC_E2E_CATALOG`` / ``TEXTREC_E2E_POLICY`` serve another catalog and policy (e.g. a
  UT-Zappos catalog and ``slot-filler``); ``TEXTREC_E2E_SEED`` seeds the built-in catalog and
  the server (0);
* ``TEXTREC_E2E_SENTENCES`` (``|``-separated): the opening sentence, then the feedback typed.
"""

from __future__ import annotations

import contextlib
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

from .conftest import zappos_like

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
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

SENTENCES = os.environ.get(
    "TEXTREC_E2E_SENTENCES", "women's ankle boots|not lace-up please|a bit higher heel, in black"
).split("|")
"""The opening sentence, then the feedback sentences typed (``|``-separated)."""

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
def server(tmp_path_factory):
    """The page on a 300-item built-in catalog (drawings), unless the environment says else."""
    from textrec.catalog.builtin import build_builtin

    root = tmp_path_factory.mktemp("serve")
    catalog = os.environ.get("TEXTREC_E2E_CATALOG")
    policy = os.environ.get("TEXTREC_E2E_POLICY", "slot-filler")
    seed = os.environ.get("TEXTREC_E2E_SEED", "0")
    if catalog is None:
        catalog = str(root / "catalog")
        build_builtin(n_items=300, seed=int(seed)).save(catalog)
    with _serving(root, catalog, policy, seed) as served:
        yield served


@pytest.fixture(scope="module")
def photo_server(tmp_path_factory, toy_catalog):
    """The page on the toy catalog with UT-Zappos-like photos (136x102 JPEGs in a zip)."""
    root = tmp_path_factory.mktemp("photos")
    zappos_like(toy_catalog, root)[0].save(root / "catalog")
    with _serving(root, str(root / "catalog"), "slot-filler", "0") as served:
        yield served


@contextlib.contextmanager
def _serving(root: Path, catalog: str, policy: str, seed: str):
    """``textrec serve`` on a free loopback port until the block ends: (url, log dir, catalog)."""
    port = _free_port()
    log_dir = root / "log"
    cmd = [sys.executable, "-c", "from textrec.cli import main; main()", "serve"]
    cmd += ["--catalog", catalog, "--policy", policy, "--port", str(port)]
    cmd += ["--host", "127.0.0.1", "--log-dir", str(log_dir), "--json", "--seed", seed]
    env = {**os.environ, "TEXTREC_CACHE": str(root / "cache")}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
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
        yield url, log_dir, httpx.get(f"{url}/api/catalog", timeout=30).json()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def expect(locator):
    """Playwright's auto-waiting assertions (they work under the page's strict CSP)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


class Watched:
    """A page whose console errors, uncaught exceptions and failed requests are collected."""

    def __init__(self, browser, server, viewport: dict, mobile: bool = False) -> None:
        url, _, self.catalog = server
        self.page = browser.new_page(viewport=viewport, is_mobile=mobile, has_touch=mobile)
        self.problems: list[str] = []
        self.page.on("pageerror", lambda e: self.problems.append(f"exception: {e}"))
        self.page.on(
            "console",
            lambda m: self.problems.append(f"console: {m.text}") if m.type == "error" else None,
        )
        self.page.on(
            "response",
            lambda r: self.problems.append(f"{r.status}: {r.url}") if r.status >= 400 else None,
        )
        self.page.goto(url)
        expect(self.page.locator("#welcome")).to_be_visible()
        # The hints come from the catalog (GET /api/catalog), so they only name what it has.
        hint = self.catalog["describe_hint"]
        expect(self.page.locator("#wish")).to_have_attribute("placeholder", hint)
        for attribute in self.catalog["attributes"]:
            expect(self.page.locator("#knows")).to_contain_text(attribute["label"])
        self.page.wait_for_load_state("networkidle")

    def say(self, text: str) -> dict:
        """Type a sentence in the box that has the focus and press Enter; the page shows what
        the API answered (returned): the reply, what was understood, the standing requests."""
        page = self.page
        with page.expect_response(lambda r: r.request.method == "POST") as answer:
            page.keyboard.type(text)
            page.keyboard.press("Enter")
        s = answer.value.json()
        expect(page.locator("#turn")).to_have_text(f"Shoe {s['turn']} of at most {s['max_turns']}")
        expect(page.locator("#title")).to_have_text(s["item"]["title"])
        expect(page.locator("#reply")).to_have_text(s["reply"])
        u = s["understood"] or {"kept": [], "dropped": [], "unsupported": [], "unmet": []}
        expect(page.locator("#understood .chip.kept")).to_have_count(len(u["kept"]))
        expect(page.locator("#understood .chip.dropped")).to_have_count(len(u["dropped"]))
        notes = page.locator("#notes li.unsupported")
        expect(notes).to_have_text(u["unsupported"])
        expect(page.locator("#notes li.unmet")).to_have_count(min(1, len(u["unmet"])))
        chips = [f"{r['attribute_label']}: {_wish(r)}" for r in s["standing"]]
        expect(page.locator("#standing .chip")).to_have_text(chips)
        return s

    def accessible(self) -> None:
        """axe-core finds no serious or critical violation on the page as it is now."""
        from axe_playwright_python.sync_playwright import Axe

        results = Axe().run(self.page)
        bad = [
            f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert bad == []

    def fits(self) -> None:
        """Nothing sticks out sideways."""
        width = self.page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], f"page is {width[0]} px wide on a {width[1]} px screen"

    def screenshot(self, name: str) -> None:
        folder = os.environ.get("TEXTREC_SCREENSHOTS")
        if folder:
            tag = os.environ.get("TEXTREC_SCREENSHOT_TAG", "")
            self.page.screenshot(path=str(Path(folder) / f"{name}{tag}.png"), full_page=True)


def _wish(request: dict) -> str:
    """A request as the page words it: "not lace-up", "heel height 3 to 4 inches"."""
    value = request["value_label"]
    if any(c.isdigit() for c in value):
        value = f"{request['attribute_label']} {value}"
    return f"not {value}" if request["negated"] else value


def _picture_is_sharp(page, selector: str) -> None:
    """The picture loaded and is shown at an integer scale of its pixels (photos: 2x, nearest
    neighbour) or reduced from them (drawings: 1/2): never stretched by a fraction."""
    expect(page.locator(selector)).to_have_js_property("complete", True)
    natural, shown, rendering = page.evaluate(
        f"""(() => {{ const i = document.querySelector('{selector}');
        return [i.naturalWidth, i.getBoundingClientRect().width,
                getComputedStyle(i).imageRendering]; }})()"""
    )
    assert natural > 0
    if rendering == "pixelated":
        assert shown == 2 * natural, (natural, shown)
    else:
        assert natural == 2 * shown, (natural, shown)


def test_desktop_describe_feedback_go_back_accept_and_the_log(browser, server):
    log_dir = server[1]
    w = Watched(browser, server, DESKTOP)
    page = w.page
    w.accessible()
    opening, *feedback = SENTENCES
    assert page.evaluate("document.activeElement.id") == "wish"
    w.screenshot("serve-welcome")
    w.say(opening)
    expect(page.locator("#shop")).to_be_visible()
    expect(page.locator("#text")).to_have_attribute("placeholder", w.catalog["feedback_hint"])
    _picture_is_sharp(page, "#picture")
    assert page.locator("#labels dt").count() >= 3
    assert ";" not in page.locator("#labels").inner_text()  # values in words, not "Lace up;..."
    assert page.locator("#reply").inner_text().strip()
    assert page.locator("#standing .chip").count() >= 1  # the opening's requests stand
    titles = [page.locator("#title").inner_text()]
    for sentence in feedback:
        w.say(sentence)
        assert page.locator("#reply").inner_text().strip()
        titles.append(page.locator("#title").inner_text())
    assert page.locator("#understood .chip").count() >= 1
    assert page.locator("#turn").inner_text().startswith(f"Shoe {len(SENTENCES)} ")
    thumbs = page.locator("#recent button.thumb")
    assert thumbs.count() >= 1
    w.screenshot("serve-desktop")
    w.accessible()
    # Back to a shoe shown before, from the strip of recent items.
    back = thumbs.first.locator("span").inner_text()
    thumbs.first.click()
    expect(page.locator("#title")).to_have_text(back)
    # Accept it with the keyboard: from the feedback box, Shift+Tab reaches "This is the one".
    page.focus("#text")
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.id") == "found"
    page.keyboard.press("Enter")
    expect(page.locator("#end")).to_be_visible()
    expect(page.locator("#end-title")).to_have_text("You found your shoe")
    expect(page.locator("#chosen-title")).to_have_text(back)
    _picture_is_sharp(page, "#chosen-picture")
    assert page.evaluate("document.activeElement.id") == "again"
    w.screenshot("serve-end")
    w.accessible()
    assert w.problems == []
    page.close()
    rows = read_experience(list_shards(log_dir)[-1])
    assert [f for f in rows.feedback.tolist() if f][: len(SENTENCES)] == SENTENCES
    assert rows.terminated.tolist()[-1] and check_log(log_dir).ok


def test_phone_browse_feedback_and_start_over(browser, server):
    log_dir = server[1]
    w = Watched(browser, server, PHONE, mobile=True)
    page = w.page
    w.fits()
    page.click("#browse")
    expect(page.locator("#shop")).to_be_visible()
    box = page.locator("#picture").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    page.focus("#text")
    w.say(SENTENCES[1])
    w.fits()
    for selector in ("#text", "#send", "#found"):
        box = page.locator(selector).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        assert box["height"] >= 40, f"{selector} is a small target on a phone"
    w.screenshot("serve-phone")
    w.accessible()
    page.click("#restart")
    expect(page.locator("#welcome")).to_be_visible()
    assert page.evaluate("document.activeElement.id") == "wish"
    assert w.problems == []
    page.close()
    abandoned = [read_experience(p) for p in list_shards(log_dir)]
    assert any(r.truncated[-1] and SENTENCES[1] in r.feedback.tolist() for r in abandoned)


def test_photos_are_shown_at_twice_their_pixels_never_stretched(browser, photo_server):
    w = Watched(browser, photo_server, PHONE, mobile=True)
    page = w.page
    page.click("#browse")
    expect(page.locator("#shop")).to_be_visible()
    _picture_is_sharp(page, "#picture")
    rendering = page.evaluate("getComputedStyle(document.getElementById('picture')).imageRendering")
    assert rendering == "pixelated"
    page.focus("#text")
    w.say("something else")
    thumb = page.locator("#recent img").first
    expect(thumb).to_have_js_property("complete", True)
    assert thumb.evaluate("i => [i.naturalWidth, i.getBoundingClientRect().width]") == [136, 136]
    w.fits()
    assert w.problems == []
    page.close()
