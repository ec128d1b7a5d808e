"""Navigating big traces on the Trace page: served for real and driven in Debian's headless Chromium, the span tree
and the waterfall share one row per span (one scroll), the selected span's detail is in view without scrolling,
and a 10,000-span trace is searched, its next error found and read; under AppTest, the header shows its values
whole and the trace's feedback does not push the span down; in the store, a text search within one trace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from _helpers import EVIL, app, open_page, row, span_tree_rows
from spanlite.store import TraceStore, views
from spanlite.store._writer import write_spans
from spanlite.tracing.kinds import SpanKind
from viewer_server import ARTIFACTS, HAS_CHROMIUM, NO_CHROMIUM, chromium_page, viewer_at

needs_chromium = pytest.mark.skipif(not HAS_CHROMIUM, reason=NO_CHROMIUM)

VIEWPORT = {"width": 1440, "height": 900}  # a laptop's screen
BIG, SMALL = "b" * 32, "5" * 32
STEPS, CHILDREN = 99, 100  # 1 root + 99 steps + 9,900 children = 10,000 spans
KINDS = ("LLM", "TOOL", "RETRIEVER", "CHAT_MODEL")
MS = 1_000_000
NEEDLE = (40, 7)  # the child named "needle", at row ~4,000
ERRORS = [(12, 3), (55, 61), (80, 20)]  # the failed children: the next error after the needle is (55, 61)
ZEBRA = (70, 50)  # the only span whose output says "zebra"


def _child_id(step: int, child: int) -> str:
    return f"c{step:03d}{child:03d}".ljust(16, "0")


def _step_id(step: int) -> str:
    return f"s{step:03d}".ljust(16, "0")


def row_of(step: int, child: int) -> int:
    """The child's row in the fully expanded tree (the root is row 0, each step is followed by its children)."""
    return 1 + step * (CHILDREN + 1) + 1 + child


def _big_trace(store: TraceStore) -> None:
    """A 10,000-span batch run written straight through the store's writer (10k ``@trace`` calls would be slow)."""
    start = 1_700_000_000 * 10**9
    rows = [row(BIG, "r".ljust(16, "0"), None, start, name="batch", end_ns=start + STEPS * MS)]
    for step in range(STEPS):
        step_start = start + step * MS
        rows.append(
            row(BIG, _step_id(step), rows[0]["span_id"], step_start, name=f"step {step}", end_ns=step_start + MS - 1,
                attributes={"spanlite.span.kind": "AGENT"})
        )  # fmt: skip
        for child in range(CHILDREN):
            child_start = step_start + child * 9_000
            failed = (step, child) in ERRORS
            name = "needle" if (step, child) == NEEDLE else f"call {step}.{child}"
            output = "a zebra crossed" if (step, child) == ZEBRA else f"result {step}.{child}"
            attributes = {
                "spanlite.span.kind": KINDS[child % len(KINDS)],
                "spanlite.inputs": orjson.dumps({"question": f"q {step}.{child}"}).decode(),
                "spanlite.outputs": orjson.dumps(output).decode(),
            }
            rows.append(
                row(BIG, _child_id(step, child), _step_id(step), child_start, name=name, end_ns=child_start + 8_000,
                    attributes=attributes, status="ERROR" if failed else "OK",
                    status_message=f"boom at {step}.{child}" if failed else None)
            )  # fmt: skip
    write_spans(store.conn, rows)


def _small_trace(store: TraceStore) -> None:
    """Seven spans: an agent, two model calls, tools, a retriever and a hostile name, with a long session id."""
    start = 1_700_000_100 * 10**9
    root = "a".ljust(16, "0")
    kinds = ["LLM", "TOOL", "RETRIEVER", "LLM", "TOOL", "CHAIN"]
    rows = [
        row(SMALL, root, None, start, name="support agent", end_ns=start + 60 * MS,
            attributes={"spanlite.span.kind": "AGENT", "session.id": "session-" + "x" * 70})
    ]  # fmt: skip
    for i, kind in enumerate(kinds):
        name = EVIL if kind == "CHAIN" else f"{kind.lower()} step {i}"
        rows.append(
            row(SMALL, f"{i + 1}".ljust(16, "0"), root, start + i * 9 * MS, name=name,
                end_ns=start + (i * 9 + 8) * MS, attributes={"spanlite.span.kind": kind})
        )  # fmt: skip
    write_spans(store.conn, rows)


