"""The Compare page (``/compare?a=&b=``) under AppTest: two traces of one agent, alike, with an extra tool call,
and failed; an unknown ID; a big pair whose table stays a page."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import spanlite
from _helpers import all_text, app, open_page
from spanlite.viewer._render import md_escape


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
    table = at.dataframe[0].value
    table["Span"] = table["Span"].str.strip("\u2003 ")
    return table


def metrics(at: AppTest, column: int) -> dict[str, tuple[str, str]]:
    """A header's metrics (label -> (value, delta)): A's are the first five, B's the next five."""
    found = [(m.label, (m.value, m.proto.delta)) for m in at.metric]
    return dict(found[column * 5 : column * 5 + 5])


def test_identical_traces_align_span_for_span(db_path: Path) -> None:
    a, b = run("where is A1?"), run("where is A1?")
    at = compare(a, b)
    assert [s.value.split(" · ")[0] for s in at.subheader[:2]] == ["A", "B"]
    table = spans(at)
    assert list(table["Span"]) == ["🕵️ agent", "🤖 chat", "🔧 lookup"]
    assert set(table["In"]) == {"both"}
    assert list(table["A tokens"].fillna(0)) == [0, 45, 0] and list(table["Δ tokens"].dropna()) == [0]
    assert metrics(at, 1)["Spans"] == ("3", "+0") and metrics(at, 1)["Errors"] == ("0", "+0")
    assert metrics(at, 1)["Tokens"] == ("45", "+0")
    texts = [t.value for t in at.text]
    assert texts.count("answer to where is A1?") == 2  # both roots' outputs, as text
    links = [link.proto.page for link in at.get("page_link")]
    assert len(links) == 2
    at.segmented_control(key="cmp_show").set_value("Differences only").run()
    assert not at.dataframe and "No span differs" in all_text(at)


def test_an_extra_tool_call_shows_as_a_span_of_b_only(db_path: Path) -> None:
    a, b = run("q"), run("q", lookups=2)
    at = compare(a, b)
    table = spans(at)
    assert list(zip(table["Span"], table["In"])) == [
        ("🕵️ agent", "both"),
        ("🤖 chat", "both"),
        ("🔧 lookup", "both"),
        ("🔧 lookup", "B only"),
    ]
    assert metrics(at, 1)["Spans"] == ("4", "+1")
    at.segmented_control(key="cmp_show").set_value("Differences only").run()
    assert list(spans(at)["In"]) == ["B only"]
    at = compare(b, a)  # the other way round: the same span, in A only
    assert list(spans(at)["In"]) == ["both", "both", "both", "A only"]


def test_a_failed_trace_shows_its_status_and_error_count(db_path: Path) -> None:
    a, b = run("q"), run("q", fail=True)
    at = compare(a, b)
    caption = next(c.value for c in at.caption if c.value.startswith(f"Trace {b}"))
    assert caption.endswith("UTC · ERROR · 1 failed span")
    assert metrics(at, 1)["Errors"] == ("1", "+1")
    root = spans(at).iloc[0]
    assert (root["A status"], root["B status"]) == ("✅ OK", "❌ ERROR")
    at.segmented_control(key="cmp_show").set_value("Differences only").run()
    assert list(spans(at)["Span"]) == ["🕵️ agent"]


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
    assert len(at.dataframe[0].value) == 200
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
    assert heading == f"{side} · ✅ {md_escape(evil, 80)}"
    assert evil in [t.value for t in at.text]  # its output, as plain text
