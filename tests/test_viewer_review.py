"""Reviewing traces as a reviewer does: in Chromium, by keyboard and mouse, with comments, across reloads and deep
links; and what the list and its feedback filter count as a trace's feedback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pytest

from _helpers import EVIL, Traces, app, cli, open_page, populate
from spanlite.store import TraceStore, query, views
from spanlite.store.views import FeedbackSummary
from spanlite.viewer._render import md_escape
from viewer_server import ARTIFACTS, HAS_CHROMIUM, NO_CHROMIUM, chromium_page, settled, viewer_at

browser_test = pytest.mark.skipif(not HAS_CHROMIUM, reason=NO_CHROMIUM)


@pytest.fixture
def traces(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> Traces:
    monkeypatch.setenv("SPANLITE_USER", "ada")  # the OS user stand-in that a remembered name must replace
    return populate()


@pytest.fixture
def viewer_url(traces: Traces, db_path: Path) -> Iterator[str]:
    with viewer_at(db_path, "streamlit_review.log") as url:
        yield url


def thumbs(db_path: Path) -> dict[str, tuple[bool, str | None, str | None]]:
    """Trace id -> (value, comment, author) of each stored thumbs rating."""
    with TraceStore(db_path) as store:
        return {
            f.trace_id: (bool(f.value), f.comment, f.author)
            for t in store.search_traces()
            for f in store.get_feedback(t.trace_id)
        }


def next_box_empty(page: Any) -> None:
    """Wait until the page shows one comment box, empty: the last trace's box stays a moment, the next one's comes
    while the page is drawn, and a box that kept the last trace's text never qualifies."""
    page.wait_for_function(
        "() => { const boxes = document.querySelectorAll('textarea[aria-label=\"Comment\"]');"
        " return boxes.length === 1 && boxes[0].value === ''; }"
    )


@browser_test
def test_every_way_of_rating_saves_the_comment_typed_for_that_trace(
    viewer_url: str, traces: Traces, db_path: Path
) -> None:
    from playwright.sync_api import expect

    with chromium_page() as page:
        page.goto(f"{viewer_url}/review")
        expect(page.get_by_text("0 reviewed this session, 3 left", exact=True)).to_be_visible()
        settled(page)
        comment = page.get_by_label("Comment", exact=True)

        # the shortcut pressed while the comment box still has the focus (it never blurs)
        comment.click()
        page.keyboard.type("unsafe output")
        page.keyboard.press("Alt+D")
        expect(page.get_by_text("1 reviewed this session, 2 left", exact=True)).to_be_visible()
        settled(page)
        assert thumbs(db_path) == {traces.evil: (False, "unsafe output", "ada")}
        next_box_empty(page)  # nothing typed for the last trace is left for this one

        # Tab to thumbs up and Enter
        comment.click()
        page.keyboard.type("refused, rightly")
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        expect(page.get_by_text("2 reviewed this session, 1 left", exact=True)).to_be_visible()
        settled(page)
        next_box_empty(page)

        # the mouse
        comment.click()
        page.keyboard.type("tool call shown")
        page.get_by_role("button", name="Thumbs down", exact=False).click()
        expect(page.get_by_text("Nothing left to review.", exact=True)).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "review_done.png"), full_page=True)
    assert thumbs(db_path) == {
        traces.evil: (False, "unsafe output", "ada"),
        traces.failing: (True, "refused, rightly", "ada"),
        traces.agent: (False, "tool call shown", "ada"),
    }


@pytest.fixture
def store(traces: Traces, db_path: Path) -> Iterator[TraceStore]:
    with TraceStore(db_path) as s:
        yield s


def llm_span(store: TraceStore, trace_id: str) -> str:
    return next(n.span_id for n in views.span_tree(store, trace_id) if n.kind == "LLM")


def found(store: TraceStore, **filters: Any) -> set[str]:
    return {t.trace_id for t in store.search_traces(**filters)}


