"""User values (expectations, dataset records, run results) as the JSON text the store keeps."""

from __future__ import annotations

import math
from typing import Any

import orjson


def to_json(value: Any, what: str) -> str:
    """``value`` as JSON text, or a ``ValueError`` naming ``what``: orjson would write NaN as ``null``, silently."""
    try:
        text = orjson.dumps(value).decode()
    except TypeError as exc:
        raise ValueError(f"{what} must be JSON-serialisable: {exc}") from None
    if not _finite(value):
        raise ValueError(f"{what} must be JSON-serialisable: NaN and infinity have no JSON form")
    return text


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
