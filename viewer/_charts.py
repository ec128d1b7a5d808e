"""Altair charts for the overview; labels are drawn by Vega as text, never HTML."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd


def over_time(frame: pd.DataFrame, columns: list[str], title: str, mark: str = "line") -> alt.Chart:
    """Several columns of a time-indexed frame as one chart, one color per column."""
    long = frame.melt(id_vars="time", value_vars=columns, var_name="series", value_name="value")
    chart = alt.Chart(long, title=title, height=220)
    marked = chart.mark_bar() if mark == "bar" else chart.mark_line(point=True)
    encoded: alt.Chart = marked.encode(
        x=alt.X("time:T", title=None),
        y=alt.Y("value:Q", title=None, stack=mark == "bar" or None),
        color=alt.Color("series:N", legend=alt.Legend(orient="bottom", title=None)),
        tooltip=["time:T", "series:N", "value:Q"],
    )
    return encoded


def by_model(frame: pd.DataFrame, title: str) -> alt.Chart:
    data: Any = frame
    chart: alt.Chart = (
        alt.Chart(data, title=title, height=220)
        .mark_area()
        .encode(
            x=alt.X("time:T", title=None),
            y=alt.Y("tokens:Q", title="tokens", stack=True),
            color=alt.Color("model:N", legend=alt.Legend(orient="bottom", title=None)),
            tooltip=["time:T", "model:N", "tokens:Q", "calls:Q"],
        )
    )
    return chart


def cost_by_day(frame: pd.DataFrame) -> alt.Chart:
    """USD per UTC day, one bar a day."""
    data: Any = frame
    chart: alt.Chart = (
        alt.Chart(data, title="Cost by day (USD)", height=220)
        .mark_bar()
        .encode(
            x=alt.X("day:T", title=None, timeUnit="utcyearmonthdate"),
            y=alt.Y("cost:Q", title=None),
            tooltip=[alt.Tooltip("day:T", timeUnit="utcyearmonthdate"), alt.Tooltip("cost:Q", format="$.4f")],
        )
    )
    return chart


def cost_by_model(frame: pd.DataFrame) -> alt.Chart:
    """USD per model over the range, largest first."""
    data: Any = frame
    chart: alt.Chart = (
        alt.Chart(data, title="Cost by model (USD)", height=220)
        .mark_bar()
        .encode(
            x=alt.X("cost:Q", title=None),
            y=alt.Y("model:N", title=None, sort="-x"),
            tooltip=["model:N", alt.Tooltip("cost:Q", format="$.4f")],
        )
    )
    return chart
