"""Turn a finished span into a ``spans`` row: the columns the store indexes, the rest as JSON."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from spanlite.tracing import attributes as attr
from spanlite.tracing._guard import guard
from spanlite.tracing._openinference import without_openinference
from spanlite.tracing.kinds import SpanKind
from spanlite.tracing.redaction import Redactor
from spanlite.tracing.serialize import MAX_FIELD_BYTES, MAX_NAME_BYTES, bounded_text, clean_text, clean_value, to_json

from ._normalize import normalize
from .prices import usage_of

_STATUS_NAMES = {code.value: code.name for code in StatusCode}  # UNSET, OK, ERROR
_KINDS = {k.value for k in SpanKind}
_UNKNOWN_KIND = SpanKind.UNKNOWN.value
_SERVICE_NAME = "service.name"
_UNKNOWN_SERVICE = "unknown_service"
# SQLite's INTEGER range. OTLP timestamps are unsigned 64-bit and Python ints unbounded: beyond it, an insert fails.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_UINT64_MAX = 2**64 - 1  # orjson's largest int

_TRACE_FACTS = frozenset((attr.TRACE_TAGS, attr.TRACE_METADATA, attr.SESSION_ID, attr.USER_ID))
# A span's row as a whole: 16 values at the field bound. Its inputs and outputs come first, then its events, then
# its other attributes, each in the order it was set; what no longer fits is cut, or left out and counted.
MAX_ROW_BYTES = 16 * MAX_FIELD_BYTES
_IDS = frozenset((attr.SESSION_ID, attr.USER_ID))  # labels, bounded as names are
_FIRST = (attr.INPUTS, attr.OUTPUTS)
_COST = 16  # what a value costs beyond its text: key quotes, separators, a number
_RESERVE = 64 * 1024  # for the marks of the values the row has no more room for (about 70 bytes each)
_QUICK_TEXT = MAX_NAME_BYTES // 4  # characters that cannot reach the name bound even at 4 bytes each
_QUICK_ITEMS = MAX_FIELD_BYTES // _COST
_QUICK_ROW = MAX_ROW_BYTES - 128 * MAX_NAME_BYTES  # room left for keys and the span's name
SPAN_COLUMNS = (
    "span_id", "trace_id", "parent_id", "name", "kind", "start_ns", "end_ns", "status", "status_message",
    "inputs", "outputs", "attributes", "events", "model", "input_tokens", "output_tokens", "links", "resource_id",
    "cost",
)  # fmt: skip


# A finished span as plain values (ints, str, dicts, lists), cheap to take from the SDK's span in the app's
# export thread and cheap to ``marshal`` to a writer process: trace id, span id, parent id, parent is remote, name,
# start ns, end ns, status code, status message, attributes, events [(name, ns, attributes)], resource attributes
# (one dict for all spans of a resource, which ``marshal`` then sends once a batch), links [(trace id, span id,
# attributes)]. Not yet within the bounds of what is stored: the writer sees to that (``bounded_span``), in its
# process if it has one.
PackedSpan = tuple[Any, ...]


def pack_span(span: ReadableSpan) -> PackedSpan:
    """A span from this process's OTel SDK as plain values.

    The SDK's own spans are read through their fields: its public properties copy attributes and events on
    every access, which costs more than the rest of this function. Any other ``ReadableSpan`` goes through them.
    """
    if type(span) is ReadableSpan:
        context, parent, status, attributes, events, links = (
            span._context, span._parent, span._status, span._attributes, span._events, span._links
        )  # fmt: skip
        attributes = getattr(attributes, "_dict", attributes)  # BoundedAttributes' own dict copies 4× faster
        name, start, end, resource = span._name, span._start_time, span._end_time, span._resource
    else:
        context, parent, status, attributes, events, links = (
            span.get_span_context(), span.parent, span.status, span.attributes, span.events, span.links
        )  # fmt: skip
        name, start, end, resource = span.name, span.start_time, span.end_time, span.resource
    assert context is not None  # every span the SDK ends has one
    return (
        context.trace_id,
        context.span_id,
        parent.span_id if parent is not None else None,
        parent is not None and parent.is_remote,
        name,
        start or 0,
        end or start or 0,
        status.status_code.value,
        status.description,
        dict(attributes) if attributes else {},
        [(e.name, e.timestamp, dict(e.attributes or {})) for e in events] if events else None,
        _resource_attributes(resource),
        [(k.context.trace_id, k.context.span_id, dict(k.attributes or {})) for k in links] if links else None,
    )


_last_resource: tuple[Any, dict[str, Any] | None] = (None, None)  # (resource, its attributes as a plain dict)


def _resource_attributes(resource: Any) -> dict[str, Any] | None:
    """A resource's attributes as one dict for all its spans: a process's spans nearly always share one resource."""
    global _last_resource
    last = _last_resource
    if last[0] is resource:
        return last[1]
    attributes = dict(resource.attributes) if resource is not None and resource.attributes else None
    _last_resource = (resource, attributes)
    return attributes


def bounded_span(packed: PackedSpan) -> PackedSpan:
    """``packed`` with its name, status message, attributes, events and links within their bounds (``bounded``)."""
    trace_id, span_id, parent_id, remote, name, start, end, code, message, attributes, events, resource, links = packed
    if not events and not links and _fits(name, message, attributes):
        return packed
    name, message, attributes, events, links = bounded(name, message, attributes, events, links)
    return trace_id, span_id, parent_id, remote, name, start, end, code, message, attributes, events, resource, links


def _fits(name: str, message: str | None, attributes: Mapping[str, Any]) -> bool:
    """Whether a span (without events) is within every bound at a glance, as nearly every span is: a cheap,
    sufficient test, which leaves the exact one (``bounded``) to the rare span it cannot vouch for.

    Values are measured in characters here, and cut beyond the field bound in characters: text outside ASCII
    may take up to 4 bytes a character.
    """
    if type(name) is not str or len(name) > _QUICK_TEXT:
        return False
    if message is not None and (type(message) is not str or len(message) > _QUICK_TEXT):
        return False
    total = 0
    for key, value in attributes.items():
        kind = type(value)
        if kind is str:
            size = len(value)
            if size > MAX_FIELD_BYTES:
                return False
            total += size
        elif kind is tuple:  # the SDK's lists, of one type
            if len(value) > _QUICK_ITEMS:
                return False
            if value and type(value[0]) is str and sum(map(len, value)) > MAX_FIELD_BYTES:
                return False
        elif kind is not int and kind is not float and kind is not bool:  # lists and maps, received
            return False
        if len(key) > _QUICK_TEXT:
            return False
    return total <= _QUICK_ROW


PackedEvent = tuple[str, int, Mapping[str, Any]]  # name, time ns, attributes
PackedLink = tuple[Any, Any, Mapping[str, Any]]  # trace id, span id (ints from the SDK, hex received), attributes


def bounded(
    name: Any,
    message: str | None,
    attributes: Mapping[str, Any],
    events: Sequence[PackedEvent] | None,
    links: Sequence[PackedLink] | None = None,
) -> tuple[str, str | None, dict[str, Any], list[PackedEvent] | None, list[PackedLink] | None]:
    """A span's name, status message, attributes, events (``(name, ns, attributes)``) and links within their bounds.

    Names, attribute keys and ids are cut at ``MAX_NAME_BYTES``; a status message, and each value, at the field
    bound, a value's cut keeping valid JSON (``to_json``'s mark: ``{"_spanlite_truncated": true, ...}``); the row
    as a whole at ``MAX_ROW_BYTES``: inputs and outputs first, then events, then links, then the other attributes.
    Events beyond the row's bound are left out, with an event saying how many; links too, with an attribute
    (``spanlite.links_left_out``).
    """
    name = bounded_text(str(name), MAX_NAME_BYTES)
    message = bounded_text(str(message), MAX_FIELD_BYTES) if message else None
    budget = _Budget(MAX_ROW_BYTES - _RESERVE - len(name) - len(message or ""))
    first = {k: budget.value(k, attributes[k]) for k in _FIRST if k in attributes}
    kept_events: list[PackedEvent] | None = None
    if events:
        kept_events = []
        for event_name, time_ns, event_attributes in events:
            if budget.left <= 0:
                left_out = {"events": len(events) - len(kept_events)}
                kept_events.append((_EVENTS_LEFT_OUT, time_ns, left_out))
                break
            event_name = bounded_text(str(event_name), MAX_NAME_BYTES)
            budget.left -= len(event_name) + _COST
            kept_events.append((event_name, time_ns, budget.values(event_attributes)))
    kept_links: list[PackedLink] | None = None
    if links:
        kept_links = []
        for trace_id, span_id, link_attributes in links:
            if budget.left <= 0:
                first[attr.LINKS_LEFT_OUT] = len(links) - len(kept_links)
                break
            if type(trace_id) is not int:  # received: hex of whatever length the sender sent
                trace_id = bounded_text(str(trace_id), MAX_NAME_BYTES)
                span_id = bounded_text(str(span_id), MAX_NAME_BYTES)
            budget.left -= 2 * _COST + 48  # the ids, as hex
            kept_links.append((trace_id, span_id, budget.values(link_attributes)))
    rest = budget.values({k: v for k, v in attributes.items() if k not in first})
    return name, message, {**first, **rest}, kept_events, kept_links


_EVENTS_LEFT_OUT = "spanlite.events_left_out"  # the last event of a span whose row could hold no more


class _Budget:
    """What is left of a row's bound as its values are taken, in order."""

    __slots__ = ("left",)

    def __init__(self, left: int) -> None:
        self.left = left

    def values(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        return {bounded_text(str(k), MAX_NAME_BYTES): self.value(k, v) for k, v in attributes.items()}

    def value(self, key: str, value: Any) -> Any:
        """``value`` within the field bound and what is left of the row's, which it then uses."""
        limit = min(MAX_FIELD_BYTES, max(self.left, 0))
        if isinstance(value, str):
            if key in _IDS:
                value = bounded_text(value, MAX_NAME_BYTES)
            elif len(value) > limit:
                value = to_json(value, limit)
            size = len(value)
        elif isinstance(value, (int, float, bool)) or value is None:
            size = 0
        else:  # a sequence (or, received, a map): kept as it is only if it fits whole
            items = list(value) if isinstance(value, tuple) else value
            text = _dumps(items)
            size = len(text)
            if size > limit:
                value = to_json(text, limit)
                size = len(value)
        self.left -= size + len(key) + _COST
        return value


def packed_span_row(packed: PackedSpan) -> dict[str, Any]:
    """The row for a packed span (see ``pack_span``), within its bounds."""
    packed = bounded_span(packed)
    trace_id, span_id, parent_id, remote, name, start, end, code, message, attributes, events, resource, links = packed
    return span_row(
        trace_id=f"{trace_id:032x}",
        span_id=f"{span_id:016x}",
        parent_id=f"{parent_id:016x}" if parent_id is not None else None,
        name=name,
        start_ns=start,
        end_ns=end,
        status=_STATUS_NAMES[code],
        status_message=message,
        attributes=_spanlite_keys(attributes),
        events=[{"name": n, "time_ns": t, "attributes": a} for n, t, a in events] if events else (),
        resource=resource,
        links=_hex_links(links) if links else (),
        parent_is_remote=remote,
    )


def _hex_links(links: Sequence[PackedLink]) -> list[dict[str, Any]]:
    return [{"trace_id": f"{t:032x}", "span_id": f"{s:016x}", "attributes": a} for t, s, a in links]


def decoded_span_row(span: Mapping[str, Any]) -> dict[str, Any]:
    """The row for a span the OTLP receiver decoded (``_otlp``'s neutral dict: ``span_row``'s arguments)."""
    name, message, attributes, events, links = (
        span["name"], span["status_message"], span["attributes"], span["events"], span["links"]
    )  # fmt: skip
    if events or links or not _fits(name, message, attributes):
        name, message, attributes, packed_events, packed_links = bounded(
            name, message, attributes, [(e["name"], e["time_ns"], e["attributes"]) for e in events],
            [(k["trace_id"], k["span_id"], k["attributes"]) for k in links],
        )  # fmt: skip
        events = [{"name": n, "time_ns": t, "attributes": a} for n, t, a in packed_events or ()]
        links = [{"trace_id": t, "span_id": s, "attributes": a} for t, s, a in packed_links or ()]
    return span_row(
        **{
            **span, "name": name, "status_message": message, "attributes": _spanlite_keys(attributes),
            "events": events, "links": links,
        }
    )  # fmt: skip


def _spanlite_keys(attributes: Mapping[str, Any]) -> Mapping[str, Any]:
    """Our own spans as they are; other instrumentors' spans (in this process or received) mapped onto our keys.

    A mapping bug must not lose the span, nor fail its whole batch: it is stored with its own attributes.
    """
    if attr.SPAN_KIND in attributes:
        if attr.OI_SPAN_KIND in attributes:  # back from our OTLP export: less the OpenInference keys it added
            return guard(without_openinference, attributes) or attributes
        return attributes
    return guard(normalize, attributes) or attributes


def span_row(
    *,
    trace_id: str,
    span_id: str,
    parent_id: str | None,
    name: str,
    start_ns: int,
    end_ns: int,
    status: str,
    status_message: str | None,
    attributes: Mapping[str, Any],
    events: Sequence[Mapping[str, Any]],
    resource: Mapping[str, Any] | None = None,
    links: Sequence[Mapping[str, Any]] = (),
    parent_is_remote: bool = False,
) -> dict[str, Any]:
    """The row for any span, whatever produced it; ``attributes`` use spanlite's keys (see attributes.py).

    ``resource``: the attributes of the resource the span came from (``service.name``, ``host.name``, ...), kept
    in their own table (the row carries them as JSON text, which the writer swaps for the resource's id); its
    ``service.name`` is among the span's attributes too. ``links``: ``{"trace_id", "span_id", "attributes"}``.
    ``parent_is_remote``: the parent is in another process (a trace continued from a ``traceparent``), so this
    span is the root of this process's part of the trace.

    Times beyond SQLite's integer range (after the year 2262, or a sender's garbage) are clamped to it, and token
    counts beyond it stored as NULL, their value kept in the attributes: one odd span must not fail its batch.
    """
    if not INT64_MIN <= start_ns <= INT64_MAX:
        start_ns = clamp_int64(start_ns)
    if not INT64_MIN <= end_ns <= INT64_MAX:
        end_ns = clamp_int64(end_ns)
    rest = dict(attributes)
    inputs = rest.pop(attr.INPUTS, None)
    outputs = rest.pop(attr.OUTPUTS, None)
    kind = rest.pop(attr.SPAN_KIND, None)
    kind = str(kind).upper() if kind else ""
    if status == "UNSET" and kind:
        status = "OK"  # spanlite's spans leave success UNSET, as OTel asks of instrumentation; stored, it is OK
    parent_is_remote = parent_is_remote or bool(rest.pop(attr.LOCAL_ROOT, False))
    service_name = resource.get(_SERVICE_NAME) if resource else None
    if service_name and not str(service_name).startswith(_UNKNOWN_SERVICE):
        rest.setdefault(_SERVICE_NAME, service_name)
    # Written for speed (the writer child's and the receiver's hottest function): few calls, None tested inline.
    facts = None if _TRACE_FACTS.isdisjoint(rest) else {k: rest[k] for k in _TRACE_FACTS if k in rest}
    model = rest.get(attr.GEN_AI_RESPONSE_MODEL) or rest.get(attr.GEN_AI_REQUEST_MODEL)
    input_tokens = rest.get(attr.GEN_AI_USAGE_INPUT_TOKENS)
    output_tokens = rest.get(attr.GEN_AI_USAGE_OUTPUT_TOKENS)
    usage = None if input_tokens is None and output_tokens is None else usage_of(rest)
    return {
        "trace_facts": facts,  # not a column: what the span says about its whole trace
        # Nor this: what prices the call, as plain values (a writer process is sent them), read where it is stored.
        "usage": None if usage is None else tuple(usage),
        "parent_is_remote": parent_is_remote,  # not a column either: read when summarising the trace
        "resource": resource_text(resource) if resource else None,  # nor this: the writer makes it ``resource_id``
        "resource_id": None,
        "span_id": span_id,
        "trace_id": trace_id,
        "parent_id": parent_id,
        "name": name,
        "kind": kind if kind in _KINDS else _UNKNOWN_KIND,
        "start_ns": start_ns,
        "end_ns": end_ns if end_ns >= start_ns else start_ns,
        "status": status,
        "status_message": status_message or None,
        "inputs": None if inputs is None else _json_text(inputs),
        "outputs": None if outputs is None else _json_text(outputs),
        "attributes": _dumps(rest),
        "events": _dumps(list(events)) if events else None,
        "model": None if model is None else _text(model),
        "input_tokens": None if input_tokens is None else _int(input_tokens),
        "output_tokens": None if output_tokens is None else _int(output_tokens),
        "links": _dumps(list(links)) if links else None,
        "cost": None,  # USD, set by the writer from ``usage`` (``prices``)
    }


_last_resource_text: tuple[Any, str | None] = (None, None)  # (resource attributes, their text)


def resource_text(resource: Mapping[str, Any]) -> str:
    """A resource's attributes as bounded JSON text, made once for the spans of a batch that share them (one
    object for all: ``pack_span``'s dict, or the receiver's for one ``resourceSpans``); one object too, so that
    it is redacted once and ``marshal``-ed once a batch."""
    global _last_resource_text
    last = _last_resource_text
    if last[0] is resource:
        return last[1]  # type: ignore[return-value]
    text = _dumps(_Budget(MAX_FIELD_BYTES).values(resource))
    _last_resource_text = (resource, text)
    return text


def _json_text(value: Any) -> str | None:
    """Inputs and outputs arrive as JSON text from spanlite; anything else is encoded here."""
    if value is None:
        return None
    if isinstance(value, str):
        if value[:1] in ("{", "[", '"'):  # what to_json writes; parsing it again per span costs too much
            return value
        try:
            orjson.loads(value)
            return value
        except orjson.JSONDecodeError:
            pass
    return _dumps(value)


def _dumps(value: Any) -> str:
    try:
        return orjson.dumps(value, default=repr, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # an int beyond 64 bits, or a lone surrogate (no UTF-8): redone, made encodable
        return orjson.dumps(_encodable(value), default=_repr_text, option=orjson.OPT_NON_STR_KEYS).decode()


def _encodable(value: Any) -> Any:
    """``value`` with what orjson cannot write made writable: big ints as text, lone surrogates as U+FFFD."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, int) and not INT64_MIN <= value <= _UINT64_MAX:
        return str(value)  # nor can most JSON readers read such an int
    if isinstance(value, dict):
        return {_encodable(k): _encodable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encodable(v) for v in value]
    return value


def _repr_text(value: Any) -> str:
    return clean_text(repr(value))


def clean_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies of ``rows`` with every string in them (values, keys, nested) made valid Unicode (``clean_text``).

    For the rare batch SQLite or orjson refused: checking every string of every row up front would cost each one.
    """
    return [clean_value(row) for row in rows]


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _int(value: Any) -> int | None:
    """An integer column's value; ``None`` for what is no integer or beyond SQLite's (the attributes keep it)."""
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an infinite float
        return None
    return number if INT64_MIN <= number <= INT64_MAX else None


def clamp_int64(value: int) -> int:
    """``value`` brought into SQLite's integer range."""
    return INT64_MIN if value < INT64_MIN else INT64_MAX if value > INT64_MAX else value


# Every text a row stores: its columns, and what it says about its trace (``trace_facts``: session and user ids,
# tags, metadata), which the writer copies into the ``traces`` row; the trace's name is its root span's name.
_TEXT_COLUMNS = ("name", "inputs", "outputs", "attributes", "events", "status_message", "model", "links")
_REDACT_GROUP = 64  # rows per redaction call: few calls, yet no huge joined text from a batch of big spans


def redact_rows(rows: list[dict[str, Any]], redact: Redactor) -> list[dict[str, Any]]:
    """Apply ``redact`` to every text of ``rows`` that can hold user content, in place; returns ``rows``.

    Rows are redacted a group at a time as one text, their texts joined by NUL, which JSON never contains raw
    and no redaction pattern crosses: one call per group instead of several per row. Should the parts not come back
    intact (a redactor that touches NUL), each text of the group is redacted on its own. A resource's text, which
    a batch's spans share, is redacted once.
    """
    _redact_resources(rows, redact)
    for start in range(0, len(rows), _REDACT_GROUP):
        group = rows[start : start + _REDACT_GROUP]
        cells = [(row, k) for row in group for k in _TEXT_COLUMNS if isinstance(row.get(k), str)]
        cells += [cell for row in group if row.get("trace_facts") for cell in _fact_cells(row["trace_facts"])]
        parts = redact("\x00".join(cell[k] for cell, k in cells)).split("\x00")
        if len(parts) != len(cells):
            parts = [redact(cell[k]) for cell, k in cells]
        for (cell, k), part in zip(cells, parts):
            cell[k] = part
    return rows


def _redact_resources(rows: list[dict[str, Any]], redact: Redactor) -> None:
    redacted: dict[str, str] = {}
    for row in rows:
        if (text := row.get("resource")) is not None:
            if (done := redacted.get(text)) is None:
                done = redacted[text] = redact(text)
            row["resource"] = done


def _fact_cells(facts: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """The texts among a span's trace facts; a list another SDK sent (tags, an id) becomes JSON text to redact."""
    for k, v in facts.items():
        if isinstance(v, (list, tuple, dict)):
            facts[k] = _dumps(v)  # what the writer reads tags and metadata from anyway
    return [(facts, k) for k, v in facts.items() if isinstance(v, str)]


def redact_row(row: dict[str, Any], redact: Redactor) -> dict[str, Any]:
    """Apply ``redact`` to the text columns of ``row``, in place (see ``redact_rows``); returns ``row``."""
    return redact_rows([row], redact)[0]
