"""User values (feedback, expectations, dataset records, run results) as the text the store keeps: JSON, with the
built-in redaction applied, as to every span. Feedback comes from people and judges, records from logs and traces: a
pasted key or a judge's echo of one must not be kept there either."""

from __future__ import annotations

import math
from typing import Any

import orjson

from spanlite.tracing.redaction import secrets


def to_json(value: Any, what: str) -> str:
    """``value`` as JSON text, or a ``ValueError`` naming ``what``: orjson would write NaN as ``null``, silently."""
    try:
        text = orjson.dumps(value).decode()
    except TypeError as exc:
        raise ValueError(f"{what} must be JSON-serialisable: {exc}") from None
    if not _finite(value):
        raise ValueError(f"{what} must be JSON-serialisable: NaN and infinity have no JSON form")
    return secrets(text)


def redacted(text: str | None) -> str | None:
    """A user's free text (a comment, a rationale, an error) as the store keeps it."""
    return None if text is None else secrets(text)


def from_json(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_finite(v) for v in value)
    return True
