"""The Traces page as a list to work through: sorted by the query, errors shown, counted, filtered, exported."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from pathlib import Path

import orjson
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import spanlite
from _helpers import app, cli
from spanlite.store import TraceFilter, TraceStore, TraceSummary
from spanlite.viewer import data
from test_viewer_e2e import viewer_url  # noqa: F401 - a fixture
from viewer_server import ARTIFACTS, chromium_page


@dataclasses.dataclass(frozen=True)
class Listed:
    dated: str  # an LLM call to gpt-4o-mini-2024-07-18, metadata env=prod, asked with a dict of arguments
    recovered: str  # the root is OK, a child failed
    failed: str  # the root failed
    plain: str  # gpt-4o, a chat of messages


@pytest.fixture
def listed(db_path: Path) -> Listed:
    def llm(model: str, input_tokens: int, output_tokens: int) -> None:
        with spanlite.start_span(f"chat {model}", kind="LLM") as span:
            span.set_attributes(
                {
                    "gen_ai.request.model": model,
                    "gen_ai.usage.input_tokens": input_tokens,
                    "gen_ai.usage.output_tokens": output_tokens,
                }
            )

    @spanlite.trace
    def dated(question: str, turn: int) -> str:
        spanlite.update_current_trace(metadata={"env": "prod", "team": "search"})
        llm("gpt-4o-mini-2024-07-18", 1000, 200)
        time.sleep(0.03)
        return "dated answer"

    @spanlite.trace
    def flaky() -> None:
        raise KeyError("lost")

    @spanlite.trace
    def recovered() -> str:
        llm("gpt-4o-mini", 5, 5)
        try:
            flaky()
        except KeyError:
            pass
        return "recovered"

    @spanlite.trace
    def failed() -> None:
        time.sleep(0.01)
        raise ValueError("failed")

    @spanlite.trace
    def plain(messages: list[dict[str, str]]) -> str:
        spanlite.update_current_trace(metadata={"env": "dev"})
        llm("gpt-4o", 50, 9)
        return "plain answer"

    dated("How fast is it?", 1)
    recovered()
    with pytest.raises(ValueError):
        failed()
    plain([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}])
    by_name = {t.name: t.trace_id for t in spanlite.search_traces(limit=10)}
    return Listed(by_name["dated"], by_name["recovered"], by_name["failed"], by_name["plain"])


def ids(at: AppTest) -> list[str]:
    return list(at.dataframe[0].value["Trace ID"]) if at.dataframe else []


def summaries(db_path: Path) -> list[TraceSummary]:
    with TraceStore(db_path) as store:
        return list(store.iter_traces())


# Bug 3: sorting.


def test_duration_tokens_and_cost_are_numbers_so_a_header_sorts_by_value(listed: Listed, db_path: Path) -> None:
    table = app().dataframe[0].value
    for column in ("Duration (ms)", "Tokens", "Cost"):
        assert pd.api.types.is_numeric_dtype(table[column]), (column, table[column].dtype)
    row = table.set_index("Trace ID").loc[listed.dated]
    assert row["Tokens"] == 1200
    stored = {t.trace_id: t for t in summaries(db_path)}
    assert row["Duration (ms)"] == pytest.approx(stored[listed.dated].duration_ms)


@pytest.mark.parametrize(
    ("sort", "key"),
    [
        ("slowest", lambda t: -t.duration_ms),
        ("most-tokens", lambda t: -((t.input_tokens or 0) + (t.output_tokens or 0))),
        ("oldest", lambda t: t.start_ns),
    ],
)
def test_the_sort_is_the_querys_across_pages(
    listed: Listed, db_path: Path, monkeypatch: pytest.MonkeyPatch, sort: str, key: object
) -> None:
    monkeypatch.setattr(data, "PAGE_SIZE", 3)
    at = app()
    at.selectbox(key="f_sort").select(sort).run()
    seen = ids(at)
    at.button(key="traces_next").click().run()
    seen += ids(at)
    assert at.button(key="traces_next").disabled
    expected = sorted(summaries(db_path), key=key)  # type: ignore[arg-type]
    assert seen == [t.trace_id for t in expected]


# Bug 5: child errors.


def test_a_trace_whose_child_failed_shows_it_in_the_list(listed: Listed) -> None:
    table = app().dataframe[0].value.set_index("Trace ID")
    assert table.loc[listed.recovered, "Status"] == "OK · 1 error"
    assert table.loc[listed.failed, "Status"] == "ERROR"
    assert table.loc[listed.plain, "Status"] == "OK"


def test_has_errors_finds_every_trace_with_a_failed_span(listed: Listed) -> None:
    at = app()
    status = at.selectbox(key="f_status")
    assert "Has errors" in status.options
    status.select("ERROR").run()  # shown as "Has errors"
    assert set(ids(at)) == {listed.recovered, listed.failed}


# The list: count, filters, columns.


def test_the_list_says_how_many_traces_match(listed: Listed, monkeypatch: pytest.MonkeyPatch) -> None:
    at = app()
    assert "4 traces match" in [c.value for c in at.caption]
    at.selectbox(key="f_status").select("ERROR").run()
    assert "2 traces match" in [c.value for c in at.caption]
    monkeypatch.setattr(data, "COUNT_CAP", 3)
    at.selectbox(key="f_status").select("Any").run()
    assert "3+ traces match" in [c.value for c in at.caption]


def test_latency_metadata_and_date_filters(listed: Listed, db_path: Path) -> None:
    stored = {t.trace_id: t for t in summaries(db_path)}
    at = app()
    at.number_input(key="f_min_ms").set_value(stored[listed.dated].duration_ms).run()
    assert set(ids(at)) == {t for t, s in stored.items() if s.duration_ms >= stored[listed.dated].duration_ms}
    at.number_input(key="f_min_ms").set_value(None)
    at.number_input(key="f_max_ms").set_value(stored[listed.failed].duration_ms).run()
    assert set(ids(at)) == {t for t, s in stored.items() if s.duration_ms <= stored[listed.failed].duration_ms}
    at.number_input(key="f_max_ms").set_value(None)
    at.text_input(key="f_metadata").input("env=prod").run()
    assert ids(at) == [listed.dated]
    at.text_input(key="f_metadata").input("env=prod, team=search").run()
    assert ids(at) == [listed.dated]
    at.text_input(key="f_metadata").input("env").run()
    assert at.error[0].value.startswith("metadata filters are key\\=value")
    at.text_input(key="f_metadata").input("")
    today = dt.date.today()  # the viewer's days are local ones unless UTC is chosen
    at.date_input(key="f_from").set_value(today + dt.timedelta(days=1)).run()
    assert ids(at) == []
    at.date_input(key="f_from").set_value(today - dt.timedelta(days=1))
    at.date_input(key="f_to").set_value(today).run()  # to the end of that day
    assert len(ids(at)) == 4


def test_dated_model_ids_are_grouped_under_their_base_name(listed: Listed) -> None:
    at = app()
    models = at.selectbox(key="f_model").options
    assert "gpt-4o-mini" in models and "gpt-4o" in models
    assert "gpt-4o-mini-2024-07-18" not in models
    at.selectbox(key="f_model").select("gpt-4o-mini").run()
    assert set(ids(at)) == {listed.dated, listed.recovered}
    at.selectbox(key="f_model").select("gpt-4o").run()
    assert ids(at) == [listed.plain]  # not gpt-4o-mini: a name is no date


def test_input_and_output_show_as_text(listed: Listed) -> None:
    table = app().dataframe[0].value.set_index("Trace ID")
    assert table.loc[listed.dated, "Input"] == "How fast is it?"  # the first text argument, not {"question": ...}
    assert table.loc[listed.plain, "Input"] == "Hello there"  # the last user message
    assert table.loc[listed.dated, "Output"] == "dated answer"


# Export and datasets.


def test_the_filtered_list_downloads_as_the_clis_jsonl(listed: Listed, db_path: Path) -> None:
    at = app()
    at.selectbox(key="f_model").select("gpt-4o-mini").run()
    assert any(b.proto.label == "Download JSONL" for b in at.get("download_button"))
    form = data.FilterForm(dataclasses.replace(data.FilterForm(TraceFilter()).filters, model="gpt-4o-mini"))
    exported = data.export_jsonl(form)
    cli_lines = cli("traces", "export", "--model", "gpt-4o-mini", db=db_path)
    assert cli_lines.returncode == 0, cli_lines.stderr
    assert exported.decode().splitlines() == cli_lines.stdout.splitlines()
    assert {orjson.loads(line)["trace_id"] for line in exported.splitlines()} == {
        listed.dated,
        listed.recovered,
    }


def test_the_export_is_bounded(listed: Listed) -> None:
    everything = data.FilterForm(TraceFilter())
    assert len(data.export_jsonl(everything, max_traces=2).splitlines()) == 2
    one = len(data.export_jsonl(everything, max_traces=1))
    assert len(data.export_jsonl(everything, max_bytes=one).splitlines()) == 1


def test_the_matching_traces_go_into_a_dataset(listed: Listed, db_path: Path) -> None:
    at = app()
    at.selectbox(key="f_status").select("ERROR").run()
    at.selectbox(key="list_ds_choice").select("New dataset…").run()
    at.text_input(key="list_ds_name").input("failures")
    at.button(key="list_ds_add").click().run()
    assert not at.exception, at.exception
    assert "Added 2 traces to failures" in at.success[0].value
    with TraceStore(db_path) as store:
        assert {r.source_trace_id for r in store.records("failures")} == {listed.recovered, listed.failed}


# Compare.


def test_two_selected_rows_offer_compare(listed: Listed) -> None:
    at = app()
    at.toggle(key="compare_mode").set_value(True).run()
    assert at.button(key="compare").disabled  # until two rows are chosen
    at.session_state["traces_table_1"] = {"selection": {"rows": [0, 2], "columns": [], "cells": []}}
    at.run()
    assert not at.exception, at.exception
    button = at.button(key="compare")
    assert not button.disabled
    first, _, third = ids(at)[:3]
    assert first in button.help and third in button.help  # the pair the click opens
    if (Path(data.__file__).parent / "compare_page.py").exists():  # the overview helper's page, once merged
        button.click().run()
        assert at.query_params["a"] == first and at.query_params["b"] == third


# In Chromium: the download is built when clicked, by the served viewer.


def test_the_download_in_chromium_is_the_clis_export(viewer_url: str, db_path: Path, tmp_path: Path) -> None:  # noqa: F811
    from playwright.sync_api import expect

    with chromium_page(timeout_ms=30_000) as page:
        page.goto(viewer_url)
        expect(page.get_by_text("3 traces match", exact=True)).to_be_visible()
        with page.expect_download() as download:
            page.get_by_role("button", name="Download JSONL").click()
        saved = tmp_path / "traces.jsonl"
        download.value.save_as(saved)
        page.screenshot(path=str(ARTIFACTS / "traces_list.png"), full_page=True)
    exported = cli("traces", "export", db=db_path)
    assert exported.returncode == 0, exported.stderr
    assert saved.read_text().splitlines() == exported.stdout.splitlines()
