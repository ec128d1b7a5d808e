"""How the viewer shows values: long ones bounded (in Chromium, where only a browser shows the freeze), truncation
marks labelled, Markdown only when asked and then safe, retrieved documents as cards, sessions readable."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import spanlite
from _helpers import app, open_page
from spanlite.viewer.launch import viewer_command
from test_viewer_e2e import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from viewer_server import free_port, serving

LONG = "A" * 200_000  # under the default field bound (256 KiB): stored whole
BIG_JSON = [{"id": i, "text": f"row {i} " + "x" * 40} for i in range(4_000)]  # ~250 KB as JSON, a deep tree
SETTLE_MS = 60_000  # a generous deadline: before the fix, the trace page took 35-80 s on this machine
PAGE_TEXT_MAX = 120_000  # characters of text on one page, whatever the store holds
PAGE_HEIGHT_MAX = 30_000  # px


def _long_traces() -> dict[str, str]:
    @spanlite.trace
    def long_answer(question: str) -> str:
        spanlite.update_current_trace(session_id="s-long")
        return LONG

    @spanlite.trace
    def big_json(question: str) -> list[dict[str, Any]]:
        return BIG_JSON

    long_answer("q?")
    big_json("rows?")
    return {t.name or "": t.trace_id for t in spanlite.search_traces(limit=10)}


@pytest.fixture
def long_viewer(db_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    traces = _long_traces()
    port = free_port()
    argv, env = viewer_command(db_path, port)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with open(ARTIFACTS / "streamlit_render.log", "wb") as log:
        with serving(argv, env, port, startup_s=30, stdout=log, stderr=subprocess.STDOUT):
            yield f"http://127.0.0.1:{port}", traces


_MEASURE = """() => {
  const main = document.querySelector('[data-testid=stMain]');
  const texts = [...document.querySelectorAll('[data-testid=stText]')];
  return {
    text: document.body.innerText.length,
    height: main.scrollHeight,
    kerning: texts.map(t => getComputedStyle(t.firstElementChild || t).fontKerning),
  };
}"""


def test_long_values_are_bounded_on_every_page_in_chromium(long_viewer: tuple[str, dict[str, str]]) -> None:
    """200 KB of one letter froze the tab (Chromium reshapes the rest of an unbreakable kerned run for each line it
    breaks, so layout grows with the square of its length) and a big JSON value made the page 250,000 px tall."""
    from playwright.sync_api import expect, sync_playwright

    url, traces = long_viewer
    pages = {
        "trace_long": f"{url}/trace?trace={traces['long_answer']}",
        "trace_json": f"{url}/trace?trace={traces['big_json']}",
        "sessions": f"{url}/sessions?session=s-long",
        "review": f"{url}/review",
    }
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1200})
            page.set_default_timeout(SETTLE_MS)
            expect.set_options(timeout=SETTLE_MS)
            for name, address in pages.items():
                page.goto(address)
                expect(page.get_by_role("button", name="Download the whole value").first).to_be_visible()
                expect(page.locator('[data-testid^="stStatusWidgetRunning"]')).to_have_count(0)
                measured = page.evaluate(_MEASURE)
                page.screenshot(path=str(ARTIFACTS / f"long_{name}.png"))
                assert measured["text"] < PAGE_TEXT_MAX, (name, measured["text"])
                assert measured["height"] < PAGE_HEIGHT_MAX, (name, measured["height"])
                assert measured["kerning"] and set(measured["kerning"]) == {"none"}, (name, measured["kerning"])
        finally:
            browser.close()
