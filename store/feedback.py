"""Human, code and model-judge feedback on traces and spans, and the definitions of what is collected.

One row per (trace, span, name, author): rating again updates the row and keeps the earlier values in
``history``; the same value again (with no comment, or the same one) changes nothing, so a second click adds no
history. Feedback may arrive before its trace's spans do and is kept; deleting a trace deletes its feedback.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from typing import TYPE_CHECKING, Any

import orjson

from ._json_values import redacted, to_json

if TYPE_CHECKING:
    from .query import TraceStore

SOURCES = ("human", "code", "llm_judge")
TYPES = ("bool", "number", "category", "text")
OPERATORS = ("=", "!=", "<", "<=", ">", ">=")
FeedbackValue = bool | int | float | str


@dataclasses.dataclass(frozen=True)
class Feedback:
    id: int
    trace_id: str
    span_id: str | None
    name: str
    value: FeedbackValue
    source: str
    author: str | None
    comment: str | None
    created_ns: int
    updated_ns: int
    history: list[dict[str, Any]]

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Feedback:
        return cls(**{**row, "value": orjson.loads(row["value"]), "history": orjson.loads(row["history"] or "[]")})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class FeedbackDefinition:
    """A kind of feedback people give: its type and allowed values, shown as the right control in the viewer."""

    name: str
    type: str
    min_value: float | None = None
    max_value: float | None = None
    categories: list[str] | None = None
    description: str | None = None

    def check(self, value: FeedbackValue) -> None:
        """Raise ``ValueError`` if ``value`` does not fit this definition."""
        if self.type == "bool" and not isinstance(value, bool):
            raise ValueError(f"feedback {self.name!r} takes true or false, not {value!r}")
        if self.type == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"feedback {self.name!r} takes a number, not {value!r}")
            if (self.min_value is not None and value < self.min_value) or (
                self.max_value is not None and value > self.max_value
            ):
                low, high = _number(self.min_value), _number(self.max_value)
                raise ValueError(f"feedback {self.name!r} must be between {low} and {high}, not {value}")
        if self.type == "category" and value not in (self.categories or []):
            raise ValueError(f"feedback {self.name!r} must be one of {self.categories}, not {value!r}")
        if self.type == "text" and not isinstance(value, str):
            raise ValueError(f"feedback {self.name!r} takes text, not {value!r}")


def log_feedback(
    store: TraceStore,
    trace_id: str,
    name: str,
    value: FeedbackValue,
    *,
    span_id: str | None = None,
    source: str = "human",
    author: str | None = None,
    comment: str | None = None,
) -> Feedback:
    _check(trace_id, name, value, source)
    definition = get_definitions(store).get(name)
    if definition is not None:
        definition.check(value)
    now = time.time_ns()
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO feedback (trace_id, span_id, name, value, source, author, comment, created_ns, updated_ns, "
            "history) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL) "
            "ON CONFLICT (trace_id, coalesce(span_id, ''), name, coalesce(author, '')) DO UPDATE SET "
            # the value being replaced goes to history first, oldest first
            "history = json_insert(coalesce(history, '[]'), '$[#]', json_object('value', json(value), "
            "'comment', comment, 'source', source, 'at_ns', updated_ns)), "
            "value = excluded.value, source = excluded.source, comment = excluded.comment, "
            "updated_ns = excluded.updated_ns "
            # the same rating again (a second click) is no change: nothing goes to history, and no comment is lost
            "WHERE NOT (value = excluded.value AND source = excluded.source "
            "AND (excluded.comment IS NULL OR comment IS excluded.comment))",
            [
                trace_id,
                span_id,
                name,
                to_json(value, f"feedback {name!r}"),
                source,
                author,
                redacted(comment),
                now,
                now,
            ],
        )
        row = conn.execute(
            "SELECT * FROM feedback WHERE trace_id = ? AND coalesce(span_id, '') = ? AND name = ? "
            "AND coalesce(author, '') = ?",
            [trace_id, span_id or "", name, author or ""],
        )
        names = [d[0] for d in row.description]
        record = dict(zip(names, row.fetchone()))
    return Feedback.from_row(record)


def get_feedback(
    store: TraceStore, trace_id: str, *, span_id: str | None = None, name: str | None = None
) -> list[Feedback]:
    """Feedback on a trace (all of it, or on one span, or of one name), oldest first."""
    return [Feedback.from_row(r) for r in rows_on_trace(store, "feedback", trace_id, span_id, name)]


def delete_feedback(store: TraceStore, feedback_id: int) -> bool:
    return delete_row(store, "feedback", feedback_id)


def rows_on_trace(
    store: TraceStore, table: str, trace_id: str, span_id: str | None, name: str | None
) -> list[dict[str, Any]]:
    """The rows of ``table`` (feedback, expectations: what is said of a trace) on a trace, or on one span of it, or
    of one name, oldest first."""
    sql = f"SELECT * FROM {table} WHERE trace_id = ?"
    params: list[Any] = [trace_id]
    if span_id is not None:
        sql += " AND span_id = ?"
        params.append(span_id)
    if name is not None:
        sql += " AND name = ?"
        params.append(name)
    return store.rows(sql + " ORDER BY created_ns, id", params)


def delete_row(store: TraceStore, table: str, row_id: int) -> bool:
    """Delete one row of ``table`` by its id; ``False`` if there was none."""
    with store.transaction() as conn:
        return conn.execute(f"DELETE FROM {table} WHERE id = ?", [row_id]).rowcount > 0


def define_feedback(store: TraceStore, definition: FeedbackDefinition) -> None:
    """Add or replace a feedback definition."""
    if definition.type not in TYPES:
        raise ValueError(f"feedback type must be one of {', '.join(TYPES)}, not {definition.type!r}")
    if definition.type == "category" and not definition.categories:
        raise ValueError(f"category feedback {definition.name!r} needs a list of categories")
    row = dataclasses.asdict(definition)
    row["categories"] = orjson.dumps(definition.categories).decode() if definition.categories else None
    with store.transaction() as conn:
        conn.execute(
            "INSERT OR REPLACE INTO feedback_definitions (name, type, min_value, max_value, categories, description, "
            "created_ns) VALUES (:name, :type, :min_value, :max_value, :categories, :description, :created_ns)",
            {**row, "created_ns": time.time_ns()},
        )


def get_definitions(store: TraceStore) -> dict[str, FeedbackDefinition]:
    rows = store.rows("SELECT * FROM feedback_definitions ORDER BY created_ns")
    return {
        r["name"]: FeedbackDefinition(
            name=r["name"], type=r["type"], min_value=r["min_value"], max_value=r["max_value"],
            categories=orjson.loads(r["categories"]) if r["categories"] else None, description=r["description"],
        )
        for r in rows
    }  # fmt: skip


def parse_condition(text: str) -> tuple[str, str, FeedbackValue]:
    """``"score<3"`` → ``("score", "<", 3)``; values are JSON (true, 3, "x") or else plain text.

    >>> parse_condition("thumbs = false")
    ('thumbs', '=', False)
    """
    match = re.fullmatch(r"\s*([^=!<>\s]+)\s*(<=|>=|!=|=|<|>)\s*(.*?)\s*", text)
    if not match:
        raise ValueError(f"feedback condition must look like 'name=value' or 'score<3', not {text!r}")
    name, op, raw = match.groups()
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        value = raw
    if not isinstance(value, (bool, int, float, str)):
        value = raw
    return name, op, value


def condition_sql(condition: tuple[str, str, FeedbackValue] | str) -> tuple[str, list[Any]]:
    """The condition on ``feedback`` rows (aliased ``x``) for one feedback filter, with its parameters."""
    name, op, value = parse_condition(condition) if isinstance(condition, str) else condition
    if op not in OPERATORS:
        raise ValueError(f"feedback operator must be one of {' '.join(OPERATORS)}, not {op!r}")
    return f"x.name = ? AND json_extract(x.value, '$') {op} ?", [name, value]


def _check(trace_id: str, name: str, value: Any, source: str) -> None:
    if not trace_id or not isinstance(trace_id, str):
        raise ValueError("feedback needs a trace_id")
    if not name or not isinstance(name, str):
        raise ValueError("feedback needs a name")
    if not isinstance(value, (bool, int, float, str)) or (isinstance(value, float) and not math.isfinite(value)):
        raise ValueError(f"feedback value must be a bool, a finite number or a string, not {value!r}")
    if source not in SOURCES:
        raise ValueError(f"feedback source must be one of {', '.join(SOURCES)}, not {source!r}")


def _number(value: float | None) -> str:
    return "any" if value is None else f"{value:g}"
