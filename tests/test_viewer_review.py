"""Reviewing traces as a reviewer does: in Chromium, by keyboard and mouse, with comments, across reloads and deep
links; and what the list and its feedback filter count as a trace's feedback."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from _helpers import Traces, populate
from spanlite.store import TraceStore
from spanlite.viewer.launch import viewer_command
from test_viewer_e2e import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, _settled
from viewer_server import free_port, serving

browser_test = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium")


@pytest.fixture
def traces(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> Traces:
    monkeypatch.setenv("SPANLITE_USER", "ada")  # the OS user stand-in that a remembered name must replace
    return populate()


@pytest.fixture
def viewer_url(traces: Traces, db_path: Path) -> Iterator[str]:
    port = free_port()
    argv, env = viewer_command(db_path, port)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with open(ARTIFACTS / "streamlit_review.log", "wb") as log:  # read it when the viewer did not start
        with serving(argv, env, port, startup_s=30, stdout=log, stderr=subprocess.STDOUT):
            yield f"http://127.0.0.1:{port}"


@contextmanager
def chromium_page() -> Iterator[Any]:
    """A fresh browser (its own cookies and storage) and one page in it; no dialog may open."""
    from playwright.sync_api import expect, sync_playwright

    dialogs: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1200})
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.set_default_timeout(20_000)
            expect.set_options(timeout=20_000)  # a loaded machine can take more than the 5 s default to rerun
            yield page
            assert dialogs == []
        finally:
            browser.close()


def thumbs(db_path: Path) -> dict[str, tuple[bool, str | None, str | None]]:
    """Trace id -> (value, comment, author) of each stored thumbs rating."""
    with TraceStore(db_path) as store:
        return {
            f.trace_id: (bool(f.value), f.comment, f.author)
            for t in store.search_traces()
            for f in store.get_feedback(t.trace_id)
        }


@browser_test
def test_every_way_of_rating_saves_the_comment_typed_for_that_trace(
    viewer_url: str, traces: Traces, db_path: Path
) -> None:
    from playwright.sync_api import expect

    with chromium_page() as page:
        page.goto(f"{viewer_url}/review")
        expect(page.get_by_text("0 reviewed this session, 3 left", exact=True)).to_be_visible()
        _settled(page)
        comment = page.get_by_label("Comment", exact=True)

        # the shortcut pressed while the comment box still has the focus (it never blurs)
        comment.click()
        page.keyboard.type("unsafe output")
        page.keyboard.press("Alt+D")
        expect(page.get_by_text("1 reviewed this session, 2 left", exact=True)).to_be_visible()
        _settled(page)
        assert thumbs(db_path) == {traces.evil: (False, "unsafe output", "ada")}
        expect(comment).to_have_value("")  # nothing typed for the last trace is left for this one

        # Tab to 👍 and Enter
        comment.click()
        page.keyboard.type("refused, rightly")
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        expect(page.get_by_text("2 reviewed this session, 1 left", exact=True)).to_be_visible()
        _settled(page)
        expect(comment).to_have_value("")

        # the mouse
        comment.click()
        page.keyboard.type("tool call shown")
        page.get_by_role("button", name="👎 Thumbs down", exact=False).click()
        expect(page.get_by_text("Nothing left to review.", exact=True)).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "review_done.png"), full_page=True)
    assert thumbs(db_path) == {
        traces.evil: (False, "unsafe output", "ada"),
        traces.failing: (True, "refused, rightly", "ada"),
        traces.agent: (False, "tool call shown", "ada"),
    }
