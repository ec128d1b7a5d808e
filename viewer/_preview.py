"""Examples' values (inputs, outputs, expectations, scores) as bounded text for tables and detail panes.

Evaluation values are user data of any size: a table cell gets one short line, a detail pane a value whose strings
and lists are cut to a size a browser draws at once, with what was left out said in the cut.
"""

from __future__ import annotations

from typing import Any

import orjson

from spanlite.store import RunScore

CELL_CHARS = 200
DETAIL_CHARS = 10_000
DETAIL_ITEMS = 200
DETAIL_DEPTH = 20


def cell(value: Any, limit: int = CELL_CHARS) -> str:
    """One line of text: a string as itself, a one-key dict as its value, anything else as compact JSON."""
    if isinstance(value, dict) and len(value) == 1:
        value = next(iter(value.values()))
    if value is None:
        return ""
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    line = " ".join(text[: limit * 4].split())  # collapse newlines; cut first so a huge value is not split whole
    return line if len(line) <= limit else line[: limit - 1] + "…"


def tags(value: dict[str, Any]) -> str:
    """Tags as ``key=value, ...`` on one line."""
    return cell(", ".join(f"{k}={cell(v, 60)}" for k, v in value.items()))


def bounded(value: Any, limit: int = DETAIL_CHARS, depth: int = 0) -> Any:
    """The value with long strings and lists cut, and nesting past ``DETAIL_DEPTH`` levels shown as text."""
    if isinstance(value, str):
        return value if len(value) <= limit else f"{value[:limit]}… ({len(value) - limit:,} more characters)"
    if depth >= DETAIL_DEPTH and isinstance(value, (dict, list)):
        return cell(value, limit)
    if isinstance(value, dict):
        items = list(value.items())
        shown = {str(k)[:limit]: bounded(v, limit, depth + 1) for k, v in items[:DETAIL_ITEMS]}
        if len(items) > DETAIL_ITEMS:
            shown["…"] = f"{len(items) - DETAIL_ITEMS:,} more keys"
        return shown
    if isinstance(value, list):
        kept = [bounded(v, limit, depth + 1) for v in value[:DETAIL_ITEMS]]
        return kept + ([f"… {len(value) - DETAIL_ITEMS:,} more items"] if len(value) > DETAIL_ITEMS else [])
    return value


def score_value(value: Any) -> str:
    """A score as short text: yes/no for booleans, numbers to three significant digits."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3g}"
    return cell(value, 60)


def score_cell(score: RunScore | None, *, why: bool = False) -> str:
    """A score in a table: its value, ``error`` when the scorer failed, empty when it did not score; with
    ``why``, the start of the rationale or the error after it."""
    if score is None:
        return ""
    text, reason = ("error", score.error) if score.error is not None else (score_value(score.value), score.rationale)
    return cell(f"{text} · {reason}") if why and reason else text


def delta(value: float | None) -> str:
    return "" if value is None else f"{value:+.3g}"
