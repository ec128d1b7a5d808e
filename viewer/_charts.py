"""Altair charts for the overview; labels are drawn by Vega as text, never HTML."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

# Time axes on a 24-hour clock (Vega's default, "%I:%M", reads 03:15 morning and afternoon alike), the date at
# midnight and the year at its start; in the browser's time zone, as Vega draws time.
_MIDNIGHT = "hours(datum.value) == 0 && minutes(datum.value) == 0"
TIME_AXIS = alt.Axis(
    labelExpr=f"timeFormat(datum.value, {_MIDNIGHT} ? (month(datum.value) == 0 && date(datum.value) == 1 ? "
    "'%Y' : '%b %d') : '%H:%M')"
)
TIME_TOOLTIP = alt.Tooltip("time:T", title="time", format="%Y-%m-%d %H:%M")


def over_time(
    frame: pd.DataFrame, columns: list[str], title: str, mark: str = "line", colors: list[str] | None = None
) -> alt.Chart:
    """Several columns of a time-indexed frame as one chart, one color per column (``colors``, else the theme's).
    Bars overlap rather than stack (a later column drawn in front): errors are a part of the traces, not more."""
    long = frame.melt(id_vars="time", value_vars=columns, var_name="series", value_name="value")
    long["order"] = long["series"].map(columns.index)
    chart = alt.Chart(long, title=title, height=220)
    marked = chart.mark_bar() if mark == "bar" else chart.mark_line(point=True)
    encoded: alt.Chart = marked.encode(
        x=alt.X("time:T", title=None, axis=TIME_AXIS),
        y=alt.Y("value:Q", title=None, stack=None),
        color=alt.Color(
            "series:N",
            legend=alt.Legend(orient="bottom", title=None),
            sort=columns,
            scale=alt.Scale(domain=columns, range=colors) if colors else alt.Undefined,
        ),
        order=alt.Order("order:Q"),
        tooltip=[TIME_TOOLTIP, "series:N", "value:Q"],
    )
    return encoded


def by_model(frame: pd.DataFrame, title: str) -> alt.Chart:
    """Tokens per bucket stacked by model, as bars: an area of one bucket has no width and draws nothing."""
    data: Any = frame
    chart: alt.Chart = (
        alt.Chart(data, title=title, height=220)
        .mark_bar()
        .encode(
            x=alt.X("time:T", title=None, axis=TIME_AXIS),
            y=alt.Y("tokens:Q", title="tokens", stack=True),
            color=alt.Color("model:N", legend=alt.Legend(orient="bottom", title=None)),
            tooltip=[TIME_TOOLTIP, "model:N", "tokens:Q", "calls:Q"],
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
            # Ordinal: a label per day under its bar; a time axis repeats a day's date at every tick inside it.
            x=alt.X("day:O", title=None, timeUnit="utcyearmonthdate"),
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
