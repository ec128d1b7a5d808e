"""Altair charts for the overview; labels are drawn by Vega as text, never HTML."""

from __future__ import annotations

import datetime as dt
from typing import Any

import altair as alt
import pandas as pd

from spanlite.store import clock

# Time axes on a 24-hour clock (Vega's default, "%I:%M", reads 03:15 morning and afternoon alike), the date at
# midnight and the year at its start. Times come as the wall clock of the zone the reader chose (``wall_clock``),
# drawn on a UTC scale so that the browser's own zone never shifts them.
_MIDNIGHT = "utchours(datum.value) == 0 && utcminutes(datum.value) == 0"
_LABELS = (
    f"utcFormat(datum.value, {_MIDNIGHT} ? (utcmonth(datum.value) == 0 && utcdate(datum.value) == 1 ? "
    "'%Y' : '%b %d') : '%H:%M')"
)
_UTC_SCALE = alt.Scale(type="utc")


def wall_clock(ns: pd.Series, zone: dt.tzinfo | None) -> pd.Series:
    """Nanosecond times as the clock in ``zone`` (local time when ``None``) reads them, zone-less; a bucket a
    value, so a few hundred at most."""
    return pd.Series([clock.at(int(n), zone).replace(tzinfo=None) for n in ns], index=ns.index, dtype="datetime64[ns]")


def _time_x(zone_name: str) -> alt.X:
    return alt.X("time:T", title=f"Time ({zone_name})", axis=alt.Axis(labelExpr=_LABELS), scale=_UTC_SCALE)


def _time_tooltip(zone_name: str) -> alt.Tooltip:
    return alt.Tooltip("utcyearmonthdatehoursminutes(time):T", title=f"time ({zone_name})", format="%Y-%m-%d %H:%M")


def over_time(
    frame: pd.DataFrame,
    columns: list[str],
    title: str,
    zone_name: str,
    mark: str = "line",
    colors: list[str] | None = None,
) -> alt.Chart:
    """Several columns of a time-indexed frame as one chart, one color per column (``colors``, else the theme's).
    Bars overlap rather than stack (a later column drawn in front): errors are a part of the traces, not more."""
    long = frame.melt(id_vars="time", value_vars=columns, var_name="series", value_name="value")
    long["order"] = long["series"].map(columns.index)
    chart = alt.Chart(long, title=title, height=220)
    marked = chart.mark_bar() if mark == "bar" else chart.mark_line(point=True)
    encoded: alt.Chart = marked.encode(
        x=_time_x(zone_name),
        y=alt.Y("value:Q", title=None, stack=None),
        color=alt.Color(
            "series:N",
            legend=alt.Legend(orient="bottom", title=None),
            sort=columns,
            scale=alt.Scale(domain=columns, range=colors) if colors else alt.Undefined,
        ),
        order=alt.Order("order:Q"),
        tooltip=[_time_tooltip(zone_name), "series:N", "value:Q"],
    )
    return encoded


def by_model(frame: pd.DataFrame, title: str, zone_name: str) -> alt.Chart:
    """Tokens per bucket stacked by model, as bars: an area of one bucket has no width and draws nothing."""
    data: Any = frame
    chart: alt.Chart = (
        alt.Chart(data, title=title, height=220)
        .mark_bar()
        .encode(
            x=_time_x(zone_name),
            y=alt.Y("tokens:Q", title="tokens", stack=True),
            color=alt.Color("model:N", legend=alt.Legend(orient="bottom", title=None)),
            tooltip=[_time_tooltip(zone_name), "model:N", "tokens:Q", "calls:Q"],
        )
    )
    return chart


def cost_by_day(frame: pd.DataFrame) -> alt.Chart:
    """USD per UTC day (the store sums days in UTC), one bar a day; ``day`` zone-less, as UTC reads it."""
    data: Any = frame
    chart: alt.Chart = (
        alt.Chart(data, title="Cost by UTC day (USD)", height=220)
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
