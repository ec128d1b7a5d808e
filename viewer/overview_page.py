"""Overview page: volume, error rate, latency, tokens and cost over a time range; tokens and cost by model; cost by
day."""

from __future__ import annotations

import datetime as dt
import time

import pandas as pd
import streamlit as st

from spanlite.viewer import _charts, _render, data

RANGES: dict[str, tuple[dt.timedelta, dt.timedelta] | None] = {  # label -> (range, bucket); None: the whole store
    "Last hour": (dt.timedelta(hours=1), dt.timedelta(minutes=1)),
    "Last 24 hours": (dt.timedelta(days=1), dt.timedelta(minutes=15)),
    "Last 7 days": (dt.timedelta(days=7), dt.timedelta(hours=1)),
    "Last 30 days": (dt.timedelta(days=30), dt.timedelta(hours=6)),
    "All time": None,
}
# Buckets for "All time": the smallest that keeps a chart to about MAX_BUCKETS bars.
BUCKETS = [dt.timedelta(minutes=1), dt.timedelta(minutes=15), dt.timedelta(hours=1), dt.timedelta(hours=6)]
BUCKETS += [dt.timedelta(days=1), dt.timedelta(days=7), dt.timedelta(days=30)]
MAX_BUCKETS = 200
TRACES_BLUE, ERROR_RED = "#4c78a8", "#d62728"

st.title("Overview")
choice = st.segmented_control("Range", list(RANGES), default="Last 24 hours", key="overview_range") or "Last 24 hours"


def _ns(delta: dt.timedelta) -> int:
    return int(delta.total_seconds() * 1e9)


def _short(count: int) -> str:
    """A count that fits a seventh of the page: 329,700 as it is, 10,000,000 as 10.0M (exact in the help)."""
    return f"{count:,}" if count < 1_000_000 else f"{count / 1e6:,.1f}M"


def _range(now_ns: int) -> tuple[int, int] | None:
    """(since, bucket) in ns for the chosen range, or ``None`` for "All time" on an empty store."""
    chosen = RANGES[choice]
    if chosen is not None:
        span, bucket = _ns(chosen[0]), _ns(chosen[1])
        return (now_ns - span) // bucket * bucket, bucket
    known = data.trace_time_span()
    if known is None:
        return None
    bucket = next((_ns(b) for b in BUCKETS if (now_ns - known[0]) / _ns(b) <= MAX_BUCKETS), _ns(BUCKETS[-1]))
    return known[0] // bucket * bucket, bucket


def _nothing_here() -> None:
    known = data.trace_time_span()
    if known is None:
        st.info("No traces yet.")
    else:
        st.info(f"No traces in this range: the newest started {_render.when_named(known[1])}. Choose All time.")


def _page() -> None:
    found = _range(time.time_ns())
    if found is None:
        _nothing_here()
        return
    since_ns, bucket_ns = found
    result = data.overview(since_ns, bucket_ns)
    columns = ["bucket_ns", "traces", "errors", "input_tokens", "output_tokens", "cost"]
    series = pd.DataFrame(result["series"], columns=columns)
    if series.empty:
        _nothing_here()
        return
    zone, zone_name = _render.zone(), _render.zone_name()
    series["time"] = _charts.wall_clock(series["bucket_ns"], zone)
    total, errors = int(series["traces"].sum()), int(series["errors"].sum())
    cols = st.columns(7)
    cols[0].metric("Traces", f"{total:,}")
    cols[1].metric("Error rate", f"{errors / total:.1%}", help="Traces with a failed span, whatever their root says")
    cols[2].metric("Latency p50", _render.duration(result["latency_p50"]) or "—")
    cols[3].metric("Latency p95", _render.duration(result["latency_p95"]) or "—")
    for column, name in zip(cols[4:6], ("input_tokens", "output_tokens")):
        count = int(series[name].sum())
        column.metric(name.replace("_", " ").capitalize(), _short(count), help=f"{count:,}")
    known = series["cost"].dropna()
    cost = _render.cost(float(known.sum())) if not known.empty else "—"
    cols[6].metric("Cost", _render.md_escape(cost), help="USD of the model calls whose price is known")
    if result["latency_sampled"]:
        sampled, of = result["latency_sampled"]
        st.caption(f"Latency percentiles from {sampled:,} of the range's {of:,} traces, taken evenly across it.")

    series["error rate %"] = (series["errors"] / series["traces"] * 100).round(2)
    latency = pd.DataFrame(result["latency"], columns=["bucket_ns", "p50", "p95"])
    latency = latency.rename(columns={"p50": "p50 ms", "p95": "p95 ms"})
    latency["time"] = _charts.wall_clock(latency["bucket_ns"], zone)
    left, right = st.columns(2)
    colors = [TRACES_BLUE, ERROR_RED]
    traces = _charts.over_time(series, ["traces", "errors"], "Traces", zone_name, mark="bar", colors=colors)
    left.altair_chart(traces, width="stretch")
    right.altair_chart(_charts.over_time(latency, ["p50 ms", "p95 ms"], "Latency", zone_name), width="stretch")
    left, right = st.columns(2)
    left.altair_chart(_charts.over_time(series, ["error rate %"], "Error rate", zone_name), width="stretch")
    tokens = _charts.over_time(series, ["input_tokens", "output_tokens"], "Tokens", zone_name)
    right.altair_chart(tokens, width="stretch")

    columns = ["model", "bucket_ns", "calls", "input_tokens", "output_tokens", "cost"]
    models = pd.DataFrame(result["by_model"], columns=columns)
    st.subheader("By model")
    if models.empty:
        st.caption("No model calls in this range.")
        return
    models["time"] = _charts.wall_clock(models["bucket_ns"], zone)
    models["tokens"] = models["input_tokens"] + models["output_tokens"]
    left, right = st.columns([3, 2])
    left.altair_chart(_charts.by_model(models, "Tokens by model", zone_name), width="stretch")
    totals = models.groupby("model").agg(
        calls=("calls", "sum"),
        input_tokens=("input_tokens", "sum"),
        output_tokens=("output_tokens", "sum"),
        cost=("cost", lambda c: c.sum() if c.notna().any() else None),  # unknown stays unknown, not $0
    )
    totals = totals.reset_index().sort_values("calls", ascending=False)
    totals["cost"] = totals["cost"].map(lambda c: _render.cost(None if pd.isna(c) else float(c)))
    right.dataframe(totals, hide_index=True)
    _costs(result["cost_by_day"], models)


def _costs(by_day: list[dict[str, object]], models: pd.DataFrame) -> None:
    st.subheader("Cost")
    days = pd.DataFrame(by_day, columns=["day_ns", "cost"])
    if days.empty:
        st.caption("No model call in this range has a known price (see configure(prices=...)).")
        return
    days["day"] = pd.to_datetime(days["day_ns"], unit="ns")  # zone-less, read as UTC: days the store sums in UTC
    per_model = models.dropna(subset=["cost"]).groupby("model")["cost"].sum().reset_index()
    left, right = st.columns(2)
    left.altair_chart(_charts.cost_by_day(days), width="stretch")
    right.altair_chart(_charts.cost_by_model(per_model), width="stretch")


st.fragment(run_every=data.live_interval())(_page)()