@pytest.fixture
def viewer_url(db_path: Path) -> Iterator[str]:
    with TraceStore(db_path) as store:
        _big_trace(store)
        _small_trace(store)
    with viewer_at(db_path, "streamlit_nav.log") as url:
        yield url


@pytest.fixture
def page(viewer_url: str) -> Iterator[Any]:
    with chromium_page(timeout_ms=60_000, **VIEWPORT) as tab:  # a 10,000-span trace, loaded machine
        yield tab


def in_viewport(box: dict[str, float] | None) -> bool:
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= VIEWPORT["height"]


def detail_heading(page: Any, name: str) -> Any:
    """The selected span's heading in the detail pane."""
    from playwright.sync_api import expect

    heading = page.get_by_role("heading", level=3).filter(has_text=name)
    expect(heading).to_be_visible()
    return heading


BOXES = """row => ["span-label", "span-bar"].map(id => {
    const box = row.querySelector(`[data-testid="${id}"]`).getBoundingClientRect();
    return {x: box.x, y: box.y, width: box.width, height: box.height};
})"""


def tree_row(page: Any, span_id: str) -> Any:
    return page.locator(f'[data-testid="span-row"][data-span-id="{span_id}"]')


@needs_chromium
def test_the_span_detail_is_in_view_on_a_small_trace(page: Any, viewer_url: str) -> None:
    """Bug 4: even on a 7-span trace the selected span's detail started ~1,400 px down, below an open feedback
    panel; it must be in view without scrolling. Header values are shown whole (no "…")."""
    page.goto(f"{viewer_url}/trace?trace={SMALL}&span={'4'.ljust(16, '0')}")
    heading = detail_heading(page, "llm step 3")
    assert in_viewport(heading.bounding_box()), heading.bounding_box()
    assert page.evaluate("window.scrollY") == 0
    page.get_by_text("session-" + "x" * 70, exact=True).first.wait_for()  # the whole session id, not cut off
    hostile = tree_row(page, "6".ljust(16, "0")).get_by_test_id("span-label")
    assert EVIL in hostile.inner_text()  # shown as text (no dialog opened: the fixture checks)
    assert hostile.locator("script, a").count() == 0
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "trace_nav_small.png"))


@needs_chromium
def test_tree_and_waterfall_rows_line_up_deep_in_a_big_trace(page: Any, viewer_url: str) -> None:
    """Bug 4: the tree scrolled inside 720 px while the waterfall grew to 7,147 px, so rows stopped lining up after
    ~20 and the detail started ~8,000 px down. A deep link to the span at row ~500 opens the tree there: its tree
    label and its waterfall bar on the same line, both in view, and its detail in view."""
    from playwright.sync_api import expect

    step, child = 4, 94
    assert row_of(step, child) == 500
    span_id = _child_id(step, child)
    page.goto(f"{viewer_url}/trace?trace={BIG}&span={span_id}")
    heading = detail_heading(page, f"call {step}.{child}")
    assert in_viewport(heading.bounding_box()), heading.bounding_box()
    selected = tree_row(page, span_id)
    expect(selected).to_have_attribute("aria-selected", "true")
    label_box, bar_box = selected.evaluate(BOXES)  # both at once: the tree may redraw its rows between two asks
    assert in_viewport(label_box) and in_viewport(bar_box), (label_box, bar_box)
    assert abs((label_box["y"] + label_box["height"] / 2) - (bar_box["y"] + bar_box["height"] / 2)) < 2
    # the page itself does not grow with the trace: tree and waterfall scroll together inside one pane
    assert page.evaluate("document.scrollingElement.scrollHeight") < 3 * VIEWPORT["height"]
    assert page.get_by_test_id("span-row").count() < 200  # only the rows in view are drawn


