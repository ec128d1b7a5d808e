"""What the query API returns: plain dataclasses with the JSON columns already parsed."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import orjson

from .feedback import Feedback


@dataclasses.dataclass(frozen=True)
class SpanRecord:
    """One stored span. ``links``: the spans it links to, ``{"trace_id", "span_id", "attributes"}``;
    ``resource``: the attributes of the resource it came from (``service.name``, ``host.name``, ...)."""

    span_id: str
    trace_id: str
    parent_id: str | None
    name: str
    kind: str
    start_ns: int
    end_ns: int
    status: str
    status_message: str | None
    inputs: Any
    outputs: Any
    attributes: dict[str, Any]
    events: list[dict[str, Any]]
    model: str | None
    input_tokens: int | None
    output_tokens: int | None
    links: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    resource: dict[str, Any] = dataclasses.field(default_factory=dict)
    cost: float | None = None  # USD; None: no token counts, or no price for its model (``spanlite.store.prices``)

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> SpanRecord:
        """From a ``spans`` row, with its resource's ``attributes`` as ``resource`` where the query joined them."""
        fields = {k: v for k, v in row.items() if k != "resource_id"}
        return cls(
            **{
                **fields,
                "inputs": _parse(row["inputs"]),
                "outputs": _parse(row["outputs"]),
                "attributes": _parse(row["attributes"]) or {},
                "events": _parse(row["events"]) or [],
                "links": _parse(row.get("links")) or [],
                "resource": _parse(row.get("resource")) or {},
            }
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class TraceSummary:
    """One row of the ``traces`` table: what a list of traces shows."""

    trace_id: str
    name: str | None
    start_ns: int
    end_ns: int
    duration_ms: float
    status: str
    root_span_id: str | None
    session_id: str | None
    user_id: str | None
    tags: list[str]
    metadata: dict[str, Any]
    input_preview: str | None
    output_preview: str | None
    span_count: int
    input_tokens: int | None
    output_tokens: int | None
    error_count: int
    cost: float | None = None  # USD, its spans' known costs; None when none of them has one

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> TraceSummary:
        return cls(**{**row, "tags": _parse(row["tags"]) or [], "metadata": _parse(row["metadata"]) or {}})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Trace:
    """A whole trace: its summary, every span in start order, and the resources its spans came from."""

    info: TraceSummary
    spans: list[SpanRecord]
    feedback: list[Feedback] = dataclasses.field(default_factory=list)
    resources: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def trace_id(self) -> str:
        return self.info.trace_id

    @property
    def root(self) -> SpanRecord | None:
        return next((s for s in self.spans if s.span_id == self.info.root_span_id), None)

    def walk(self) -> list[tuple[int, SpanRecord]]:
        """Every span with its depth, depth-first, children in start order; a span whose parent is not stored
        (not arrived yet, or in another service) is a root.

        >>> for depth, span in trace.walk():  # doctest: +SKIP
        ...     print("  " * depth + span.name)
        """
        order = tree_order([(s.span_id, s.parent_id) for s in self.spans])
        return [(depth, self.spans[i]) for depth, i in order]

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.info.to_dict(),
            "resources": self.resources,
            "spans": [s.to_dict() for s in self.spans],
            "feedback": [f.to_dict() for f in self.feedback],
        }


class Page(list[TraceSummary]):
    """A page of traces; pass ``next_page_token`` back to ``search_traces`` for the next one (``None``: last)."""

    def __init__(self, items: list[TraceSummary], next_page_token: str | None) -> None:
        super().__init__(items)
        self.next_page_token = next_page_token


def tree_order(spans: Sequence[tuple[str, str | None]]) -> list[tuple[int, int]]:
    """Spans given as ``(span_id, parent_id)`` in start order, depth-first as ``(depth, index)``: children in the
    order given, and a span whose parent is not among them as a root. The one span tree, walked by ``Trace.walk``
    and by ``views.span_tree``, which the viewer reads without the spans' payloads."""
    ids = {span_id for span_id, _ in spans}
    children: dict[str | None, list[int]] = {}
    for i, (_, parent_id) in enumerate(spans):
        children.setdefault(parent_id if parent_id in ids else None, []).append(i)
    ordered: list[tuple[int, int]] = []
    stack = [(0, i) for i in reversed(children.get(None, []))]
    while stack:  # iterative: a 10,000-deep chain of spans must not hit the recursion limit
        depth, i = stack.pop()
        ordered.append((depth, i))
        stack.extend((depth + 1, child) for child in reversed(children.get(spans[i][0], [])))
    return ordered


def _parse(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def json_line(value: Any) -> bytes:
    """One line of JSON lines, as ``spanlite traces export`` and the viewer's download write a record."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS) + b"\n"
