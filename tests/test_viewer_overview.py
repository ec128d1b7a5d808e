"""The Overview page's charts as Vega-Lite receives them (their spec and data), and the store's overview query."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import spanlite
from _helpers import Traces, app, open_page, populate
from spanlite.store import TraceStore, views

DAY_NS = 86_400 * 10**9


@pytest.fixture
def traces(db_path: Path) -> Traces:
    return populate()


def charts(at: AppTest) -> dict[str, tuple[dict[str, Any], pd.DataFrame]]:
    """Each chart on the page by its title: the Vega-Lite spec and the rows it draws."""
    import pyarrow as pa

    found = {}
    for element in at.get("vega_lite_chart"):
        proto = element.proto
        spec = json.loads(proto.spec)
        arrow = proto.datasets[0].data.data if proto.datasets else proto.data.data
        found[spec["title"]] = (spec, pa.ipc.open_stream(arrow).read_all().to_pandas())
    return found


def age(db_path: Path, days: float) -> None:
    """Move every trace and span ``days`` into the past, as a store written then would hold them."""
    shift = int(days * DAY_NS)
    with contextlib.closing(sqlite3.connect(db_path)) as conn, conn:  # sqlite3's own `with` commits, never closes
        conn.execute("UPDATE traces SET start_ns = start_ns - ?, end_ns = end_ns - ?", [shift, shift])
        conn.execute("UPDATE spans SET start_ns = start_ns - ?, end_ns = end_ns - ?", [shift, shift])


def test_traces_chart_draws_errors_over_the_traces_not_stacked_on_them(traces: Traces) -> None:
    at = open_page(app(), "overview_page.py")
    spec, rows = charts(at)["Traces"]
    assert not spec["encoding"]["y"].get("stack")  # a stacked bar would be 3 + 1 tall for 3 traces
    assert dict(zip(rows["series"], rows["value"])) == {"traces": 3, "errors": 1}
    assert spec["encoding"]["order"]["field"] == "order"  # errors drawn in front of the traces they are part of


def test_tokens_by_model_shows_when_all_calls_fall_in_one_bucket(traces: Traces) -> None:
    at = open_page(app(), "overview_page.py")
    spec, rows = charts(at)["Tokens by model"]
    assert rows["time"].nunique() == 1 and list(rows["tokens"]) == [49]
    mark = spec["mark"]["type"] if isinstance(spec["mark"], dict) else spec["mark"]
    assert mark == "bar"  # an area of one point per model has no width: nothing is drawn


def test_time_axes_and_tooltips_read_as_a_24_hour_clock(traces: Traces) -> None:
    at = open_page(app(), "overview_page.py")
    timed = {title: spec for title, (spec, _) in charts(at).items() if spec["encoding"]["x"].get("type") == "temporal"}
    assert {"Traces", "Latency", "Error rate", "Tokens", "Tokens by model"} <= set(timed)
    for title, spec in timed.items():
        labels = json.dumps(spec["encoding"]["x"].get("axis", {}))
        assert "%I" not in labels, title  # Vega's default for times of day is "%I:%M": 03:15, morning or not
        if title != "Cost by day (USD)":  # days alone, drawn as dates
            assert "%H" in labels, title
            tooltip = next(t for t in spec["encoding"]["tooltip"] if t["field"] == "time")
            assert "%H" in tooltip["format"], title


def test_latency_covers_the_whole_range_not_only_its_newest_traces(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(30):
        with spanlite.start_span(f"t{i}"):
            pass
    spanlite.flush()
    with contextlib.closing(sqlite3.connect(db_path)) as conn, conn:  # ten traces on each of the last three days
        conn.execute("UPDATE traces SET start_ns = start_ns - ((rowid - 1) / 10) * ?", [DAY_NS])
    monkeypatch.setattr(views, "LATENCY_SAMPLE", 10)  # a small bound, so that 30 traces are over it
    with TraceStore(db_path) as store:
        result = views.overview(store, since_ns=time.time_ns() - 4 * DAY_NS, bucket_ns=DAY_NS)
    assert len(result["series"]) == 3
    assert [r["bucket_ns"] for r in result["latency"]] == [r["bucket_ns"] for r in result["series"]]
    assert result["latency_sampled"] == (10, 30)  # percentiles from 10 traces spread over the 30 of the range
    assert result["latency_p50"] is not None and result["latency_p95"] is not None


def test_latency_is_exact_under_the_bound(db_path: Path) -> None:
    durations = []
    for i in range(20):
        with spanlite.start_span(f"t{i}"):
            time.sleep(0.001 * (i % 4))
    spanlite.flush()
    with TraceStore(db_path) as store:
        durations = sorted(t.duration_ms for t in store.search_traces(limit=100))
        result = views.overview(store, since_ns=0, bucket_ns=10**18)
    assert result["latency_sampled"] is None
    assert result["latency_p50"] == durations[9] and result["latency_p95"] == durations[18]  # nearest rank
    assert [(r["p50"], r["p95"]) for r in result["latency"]] == [(durations[9], durations[18])]


def test_all_time_shows_a_store_older_than_every_other_range(traces: Traces, db_path: Path) -> None:
    age(db_path, 400)
    at = open_page(app(), "overview_page.py")
    assert "All time" in at.info[0].value  # the empty range says where the traces are
    at.segmented_control(key="overview_range").set_value("All time").run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Traces"] == "3" and metrics["Input tokens"] == "42"
    assert {"Traces", "Latency", "Tokens by model"} <= set(charts(at))