@needs_chromium
def test_a_10000_span_trace_search_next_error_and_detail(page: Any, viewer_url: str) -> None:
    """Done when (issue 24): open a 10,000-span trace, find a span by search, jump to the next error and read its
    detail without scrolling; content search asks the server, which answers with span ids."""
    from playwright.sync_api import expect

    received: list[int] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: received.append(len(f))))
    page.goto(f"{viewer_url}/trace?trace={BIG}")
    detail_heading(page, "batch")  # the root is selected first
    search = page.get_by_placeholder("Search spans")
    search.fill("needle")
    search.press("Enter")
    needle = _child_id(*NEEDLE)
    detail_heading(page, "needle")
    expect(tree_row(page, needle)).to_have_attribute("aria-selected", "true")
    assert f"span={needle}" in page.url

    # one click costs the detail, not the tree again: Streamlit sends an unchanged element by reference
    page.wait_for_timeout(1000)
    before = sum(received)
    page.get_by_role("button", name="Next error").click()
    error = _child_id(*ERRORS[1])
    heading = detail_heading(page, f"call {ERRORS[1][0]}.{ERRORS[1][1]}")
    message = page.get_by_text(f"boom at {ERRORS[1][0]}.{ERRORS[1][1]}").first
    expect(message).to_be_visible()
    assert in_viewport(heading.bounding_box()) and in_viewport(message.bounding_box())
    assert page.evaluate("window.scrollY") == 0
    expect(tree_row(page, error)).to_have_attribute("aria-selected", "true")
    assert in_viewport(tree_row(page, error).bounding_box())
    page.wait_for_timeout(1000)
    click_bytes = sum(received) - before
    assert click_bytes < 100_000, click_bytes  # ~15 KB measured; the tree's data alone is ~620 KB
    page.screenshot(path=str(ARTIFACTS / "trace_nav.png"))

    # search in span inputs and outputs: done by the store, within this trace
    search.fill("zebra")
    search.press("Enter")
    detail_heading(page, f"call {ZEBRA[0]}.{ZEBRA[1]}")
    expect(tree_row(page, _child_id(*ZEBRA))).to_have_attribute("aria-selected", "true")

    # collapse a step: its children leave the tree; expand it again
    search.fill(f"step {ZEBRA[0]}")
    search.press("Enter")
    detail_heading(page, f"step {ZEBRA[0]}")
    step_row = tree_row(page, _step_id(ZEBRA[0]))
    first_child = tree_row(page, _child_id(ZEBRA[0], 0))
    expect(first_child).to_have_count(1)
    step_row.get_by_role("button", name="Collapse").click()
    expect(first_child).to_have_count(0)
    expect(step_row).to_have_attribute("aria-expanded", "false")
    step_row.get_by_role("button", name="Expand").click()
    expect(first_child).to_have_count(1)


LONG_MODEL = "gpt-4o-mini-2024-07-18-deployed-for-the-customer-support-team-in-europe-west"


def test_header_values_are_shown_whole(db_path: Path) -> None:
    """Session, user and model are shown whole (a metric cut them at 40 characters with "…"), each with a copy
    button; figures too, on one line that wraps."""
    with TraceStore(db_path) as store:
        _small_trace(store)
        start = 1_700_000_200 * 10**9
        user = "user-" + "y" * 60
        attributes = {"spanlite.span.kind": "LLM", "gen_ai.request.model": LONG_MODEL, "user.id": user,
                      "gen_ai.usage.input_tokens": 123_456_789, "gen_ai.usage.output_tokens": 98_765_432}  # fmt: skip
        write_spans(store.conn, [row("c" * 32, "c".ljust(16, "0"), None, start, name="ask", attributes=attributes)])
    at = open_page(app(), "trace_page.py", trace=SMALL)
    assert "session-" + "x" * 70 in [c.value for c in at.code]
    at = open_page(at, "trace_page.py", trace="c" * 32)
    shown = [c.value for c in at.code]
    assert LONG_MODEL in shown and user in shown
    assert all("…" not in c for c in shown)
    assert "Tokens in → out **123,456,789 → 98,765,432**" in at.markdown[0].value


def test_trace_feedback_does_not_push_the_span_down(db_path: Path) -> None:
    """Bug 4: the trace's feedback panel was an expander open by default, between the header and the span; it is
    a popover now (it floats over the page when opened), its controls all there."""
    with TraceStore(db_path) as store:
        _small_trace(store)
    at = open_page(app(), "trace_page.py", trace=SMALL)
    assert not [e for e in at.expander if "Feedback" in e.label and e.proto.expanded]
    assert at.button(key=f"fb_{SMALL}_thumbs_up").label == "Thumbs up"


