"""The Compare page (``/compare?a=&b=``) under AppTest: two traces of one agent, alike, with an extra tool call,
and failed; an unknown ID; a big pair whose table stays a page."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import spanlite
from _helpers import all_text, app, open_page
from spanlite.viewer._render import md_escape
from viewer_server import ARTIFACTS, HAS_CHROMIUM, NO_CHROMIUM, chromium_page, settled, viewer_at


@spanlite.trace(kind="TOOL")
def lookup(order_id: str) -> dict[str, str]:
    return {"order_id": order_id, "status": "shipped"}


@spanlite.trace(kind="AGENT")
def agent(question: str, *, lookups: int = 1, fail: bool = False) -> str:
    with spanlite.start_span("chat", kind="LLM") as span:
        span.set_attributes({"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 40})
        span.set_attributes({"gen_ai.usage.output_tokens": 5})
    for n in range(lookups):
        lookup(f"A{n}")
    if fail:
        raise ValueError("the order service is down")
    return f"answer to {question}"


def run(question: str, **kwargs: object) -> str:
    try:
        agent(question, **kwargs)  # type: ignore[arg-type]
    except ValueError:
        pass
    spanlite.flush()
    found = spanlite.search_traces(limit=1)
    return found[0].trace_id


def compare(a: str, b: str) -> AppTest:
    return open_page(app(), "compare_page.py", a=a, b=b)


def spans(at: AppTest) -> pd.DataFrame:
    table = at.dataframe[1].value
    table["Span"] = table["Span"].str.strip("\u2003 ")
    return table


def numbers(at: AppTest) -> dict[str, tuple[str, str, str]]:
    """The headers' table: each number's (A, B, B's change)."""
    table = at.dataframe[0].value
    return {row[""]: (row["A"], row["B"], row["Change"]) for _, row in table.iterrows()}


def test_identical_traces_align_span_for_span(db_path: Path) -> None:
    a, b = run("where is A1?"), run("where is A1?")
    at = compare(a, b)
    assert [s.value.split(" · ")[0] for s in at.subheader[:2]] == ["A", "B"]
    table = spans(at)
    assert list(table["Span"]) == ["agent", "chat", "lookup"]
    assert set(table["In"]) == {"both"}
    assert list(table["A tokens"].fillna(0)) == [0, 45, 0] and list(table["Δ tokens"].dropna()) == [0]
    assert numbers(at)["Spans"] == ("3", "3", "same") and numbers(at)["Errors"] == ("0", "0", "same")
    assert numbers(at)["Tokens"] == ("45", "45", "same") and numbers(at)["Cost"] == ("$0.00015", "$0.00015", "same")
    texts = [t.value for t in at.text]
    assert texts.count("answer to where is A1?") == 2  # both roots' outputs, as text
    links = [link.proto.page for link in at.get("page_link")]
    assert len(links) == 2
    at.segmented_control(key="cmp_show").set_value("Differences only").run()
    assert len(at.dataframe) == 1 and "No span differs" in all_text(at)
    at.segmented_control(key="cmp_show").set_value(None).run()  # clicked again: none chosen, so all spans
    assert len(spans(at)) == 3


def test_an_extra_tool_call_shows_as_a_span_of_b_only(db_path: Path) -> None:
    a, b = run("q"), run("q", lookups=2)
    at = compare(a, b)
    table = spans(at)
    assert list(zip(table["Span"], table["In"])) == [
        ("agent", "both"),
        ("chat", "both"),
        ("lookup", "both"),
        ("lookup", "B only"),
    ]
    assert numbers(at)["Spans"] == ("3", "4", "+1")
    at.segmented_control(key="cmp_show").set_value("Differences only").run()
    assert list(spans(at)["In"]) == ["B only"]
    at = compare(b, a)  # the other way round: the same span, in A only
    assert list(spans(at)["In"]) == ["both", "both", "both", "A only"]


def test_a_failed_trace_shows_its_status_and_error_count(db_path: Path) -> None:
    a, b = run("q"), run("q", fail=True)
    at = compare(a, b)
    caption = next(c.value for c in at.caption if c.value.startswith(f"Trace {b}"))
    assert caption.endswith(f"{time.strftime('%Z')} · ERROR · 1 failed span")  # local time, named
    assert numbers(at)["Errors"] == ("0", "1", "+1")
    root = spans(at).iloc[0]
    assert (root["A status"], root["B status"]) == ("OK", "ERROR")
    at.segmented_control(key="cmp_show").set_value("Differences only").run()
    assert list(spans(at)["Span"]) == ["agent"]


def test_an_unknown_id_is_said_and_the_ids_can_be_pasted(db_path: Path) -> None:
    a = run("q")
    at = compare(a, "f" * 32)
    assert [w.value for w in at.warning] == ["Trace B: no trace with that ID in this store."]
    assert not at.dataframe
    at.text_input[1].input(a)
    at.button[0].click().run()  # the form's Compare
    assert at.query_params["b"] == a and at.dataframe


def test_without_ids_the_page_asks_for_them(db_path: Path) -> None:
    at = open_page(app(), "compare_page.py")
    assert at.title[0].value == "Compare traces" and at.info
    assert [t.label for t in at.text_input if t.form_id == "compare_ids"] == ["Trace A", "Trace B"]


def test_big_traces_show_one_page_of_rows(db_path: Path) -> None:
    @spanlite.trace
    def batch(n: int) -> None:
        for i in range(n):
            with spanlite.start_span(f"step {i}"):
                pass

    batch(450)
    spanlite.flush()
    a = spanlite.search_traces(limit=1)[0].trace_id
    batch(460)
    spanlite.flush()
    b = spanlite.search_traces(limit=1)[0].trace_id
    at = compare(a, b)
    assert len(spans(at)) == 200
    assert "461 span paths · 0 only in A · 10 only in B" in all_text(at)


@pytest.mark.parametrize("side", ["A", "B"])
def test_a_hostile_name_reaches_markdown_escaped(db_path: Path, side: str) -> None:
    evil = "[click](javascript:alert(1)) <img src=x onerror=alert(1)> :red[x] $x$"

    @spanlite.trace(name=evil)
    def hostile() -> str:
        return evil

    hostile()
    spanlite.flush()
    trace = spanlite.search_traces(limit=1)[0].trace_id
    other = run("q")
    at = compare(trace, other) if side == "A" else compare(other, trace)
    heading = next(h.value for h in at.subheader if h.value.startswith(side))
    assert heading == f"{side} · :material/check_circle: {md_escape(evil, 80)}"
    assert evil in [t.value for t in at.text]  # its output, as plain text


def test_compare_in_chromium(db_path: Path) -> None:
    """Served for real: the deep link opens both traces aligned, and a header's link opens that trace."""
    if not HAS_CHROMIUM:
        pytest.skip(NO_CHROMIUM)
    from playwright.sync_api import expect

    a, b = run("q"), run("q", lookups=2, fail=True)
    with viewer_at(db_path, "streamlit-compare.log") as url, chromium_page() as page:
        page.goto(f"{url}/compare?a={a}&b={b}")
        expect(page.get_by_role("heading", name="Compare traces", exact=True)).to_be_visible()
        expect(page.get_by_role("heading", name="B · cancel icon agent")).to_be_visible()
        expect(page.get_by_test_id("stDataFrame")).to_have_count(2)  # the numbers, the spans
        expect(page.get_by_text("4 span paths · 0 only in A · 1 only in B")).to_be_visible()
        settled(page)
        page.screenshot(path=str(ARTIFACTS / "compare.png"), full_page=True)
        page.get_by_role("link", name="Open trace B").click()
        expect(page.get_by_role("heading", name="agent", level=1)).to_be_visible()
        assert f"trace={b}" in page.url
