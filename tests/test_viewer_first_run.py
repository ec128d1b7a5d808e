"""The viewer as a new user first meets it (issue 25): icons that need no emoji font, an empty store that says how
to get traces in, placeholders that do not look filled in, and times in the zone the reader chose, labelled."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pandas as pd
import pytest
from google.protobuf import text_format
from streamlit.testing.v1 import AppTest

from _helpers import Traces, app, open_page, populate, populate_evals
from spanlite._cli_format import clock as clock_of_cli
from spanlite.store import TraceStore, default_db_path, views

# Emoji presentation ranges: pictographs, dingbats and symbols that fall back to an emoji font, and VS16.
EMOJI = re.compile(
    "[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\u231a\u231b\u23e9-\u23fa\u25aa\u25ab\u25b6\u25c0"
    "\u25fb-\u25fe\ufe0f]"
)


@pytest.fixture
def traces(db_path: Path) -> Traces:
    populate()
    populate_evals(db_path)
    return populate()


def shown(at: AppTest) -> Iterator[tuple[str, str]]:
    """Every element's text as (element type, text): protos as UTF-8 text, dataframes cell by cell."""
    for node in at._tree:
        proto = getattr(node, "proto", None)
        if node.type in ("arrow_data_frame", "dataframe") and isinstance(getattr(node, "value", None), pd.DataFrame):
            frame: pd.DataFrame = node.value
            yield node.type, " ".join(map(str, frame.columns))
            for cell in frame.to_numpy().ravel():
                yield node.type, str(cell)
        elif proto is not None:
            yield node.type, text_format.MessageToString(proto, as_utf8=True)


def emoji_in(at: AppTest) -> list[tuple[str, str]]:
    return [(kind, text[:200]) for kind, text in shown(at) if EMOJI.search(text)]


def pages(at: AppTest, t: Traces) -> Iterator[str]:
    """Opens every page in turn (the trace page on each trace), yielding its name."""
    yield "traces"
    for trace in (t.agent, t.failing, t.evil):
        open_page(at, "trace_page.py", trace=trace)
        yield f"trace {trace}"
    at.query_params.clear()
    for page in ("sessions_page.py", "review_page.py", "evaluation_page.py", "datasets_page.py", "overview_page.py"):
        open_page(at, page)
        yield page
    open_page(at, "compare_page.py", a=t.agent, b=t.failing)
    yield "compare"


def test_no_page_needs_an_emoji_font(traces: Traces) -> None:
    at = app()
    found = {}
    for page in pages(at, traces):
        assert at.title, page  # the page did render
        found[page] = emoji_in(at)
    assert len(found) == 10
    assert not {page: hits for page, hits in found.items() if hits}


def test_an_empty_store_says_how_to_get_traces_in(db_path: Path) -> None:
    at = app()
    shown_text = "\n".join(e.value for e in [*at.markdown, *at.info, *at.caption]) + "\n".join(c.value for c in at.code)
    assert "No traces yet" in shown_text
    assert "spanlite demo" in shown_text  # run the demo
    assert "@spanlite.trace" in shown_text  # decorate a function
    assert "spanlite serve" in shown_text and "http://127.0.0.1:4318" in shown_text  # an OTel exporter, its endpoint
    assert str(db_path) in shown_text  # into this store, the one the viewer shows
    assert "No traces match." not in shown_text


def test_filters_that_exclude_everything_still_say_no_traces_match(traces: Traces) -> None:
    at = app()
    at.text_input(key="f_text").input("no such words anywhere").run()
    assert [i.value for i in at.info] == ["No traces match."]
    assert not [c for c in at.code if "spanlite demo" in c.value]


def test_the_feedback_condition_placeholder_reads_as_an_example(db_path: Path) -> None:
    condition = app().text_input(key="f_feedback_cond")
    assert condition.value == ""
    assert condition.placeholder.startswith("e.g. ")


@pytest.fixture
def new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The viewer's process in US Eastern time: a POSIX zone that glibc reads without tzdata; December is EST."""
    monkeypatch.setenv("TZ", "EST5EDT")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def start_of(trace_id: str) -> int:
    with TraceStore(default_db_path()) as store:
        summary = views.trace_summary(store, trace_id)
    assert summary is not None
    return summary.start_ns


def test_times_are_local_by_default_and_named_as_the_cli_names_them(traces: Traces, new_york: None) -> None:
    at = app()
    table = at.dataframe[0].value
    zone = time.strftime("%Z")
    assert zone in ("EST", "EDT") and f"Time ({zone})" in table.columns
    start = start_of(traces.agent)
    local = clock_of_cli(start)  # what `spanlite traces list` shows
    assert local.endswith(f" {zone}")
    assert table.set_index("Trace ID").loc[traces.agent, f"Time ({zone})"] == local.removesuffix(f" {zone}")
    open_page(at, "trace_page.py", trace=traces.agent)
    assert at.caption[0].value.endswith(f"started {local}")
    assert at.sidebar.radio(key="times_in").value == "local"
    assert at.sidebar.radio(key="times_in").options[0] == f"Local ({zone})"


def test_utc_when_chosen_everywhere_and_for_the_session(traces: Traces, new_york: None) -> None:
    at = app()
    at.sidebar.radio(key="times_in").set_value("UTC").run()
    start = start_of(traces.agent)
    utc = dt.datetime.fromtimestamp(start / 1e9, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    assert at.dataframe[0].value.set_index("Trace ID").loc[traces.agent, "Time (UTC)"] == utc
    open_page(at, "trace_page.py", trace=traces.agent)  # another page: the choice holds
    assert at.caption[0].value.endswith(f"started {utc} UTC")


def test_every_time_shown_names_the_zone_chosen(traces: Traces, new_york: None) -> None:
    """Local time chosen (the default): no page says UTC, beyond the choice itself; chart axes name the zone."""
    at = app()
    said = {}
    for page in pages(at, traces):
        # the cost chart sums UTC days (the store does) and says so
        said[page] = [t[:200] for kind, t in shown(at) if "UTC" in t.replace("UTC day", "") and kind != "radio"]
    assert not {page: texts for page, texts in said.items() if texts}


def test_overview_charts_read_in_the_zone_chosen(traces: Traces, new_york: None) -> None:
    at = open_page(app(), "overview_page.py")
    zone = time.strftime("%Z")
    specs = [orjson.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")]
    timed = [s for s in specs if s["encoding"]["x"].get("field") == "time"]
    assert timed and all(s["encoding"]["x"]["title"] == f"Time ({zone})" for s in timed)
    assert all(s["encoding"]["x"]["scale"]["type"] == "utc" for s in timed)  # the browser's zone never shifts them
    at.sidebar.radio(key="times_in").set_value("UTC").run()
    specs = [orjson.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")]
    assert {s["encoding"]["x"]["title"] for s in specs if s["encoding"]["x"].get("field") == "time"} == {"Time (UTC)"}
