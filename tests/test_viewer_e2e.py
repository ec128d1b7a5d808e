"""The viewer served for real and driven in Debian's headless Chromium: list, open a trace and a span, rate it;
open an evaluation run, compare it with another, and follow a regressed example to its trace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from _helpers import populate, populate_evals
from spanlite.store import TraceStore
from viewer_server import ARTIFACTS, HAS_CHROMIUM, NO_CHROMIUM, chromium_page, settled, viewer_at

ROW_PX, HEADER_PX = 35, 35  # st.dataframe's default row and header heights

pytestmark = pytest.mark.skipif(not HAS_CHROMIUM, reason=NO_CHROMIUM)


@pytest.fixture
def viewer_url(db_path: Path) -> Iterator[str]:
    populate()
    with viewer_at(db_path, "streamlit.log") as url:
        yield url


def _click_row(table: object, row: int) -> bool:
    """Click a row's selection marker: the grid is a canvas, so there is no element per row to locate. ``False``
    when the table is gone (a rerun replaced it between looking and clicking), and nothing was clicked."""
    if table.bounding_box() is None:  # type: ignore[attr-defined]
        return False
    table.click(position={"x": 18, "y": HEADER_PX + ROW_PX * row + ROW_PX / 2})  # type: ignore[attr-defined]
    return True


def _open_row(page: object, table: object, row: int, then: object) -> None:
    """Click a row until ``then`` (a locator) shows: on a loaded machine the grid may take the first click before it
    has drawn its rows, and nothing follows, or a rerun may replace the grid as it is clicked. A click that landed is
    never undone by another: each try first waits for the page's script to finish and looks again, and a changed URL
    means the click was taken."""
    from playwright.sync_api import expect

    url = page.url  # type: ignore[attr-defined]
    for attempt in range(3):
        settled(page)
        if attempt and then.count():  # type: ignore[attr-defined]
            break
        expect(table).to_be_visible()  # type: ignore[arg-type]
        page.wait_for_timeout(500)  # type: ignore[attr-defined]  # the grid draws its rows after it shows
        if not _click_row(table, row):
            continue  # try again once the rerun that replaced it has finished
        try:
            expect(then).to_be_visible(timeout=8_000)  # type: ignore[arg-type]
            return
        except AssertionError:
            if page.url != url:  # type: ignore[attr-defined]
                break
    expect(then).to_be_visible()  # type: ignore[arg-type]


def test_open_trace_and_span_in_chromium(viewer_url: str, db_path: Path) -> None:
    from playwright.sync_api import expect

    with chromium_page(height=1500) as page:
        page.goto(viewer_url)
        expect(page.get_by_role("heading", name="Traces", exact=True)).to_be_visible()
        traces = page.get_by_test_id("stDataFrame").first
        expect(traces).to_be_visible()
        # newest first: the hostile trace, the failure, then the support agent
        _open_row(page, traces, 2, page.get_by_role("heading", name="support_agent", level=1))
        expect(page.get_by_role("button", name="Download trace JSON")).to_be_visible()
        page.get_by_test_id("span-row").filter(has_text="chat gpt-4o").click()  # the LLM call, in the tree
        expect(page.get_by_role("heading", name="chat gpt-4o")).to_be_visible()
        expect(page.get_by_text("Where is my order A1?", exact=True).first).to_be_visible()
        expect(page.get_by_test_id("stChatMessage").first).to_be_visible()

        # thumbs down on the whole trace, in its popover: saved at once, shown at once
        page.get_by_role("button", name="Feedback on this trace").click()
        trace_feedback = page.get_by_test_id("stPopoverBody")
        trace_feedback.get_by_role("button", name="Thumbs down", exact=True).click()
        expect(trace_feedback.get_by_text("Yours: thumbs down", exact=True)).to_be_visible()
        page.wait_for_timeout(800)  # the waterfall chart renders asynchronously
        shot = ARTIFACTS / "trace.png"
        page.screenshot(path=str(shot), full_page=True)

        page.get_by_role("link", name="Traces").first.click()
        expect(page.get_by_role("heading", name="Traces", exact=True)).to_be_visible()
        traces = page.get_by_test_id("stDataFrame").first
        hostile = page.get_by_text("<script>alert('pwned')</script>", exact=False).first
        _open_row(page, traces, 0, hostile)  # hostile content: must show as text and never run
        page.screenshot(path=str(ARTIFACTS / "hostile.png"), full_page=True)

        # the rating shows up in the list: only the support agent is thumbs down
        page.get_by_role("link", name="Traces").first.click()
        expect(page.get_by_role("heading", name="Traces", exact=True)).to_be_visible()
        page.get_by_role("combobox", name="Feedback", exact=True).click()
        page.get_by_role("option", name="Thumbs down", exact=True).click()
        expect(page.get_by_text("1 trace on this page. Select a row to open one.", exact=True)).to_be_visible()
        page.wait_for_timeout(500)  # let the grid draw its rows
        page.screenshot(path=str(ARTIFACTS / "thumbs_down.png"), full_page=True)
        agent = page.get_by_role("heading", name="support_agent", level=1)
        _open_row(page, page.get_by_test_id("stDataFrame").first, 0, agent)

        # the review queue, by keyboard: type a comment, Tab to thumbs up and press Enter
        page.get_by_role("link", name="Review").first.click()
        expect(page.get_by_text("0 reviewed this session, 2 left", exact=True)).to_be_visible()
        settled(page)  # keys typed while the page's script still runs may go to an element about to be replaced
        comment = page.get_by_label("Comment", exact=True)
        comment.fill("fine")
        expect(comment).to_be_focused()
        page.screenshot(path=str(ARTIFACTS / "review.png"), full_page=True)
        page.keyboard.press("Tab")
        expect(page.get_by_role("button", name="Thumbs up Shortcut Alt + U", exact=True)).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.get_by_text("1 reviewed this session, 1 left", exact=True)).to_be_visible()
        settled(page)  # until the run ends, the buttons on the page may still be the last trace's
        page.keyboard.press("Alt+D")  # thumbs down by its shortcut
        expect(page.get_by_text("Nothing left to review.", exact=True)).to_be_visible()
        with TraceStore(db_path) as store:
            comments = [f.comment for t in store.search_traces() for f in store.get_feedback(t.trace_id)]
        assert "fine" in comments  # the comment typed before Tab + Enter went with the rating


def test_compare_runs_and_follow_a_regression_in_chromium(viewer_url: str, db_path: Path) -> None:
    from playwright.sync_api import expect

    evals = populate_evals(db_path)  # the viewer reads the store as it is on each page
    with chromium_page(height=1500) as page:
        page.goto(viewer_url)
        page.get_by_role("link", name="Evaluation").first.click()
        expect(page.get_by_role("heading", name="Evaluation", exact=True)).to_be_visible()
        runs = page.get_by_test_id("stDataFrame").first
        expect(runs).to_be_visible()
        page.wait_for_timeout(500)  # let the grid draw its rows
        page.screenshot(path=str(ARTIFACTS / "evaluation_runs.png"), full_page=True)
        # newest first: prompt-v2
        _open_row(page, runs, 0, page.get_by_role("heading", name="Run: prompt-v2", level=1))
        examples = page.get_by_test_id("stDataFrame").first
        # the example the judge failed on
        _open_row(page, examples, 2, page.get_by_text("judge answered no JSON", exact=True))
        page.screenshot(path=str(ARTIFACTS / "evaluation_run.png"), full_page=True)
        page.get_by_role("combobox", name="Compare with a baseline").click()
        page.get_by_role("option").filter(has_text="prompt-v1").click()
        page.get_by_role("button", name="Compare", exact=True).click()

        expect(page.get_by_role("heading", name="Compare runs", level=1)).to_be_visible()
        examples = page.get_by_test_id("stDataFrame").nth(1)  # after the scorers' means
        expect(examples).to_be_visible()
        # regressed first: the capital of France, Paris then Lyon
        _open_row(page, examples, 0, page.get_by_role("heading", name="▼ regressed"))
        expect(page.get_by_test_id("stText").filter(has_text="Lyon").first).to_be_visible()  # run B's answer
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / "evaluation_compare.png"), full_page=True)

        page.get_by_role("link", name="Open trace B").click()
        expect(page.get_by_role("heading", name="answer", level=1)).to_be_visible()
        expect(page.get_by_text(f"Trace {evals.traces_v2[1]}", exact=False).first).to_be_visible()

        # keep the regression as an example: a new dataset from the Trace page, then browse it
        settled(page)
        page.get_by_role("button", name="Add to dataset").click()
        page.get_by_role("combobox", name="Dataset", exact=True).click()
        page.get_by_role("option", name="New dataset…", exact=True).click()
        page.get_by_label("New dataset's name", exact=True).fill("regressions")
        page.get_by_label("New dataset's name", exact=True).press("Enter")
        settled(page)
        page.get_by_role("button", name="Add", exact=True).click()
        expect(page.get_by_text("Added to regressions as record", exact=False)).to_be_visible()
        page.keyboard.press("Escape")  # the popover stays open after Add; it may float over the link below it
        page.get_by_role("link", name="Open dataset").click()
        expect(page.get_by_role("heading", name="Dataset: regressions", level=1)).to_be_visible()
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / "dataset.png"), full_page=True)
        with TraceStore(db_path) as store:
            (record,) = store.records("regressions")
        assert (record.inputs, record.expectations) == (
            {"question": "Capital of France?"},
            {"expected_response": "Lyon"},
        )