def test_span_colours_are_fixed_per_kind(db_path: Path) -> None:
    """Every span kind has its own colour, the same in every trace; errors are marked apart, in a colour no kind
    has."""
    from spanlite.viewer._span_tree import ERROR_COLOR, KIND_COLORS

    assert set(KIND_COLORS) == {k.value for k in SpanKind}
    assert len(set(KIND_COLORS.values())) == len(KIND_COLORS) and ERROR_COLOR not in KIND_COLORS.values()
    with TraceStore(db_path) as store:
        _small_trace(store)
        write_spans(store.conn, [row("d" * 32, "d".ljust(16, "0"), None, 1, attributes={"spanlite.span.kind": "TOOL"})])
    at = open_page(app(), "trace_page.py", trace=SMALL)
    assert [r[1] for r in span_tree_rows(at)] == ["AGENT", "LLM", "TOOL", "RETRIEVER", "LLM", "TOOL", "CHAIN"]
    first = orjson.loads(orjson.loads(at.get("bidi_component")[0].proto.json))["colors"]
    at = open_page(at, "trace_page.py", trace="d" * 32)
    assert orjson.loads(orjson.loads(at.get("bidi_component")[0].proto.json))["colors"] == first == KIND_COLORS


def test_text_search_within_a_trace_returns_its_span_ids(db_path: Path) -> None:
    """The tree's content search: the store finds the words in span inputs and outputs of this trace only (spans
    written after the index last caught up included), and returns span ids, never the inputs."""
    with TraceStore(db_path) as store:
        _big_trace(store)
        other = orjson.dumps("a zebra elsewhere").decode()
        write_spans(store.conn, [row("e" * 32, "e".ljust(16, "0"), None, 1, attributes={"spanlite.outputs": other})])
        assert views.span_text_matches(store, BIG, "zebra") == [_child_id(*ZEBRA)]
        assert views.span_text_matches(store, BIG, "ZEBRA crossed") == [_child_id(*ZEBRA)]
        assert views.span_text_matches(store, BIG, "zebra elsewhere") == []
        assert views.span_text_matches(store, BIG, '"; DROP') == []  # words, never FTS syntax
        assert len(views.span_text_matches(store, BIG, "result", limit=50)) == 50
        plan = " ".join(str(r) for r in store.conn.execute(
            "EXPLAIN QUERY PLAN SELECT s.span_id FROM spans s WHERE s.trace_id = ? AND s.rowid IN (SELECT rowid "
            "FROM spans_fts WHERE spans_fts MATCH ? AND rowid BETWEEN 1 AND 2)", [BIG, '"zebra"']))  # fmt: skip
        assert "(trace_id=?)" in plan and "SCAN spans " not in plan  # the trace_id index, no scan of spans


def _focus(at: Any) -> tuple[str, int]:
    span_id, number = orjson.loads(orjson.loads(at.get("bidi_component")[0].proto.json))["focus"]
    return span_id, number


def test_the_tree_opens_at_the_span_in_the_url(db_path: Path) -> None:
    """The tree's data names the span to open at (numbered) only when the URL's span did not come from a click in
    the tree, so a click does not change the data and the tree is not sent again; a link or the Back button to a
    span the tree was opened at before opens it there again; a tree drawn anew (the page visited again) opens at
    the URL's span even when that was the last one clicked."""
    with TraceStore(db_path) as store:
        _small_trace(store)
    first, second, third = "2".ljust(16, "0"), "4".ljust(16, "0"), "1".ljust(16, "0")
    key = f"span_tree_{SMALL}"

    def click(span_id: str) -> None:  # what a click in the tree does (its trigger's callback; AppTest cannot send it)
        at.session_state[f"{key}_picked"] = span_id
        at.query_params["span"] = span_id
        at.run()

    at = open_page(app(), "trace_page.py", trace=SMALL, span=first)
    assert _focus(at) == (first, 1)
    click(second)
    assert _focus(at) == (first, 1)  # unchanged: the tree already shows the span it sent
    at.query_params["span"] = third  # a link to another span of this trace
    at.run()
    assert _focus(at) == (third, 2)
    click(second)
    at.query_params["span"] = third  # the browser's Back button
    at.run()
    assert _focus(at) == (third, 3)  # the same span as before, but the tree must go back to it

    click(second)
    at.query_params.clear()
    at = open_page(at, "sessions_page.py")  # elsewhere: the tree is gone from the page
    at = open_page(at, "trace_page.py", trace=SMALL, span=second)  # back to the last span clicked, by a link
    assert _focus(at)[0] == second


def test_the_component_never_writes_html() -> None:
    """Trace content reaches the tree only as text: the component's script has no way to write HTML."""
    from spanlite.viewer._span_tree import STATIC

    lines = (STATIC / "span_tree.js").read_text(encoding="utf-8").splitlines()
    script = "\n".join(line for line in lines if not line.lstrip().startswith("//"))  # code, not its comments
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in script, sink
