"""Overview page: volume, error rate, latency, tokens and cost over a time range; tokens and cost by model; cost by
day."""

from __future__ import annotations

import datetime as dt
import time

import pandas as pd
import streamlit as st

from spanlite.viewer import _charts, _render, data

RANGES = {  # label -> (range, bucket)
    "Last hour": (dt.timedelta(hours=1), dt.timedelta(minutes=1)),
    "Last 24 hours": (dt.timedelta(days=1), dt.timedelta(minutes=15)),
    "Last 7 days": (dt.timedelta(days=7), dt.timedelta(hours=1)),
    "Last 30 days": (dt.timedelta(days=30), dt.timedelta(hours=6)),
}

st.title("Overview")
choice = st.segmented_control("Range", list(RANGES), default="Last 24 hours", key="overview_range") or "Last 24 hours"


def _ns(delta: dt.timedelta) -> int:
    return int(delta.total_seconds() * 1e9)


def _page() -> None:
    span, bucket = RANGES[choice]
    bucket_ns = _ns(bucket)
    since_ns = (time.time_ns() - _ns(span)) // bucket_ns * bucket_ns
    result = data.overview(since_ns, bucket_ns)
    columns = ["bucket_ns", "traces", "errors", "input_tokens", "output_tokens", "cost"]
    series = pd.DataFrame(result["series"], columns=columns)
    if series.empty:
        st.info("No traces in this range.")
        return
    series["time"] = pd.to_datetime(series["bucket_ns"], unit="ns", utc=True)
    latencies = pd.DataFrame(result["latencies"], columns=["start_ns", "duration_ms"])
    total, errors = int(series["traces"].sum()), int(series["errors"].sum())
    cols = st.columns(7)
    cols[0].metric("Traces", f"{total:,}")
    cols[1].metric("Error rate", f"{errors / total:.1%}", help="Traces with a failed span, whatever their root says")
    cols[2].metric("Latency p50", _render.duration(float(latencies["duration_ms"].quantile(0.5))))
    cols[3].metric("Latency p95", _render.duration(float(latencies["duration_ms"].quantile(0.95))))
    cols[4].metric("Input tokens", f"{int(series['input_tokens'].sum()):,}")
    cols[5].metric("Output tokens", f"{int(series['output_tokens'].sum()):,}")
    known = series["cost"].dropna()
    cost = _render.cost(float(known.sum())) if not known.empty else "—"
    cols[6].metric("Cost", _render.md_escape(cost), help="USD of the model calls whose price is known")
    if result["latency_sample"]:
        st.caption(f"Latency percentiles from the newest {len(latencies):,} traces of the range.")

    series["error rate %"] = (series["errors"] / series["traces"] * 100).round(2)
    latencies["time"] = pd.to_datetime(latencies["start_ns"] // bucket_ns * bucket_ns, unit="ns", utc=True)
    quantiles = [0.5, 0.95]  # pandas takes a list; pandas-stubs types it as an array only
    latency = latencies.groupby("time")["duration_ms"].quantile(quantiles).unstack()  # type: ignore[arg-type]
    latency = latency.rename(columns={0.5: "p50 ms", 0.95: "p95 ms"}).reset_index()
    left, right = st.columns(2)
    left.altair_chart(_charts.over_time(series, ["traces", "errors"], "Traces", mark="bar"), width="stretch")
    right.altair_chart(_charts.over_time(latency, ["p50 ms", "p95 ms"], "Latency"), width="stretch")
    left, right = st.columns(2)
    left.altair_chart(_charts.over_time(series, ["error rate %"], "Error rate"), width="stretch")
    right.altair_chart(_charts.over_time(series, ["input_tokens", "output_tokens"], "Tokens"), width="stretch")

    columns = ["model", "bucket_ns", "calls", "input_tokens", "output_tokens", "cost"]
    models = pd.DataFrame(result["by_model"], columns=columns)
    st.subheader("By model")
    if models.empty:
        st.caption("No model calls in this range.")
        return
    models["time"] = pd.to_datetime(models["bucket_ns"], unit="ns", utc=True)
    models["tokens"] = models["input_tokens"] + models["output_tokens"]
    left, right = st.columns([3, 2])
    left.altair_chart(_charts.by_model(models, "Tokens by model"), width="stretch")
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
    days["day"] = pd.to_datetime(days["day_ns"], unit="ns", utc=True)
    per_model = models.dropna(subset=["cost"]).groupby("model")["cost"].sum().reset_index()
    left, right = st.columns(2)
    left.altair_chart(_charts.cost_by_day(days), width="stretch")
    right.altair_chart(_charts.cost_by_model(per_model), width="stretch")


st.fragment(run_every=data.live_interval())(_page)()