def test_the_list_and_its_filters_count_trace_feedback_and_span_feedback_only_when_asked(
    traces: Traces, store: TraceStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 👍 trace whose LLM span got a 👎 is a 👍 trace: the span's rating is about that step, not the answer (as
    Langfuse keeps observation scores apart from trace scores, and MLflow assessments name their span)."""
    store.log_feedback(traces.agent, "thumbs", True, author="ada")
    store.log_feedback(traces.agent, "thumbs", False, span_id=llm_span(store, traces.agent), author="ada")
    root = store.get_trace(traces.failing).root  # type: ignore[union-attr]
    store.log_feedback(traces.failing, "thumbs", False, span_id=root.span_id, author="ada")  # its root span only
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)  # each query, to check its plan below
    assert views.feedback_summary(store, [traces.agent, traces.failing]) == {
        traces.agent: [FeedbackSummary("thumbs", 1, 1.0, 1, 0)]
    }
    for cap in (query.MEMBERS_CAP, 1):  # both plans: list the rated traces, or probe each trace (many ratings)
        monkeypatch.setattr(query, "MEMBERS_CAP", cap)
        assert found(store, feedback="thumbs=true") == {traces.agent}
        assert found(store, feedback="thumbs=false") == set()
        assert found(store, has_feedback=True) == {traces.agent}
        assert found(store, has_feedback=False) == {traces.failing, traces.evil}
        assert store.count_traces(has_feedback=False, feedback_source="human") == 2  # the review queue
        # span feedback, when asked for: any rating on the trace or on one of its spans
        assert found(store, feedback="thumbs=false", feedback_on_spans=True) == {traces.agent, traces.failing}
        assert found(store, has_feedback=False, feedback_on_spans=True) == {traces.evil}
    store.conn.set_trace_callback(None)
    listed = cli("traces", "list", "--json", "--feedback", "thumbs=false", "--feedback-on-spans", db=store.path)
    assert {orjson.loads(line)["trace_id"] for line in listed.stdout.splitlines()} == {traces.agent, traces.failing}
    plans = [
        " | ".join(r["detail"] for r in store.rows(f"EXPLAIN QUERY PLAN {sql}"))
        for sql in statements
        if "feedback" in sql and sql.lstrip().upper().startswith(("SELECT", "WITH"))
    ]
    assert plans and not [p for p in plans if "SCAN x" in p or "SCAN feedback" in p], plans


def test_the_traces_page_shows_and_filters_trace_feedback(traces: Traces, store: TraceStore) -> None:
    store.log_feedback(traces.agent, "thumbs", True, author="ada")
    store.log_feedback(traces.agent, "thumbs", False, span_id=llm_span(store, traces.agent), author="ada")
    at = app()
    assert at.dataframe[0].value.set_index("Trace ID").loc[traces.agent, "Feedback"] == "1 up, 0 down"
    at.selectbox(key="f_feedback").select("Thumbs down").run()
    assert not at.dataframe and at.info[0].value == "No traces match."
    at.selectbox(key="f_feedback").select("Thumbs up").run()
    assert list(at.dataframe[0].value["Trace ID"]) == [traces.agent]


def test_the_traces_page_counts_span_feedback_when_asked(traces: Traces, store: TraceStore) -> None:
    store.log_feedback(traces.agent, "thumbs", True, author="ada")
    store.log_feedback(traces.agent, "thumbs", False, span_id=llm_span(store, traces.agent), author="ada")
    at = app()
    at.selectbox(key="f_feedback").select("Thumbs down").run()
    assert not at.dataframe
    at.checkbox(key="f_feedback_spans").check().run()  # a thumbs down on one of its spans now counts
    assert list(at.dataframe[0].value["Trace ID"]) == [traces.agent]


def test_rating_again_with_the_same_value_changes_nothing(traces: Traces, store: TraceStore) -> None:
    first = store.log_feedback(traces.agent, "thumbs", False, author="ada", comment="wrong order")
    again = store.log_feedback(traces.agent, "thumbs", False, author="ada", comment="wrong order")
    assert again == first  # no history entry, not even a new time
    # a click without a comment (the trace page's 👎) keeps the comment written with the same rating
    assert store.log_feedback(traces.agent, "thumbs", False, author="ada") == first
    changed = store.log_feedback(traces.agent, "thumbs", False, author="ada", comment="wrong order, and rude")
    assert (changed.comment, [h["comment"] for h in changed.history]) == ("wrong order, and rude", ["wrong order"])
    flipped = store.log_feedback(traces.agent, "thumbs", True, author="ada")
    assert (flipped.value, flipped.comment, len(flipped.history)) == (True, None, 2)
    # another author's identical rating is their own row
    assert store.log_feedback(traces.agent, "thumbs", True, author="grace").history == []


def test_clicking_the_current_thumbs_again_adds_no_history(traces: Traces, store: TraceStore) -> None:
    at = open_page(app(), "trace_page.py", trace=traces.agent)
    key = f"fb_{traces.agent}"
    at.button(key=f"{key}_thumbs_down").click().run()
    at.button(key=f"{key}_thumbs_down").click().run()
    assert not at.exception, at.exception
    assert [(f.value, f.history) for f in store.get_feedback(traces.agent)] == [(False, [])]
    assert "Yours: thumbs down" in [c.value for c in at.caption]


def remembered(page: Any, name: str) -> None:
    """Wait until the browser holds the name: the cookie is written once the rerun after typing reaches it."""
    cookie = f"spanlite_author={quote(name, safe='')}"
    page.wait_for_function(f"document.cookie.split('; ').includes({orjson.dumps(cookie).decode()})")


@browser_test
def test_your_name_is_remembered_across_reloads_and_deep_links(viewer_url: str, traces: Traces, db_path: Path) -> None:
    from playwright.sync_api import expect

    with chromium_page() as page:
        page.goto(viewer_url)
        name = page.get_by_label("Your name", exact=True)
        expect(name).to_have_value("ada")  # nobody has typed a name in this browser: $SPANLITE_USER
        name.fill("grace")
        name.press("Enter")
        remembered(page, "grace")
        page.reload()
        expect(page.get_by_role("heading", name="Traces", exact=True)).to_be_visible()
        expect(name).to_have_value("grace")

        page.goto(f"{viewer_url}/trace?trace={traces.agent}")  # a deep link opens a new session
        expect(page.get_by_role("heading", name="support_agent", level=1)).to_be_visible()
        expect(name).to_have_value("grace")
        settled(page)
        page.get_by_role("button", name="Feedback on this trace").click()  # trace feedback is in a popover
        trace_feedback = page.get_by_test_id("stPopoverBody")
        trace_feedback.get_by_role("button", name="Thumbs down", exact=True).click()
        expect(trace_feedback.get_by_text("Yours: thumbs down", exact=True)).to_be_visible()

        page.goto(f"{viewer_url}/review")
        expect(page.get_by_text("0 reviewed this session, 2 left", exact=True)).to_be_visible()
        expect(name).to_have_value("grace")
        settled(page)
        page.keyboard.press("Alt+U")
        expect(page.get_by_text("1 reviewed this session, 1 left", exact=True)).to_be_visible()

        name.fill("Grâce H.; path=/x")  # a second name replaces the first, whatever characters it has
        name.press("Enter")
        remembered(page, "Grâce H.; path=/x")
        page.reload()
        expect(name).to_have_value("Grâce H.; path=/x")
    assert thumbs(db_path) == {traces.agent: (False, None, "grace"), traces.evil: (True, None, "grace")}


@browser_test
def test_the_keyboard_flow_goes_on_from_trace_to_trace(viewer_url: str, traces: Traces, db_path: Path) -> None:
    """Type, rate by shortcut or Tab and Enter, type again: the comment box of each next trace takes the focus."""
    from playwright.sync_api import expect

    with chromium_page() as page:
        page.goto(f"{viewer_url}/review")
        expect(page.get_by_text("0 reviewed this session, 3 left", exact=True)).to_be_visible()
        comment = page.get_by_label("Comment", exact=True)
        expect(comment).to_be_focused()
        page.keyboard.type("leaks the prompt")
        page.keyboard.press("Alt+D")
        next_box_empty(page)
        expect(comment).to_be_focused()
        page.keyboard.type("refused, rightly")
        page.keyboard.press("Tab")
        expect(page.get_by_role("button", name="Thumbs up Shortcut Alt + U", exact=True)).to_be_focused()
        page.keyboard.press("Enter")
        next_box_empty(page)
        expect(comment).to_be_focused()
        page.keyboard.press("Alt+S")
        expect(page.get_by_text("2 reviewed this session, 0 left, 1 skipped", exact=True)).to_be_visible()
    assert thumbs(db_path) == {
        traces.evil: (False, "leaks the prompt", "ada"),
        traces.failing: (True, "refused, rightly", "ada"),
    }


def test_a_press_sent_for_a_trace_already_rated_rates_nothing_else(traces: Traces, store: TraceStore) -> None:
    """What the browser sends when 👎 (or Alt+D) is pressed twice faster than the page changes: the second press
    is for the button of the trace on screen then, which was already rated. Streamlit replays a press from an
    interrupted run too. Neither may rate the next trace, which the reviewer has not seen."""
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    at = open_page(app(), "review_page.py")
    down = next(b for b in at.button if b.label == "Thumbs down")
    down.click().run()
    assert at.subheader[0].value == "refund"
    states = at._tree.get_widget_states()  # what the page now on screen sends, as AppTest's own run() does
    states.widgets.append(WidgetState(id=down.id, trigger_value=True))  # and the press on the earlier page
    at._run(states)
    assert not at.exception, at.exception
    assert {t.trace_id for t in store.search_traces(has_feedback=True)} == {traces.evil}
    assert at.subheader[0].value == "refund"
    assert at.caption[0].value == "1 reviewed this session, 2 left"
    # said, so that a press that seems lost (it came while the page changed) is pressed again
    assert [w.value for w in at.warning] == [
        "That press was for the trace before, already done: this one is not rated yet."
    ]


def test_rating_a_trace_deleted_meanwhile_saves_nothing_and_moves_on(traces: Traces, store: TraceStore) -> None:
    at = open_page(app(), "review_page.py")
    assert at.subheader[0].value == md_escape(EVIL)  # the newest
    store.delete_traces([traces.evil])  # by someone else, or `spanlite traces delete`, while the reviewer reads
    at.text_area(key=f"review_comment_{traces.evil}").input("unsafe")
    at.button(key=f"review_down_{traces.evil}").click().run()
    assert not at.exception, at.exception
    assert store.get_feedback(traces.evil) == []  # no rating left behind for a trace that is gone
    assert [w.value for w in at.warning] == ["That trace was deleted meanwhile: nothing was saved."]
    assert at.subheader[0].value == "refund"
    assert at.caption[0].value == "0 reviewed this session, 2 left"
