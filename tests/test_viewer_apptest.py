"""The viewer's pages under Streamlit's AppTest, on a store filled through the real tracing API."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import spanlite
from _helpers import ANSWER, APP, EVIL, QUESTION, Traces, all_text, app, open_page, populate, span_tree_rows
from spanlite.store import TraceStore, views


@pytest.fixture
def traces(db_path: Path) -> Traces:
    return populate()


def test_traces_page_lists_newest_first_with_columns(traces: Traces) -> None:
    at = app()
    assert at.title[0].value == "Traces"
    table = at.dataframe[0].value
    assert list(table["Trace ID"]) == [traces.evil, traces.failing, traces.agent]
    agent = table[table["Trace ID"] == traces.agent].iloc[0]
    assert agent["Name"] == "support_agent"
    assert agent["Session"] == "sess-1" and agent["User"] == "alice"
    assert agent["Tags"] == "prod, support"
    assert agent["Tokens"] == 49  # a number, so that a header click sorts by value (issue 24)
    assert agent["Status"] == "OK"
    assert agent["Input"] == QUESTION and agent["Output"] == ANSWER
    assert "Feedback" in table.columns


def test_traces_page_filters(traces: Traces) -> None:
    at = app()
    at.selectbox(key="f_status").select("ERROR").run()
    assert list(at.dataframe[0].value["Trace ID"]) == [traces.failing]
    at.selectbox(key="f_status").select("Any").run()
    at.selectbox(key="f_model").select("gpt-4o").run()
    assert list(at.dataframe[0].value["Trace ID"]) == [traces.agent]
    at.selectbox(key="f_model").select("Any")
    at.selectbox(key="f_kind").select("TOOL").run()
    assert list(at.dataframe[0].value["Trace ID"]) == [traces.agent]
    at.selectbox(key="f_kind").select("Any")
    at.multiselect(key="f_tags").select("support").run()
    assert list(at.dataframe[0].value["Trace ID"]) == [traces.agent]
    at.multiselect(key="f_tags").unselect("support")
    at.text_input(key="f_user").input("alice").run()
    assert set(at.dataframe[0].value["Trace ID"]) == {traces.agent, traces.failing}
    at.text_input(key="f_user").input("")
    at.text_input(key="f_name").input("refu").run()
    assert list(at.dataframe[0].value["Trace ID"]) == [traces.failing]
    at.text_input(key="f_name").input("")
    at.text_input(key="f_text").input("shipped").run()
    assert list(at.dataframe[0].value["Trace ID"]) == [traces.agent]
    at.text_input(key="f_text").input("no such words anywhere").run()
    assert not at.dataframe and at.info[0].value == "No traces match."


def test_traces_page_pages_with_keyset_tokens(traces: Traces, monkeypatch: pytest.MonkeyPatch) -> None:
    from spanlite.viewer import data

    monkeypatch.setattr(data, "PAGE_SIZE", 2)
    at = app()
    assert list(at.dataframe[0].value["Trace ID"]) == [traces.evil, traces.failing]
    at.button(key="traces_next").click().run()
    assert list(at.dataframe[0].value["Trace ID"]) == [traces.agent]
    assert at.button(key="traces_next").disabled
    at.button(key="traces_prev").click().run()
    assert list(at.dataframe[0].value["Trace ID"]) == [traces.evil, traces.failing]


def test_selecting_a_row_opens_the_trace(traces: Traces) -> None:
    at = app()
    at.session_state["traces_table_1"] = {"selection": {"rows": [2], "columns": [], "cells": []}}
    at.run()
    assert at.query_params["trace"] == traces.agent
    assert at.caption[0].value.startswith(f"Trace {traces.agent}")


def test_trace_page_deep_link_shows_tree_waterfall_and_chat(traces: Traces, db_path: Path) -> None:
    at = open_page(app(), "trace_page.py", trace=traces.agent)
    # the tree and the waterfall are one component now (drawn in the browser: tests/test_viewer_trace_nav.py)
    tree = span_tree_rows(at)
    names = [(0, "AGENT", "support_agent"), (1, "LLM", "chat gpt-4o"), (1, "TOOL", "lookup_order")]
    assert [row[:3] for row in tree] == names
    assert [row[3] for row in tree] == ["", "42→7", ""]  # per span, not summed
    assert at.button[0].label == "Download trace JSON" or any(
        e.proto.label == "Download trace JSON" for e in at.get("download_button")
    )
    # the root span is selected first; pick the LLM span through the deep link
    with TraceStore(db_path) as store:
        llm = next(n for n in views.span_tree(store, traces.agent) if n.kind == "LLM")
    at.query_params["span"] = llm.span_id
    at.run()
    assert not at.exception, at.exception
    names = [m.name for m in at.chat_message]
    assert names == ["system", "user", "assistant"]  # system, user, then the assistant's tool call
    texts = [t.value for t in at.text]
    assert QUESTION in texts and "You are a helpful support agent." in texts
    assert any('"order_id": "A1"' in c.value for c in at.code)
    assert "gpt-4o" in [c.value for c in at.code]  # the model, shown whole with a copy button


def test_trace_page_deep_link_to_a_span_shows_it(traces: Traces, db_path: Path) -> None:
    """A click in the tree puts the span in the URL (in the browser: tests/test_viewer_trace_nav.py); the page
    shows the span the URL names."""
    with TraceStore(db_path) as store:
        tool = next(n for n in views.span_tree(store, traces.agent) if n.kind == "TOOL")
    at = open_page(app(), "trace_page.py", trace=traces.agent, span=tool.span_id)
    assert at.subheader[0].value == ":material/build: lookup\\_order"  # Markdown-escaped
    assert any("shipped" in str(j.value) for j in at.json)


def test_trace_page_shows_exception_with_traceback(traces: Traces) -> None:
    at = open_page(app(), "trace_page.py", trace=traces.failing)
    codes = [c.value for c in at.code]
    assert "ValueError: refund of A1 refused" in codes
    assert any("Traceback" in c and "refund of" in c for c in codes)


def test_trace_content_is_never_html(traces: Traces) -> None:
    at = app()
    assert EVIL in list(at.dataframe[0].value["Name"])
    at = open_page(at, "trace_page.py", trace=traces.evil)
    assert EVIL in [t.value for t in at.text]  # the output, shown literally
    assert not at.get("html")
    for element in [*at.markdown, *at.caption]:
        assert not element.proto.allow_html
    shown = all_text(at)
    assert "<script>" not in shown and "](javascript" not in shown and ":red[" not in shown
    assert "\\<script\\>" in shown  # the title carries the name escaped


def test_unknown_trace_says_so(traces: Traces) -> None:
    at = open_page(app(), "trace_page.py", trace="0" * 32)
    assert at.warning[0].value == "No trace with that ID in this store."


def test_root_deep_link_redirects_to_trace_page(traces: Traces) -> None:
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.query_params["trace"] = traces.agent
    at.run()
    assert not at.exception
    assert at.caption[0].value.startswith(f"Trace {traces.agent}")


def test_sessions_page_lists_and_reads_a_conversation(traces: Traces) -> None:
    at = open_page(app(), "sessions_page.py")
    table = at.dataframe[0].value
    assert list(table["Session"]) == ["sess-1"] and list(table["Traces"]) == [2]
    at.session_state["sessions_1"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert at.query_params["session"] == "sess-1"
    assert [m.name for m in at.chat_message] == ["user", "assistant", "user", "assistant"]
    texts = [t.value for t in at.text]
    assert texts.index(QUESTION) < texts.index(ANSWER)
    assert '{\n  "order_id": "A1"\n}' in texts or "A1" in texts


def test_overview_page_shows_volume_errors_latency_tokens(traces: Traces) -> None:
    at = open_page(app(), "overview_page.py")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Traces"] == "3"
    assert metrics["Error rate"] == "33.3%"
    assert metrics["Input tokens"] == "42" and metrics["Output tokens"] == "7"
    assert "Latency p50" in metrics and "Latency p95" in metrics
    assert len(at.get("vega_lite_chart")) == 7  # and cost by day and by model
    assert at.dataframe[0].value["model"].tolist() == ["gpt-4o"]


def test_new_traces_appear_on_refresh(traces: Traces) -> None:
    at = app()
    assert len(at.dataframe[0].value) == 3

    @spanlite.trace
    def late() -> str:
        return "late"

    late()
    spanlite.flush()
    at.run()  # what the Refresh button and live polling do
    assert at.dataframe[0].value["Name"].iloc[0] == "late"


def test_empty_store_renders_every_page(db_path: Path) -> None:
    at = app()
    assert at.info[0].value.startswith("No traces yet.")  # and how to get some in (test_viewer_first_run)
    for page in ("sessions_page.py", "overview_page.py", "trace_page.py"):
        open_page(at, page)


# The agent's chat span: gpt-4o, 42 tokens in and 7 out, at the bundled $2.50 and $10 per million.
AGENT_COST = "$0.000175"


def test_cost_shows_in_the_trace_list_header_span_and_overview(traces: Traces) -> None:
    at = app()
    table = at.dataframe[0].value
    costs = dict(zip(table["Trace ID"], table["Cost"]))  # numbers, unknown as none (not $0), shown as "$%.6f"
    assert (
        costs[traces.agent] == pytest.approx(0.000175)
        and pd.isna(costs[traces.failing])
        and pd.isna(costs[traces.evil])
    )
    at.number_input(key="f_min_cost").set_value(0.0001).run()
    assert list(at.dataframe[0].value["Trace ID"]) == [traces.agent]
    at.number_input(key="f_min_cost").set_value(0.01).run()
    assert not at.dataframe and at.info[0].value == "No traces match."

    at = open_page(app(), "trace_page.py", trace=traces.agent)
    assert [row[4] for row in span_tree_rows(at)] == ["", AGENT_COST, ""]  # the span tree, per span
    header = "Cost **\\$0\\.000175**"  # escaped: a $ in Markdown is math
    assert header in at.markdown[0].value
    at.query_params["span"] = next(n for n in spanlite.get_trace(traces.agent).spans if n.kind == "LLM").span_id  # type: ignore[union-attr]
    at.run()
    assert [m.value.count(header) for m in at.markdown if "Duration" in m.value] == [1, 1]  # the trace, the span

    at = open_page(app(), "trace_page.py", trace=traces.failing)
    assert "Cost **—**" in at.markdown[0].value  # unknown, not $0

    at = open_page(app(), "overview_page.py")
    assert next(m.value for m in at.metric if m.label == "Cost") == "\\$0\\.000175"
    assert at.dataframe[0].value["cost"].tolist() == [AGENT_COST]
