"""Turn a finished span into a ``spans`` row: the columns the store indexes, the rest as JSON."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import orjson
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from spanlite.tracing import attributes as attr
from spanlite.tracing.kinds import SpanKind
from spanlite.tracing.redaction import Redactor

from ._normalize import normalize

_STATUS = {StatusCode.UNSET: "UNSET", StatusCode.OK: "OK", StatusCode.ERROR: "ERROR"}
_KINDS = {k.value for k in SpanKind}
_SERVICE_NAME = "service.name"
_UNKNOWN_SERVICE = "unknown_service"

_TRACE_FACTS = (attr.TRACE_TAGS, attr.TRACE_METADATA, attr.SESSION_ID, attr.USER_ID)
SPAN_COLUMNS = (
    "span_id", "trace_id", "parent_id", "name", "kind", "start_ns", "end_ns", "status", "status_message",
    "inputs", "outputs", "attributes", "events", "model", "input_tokens", "output_tokens",
)  # fmt: skip


def readable_span_row(span: ReadableSpan) -> dict[str, Any]:
    """The row for a span from this process's OTel SDK."""
    context = span.get_span_context()
    parent = span.parent
    events = [
        {"name": e.name, "time_ns": e.timestamp, "attributes": dict(e.attributes or {})} for e in span.events
    ]
    return span_row(
        trace_id=format(context.trace_id, "032x"),
        span_id=format(context.span_id, "016x"),
        parent_id=format(parent.span_id, "016x") if parent is not None else None,
        name=span.name,
        start_ns=span.start_time or 0,
        end_ns=span.end_time or span.start_time or 0,
        status=_STATUS[span.status.status_code],
        status_message=span.status.description,
        attributes=_spanlite_keys(span.attributes or {}),
        events=events,
        service_name=span.resource.attributes.get(_SERVICE_NAME) if span.resource else None,
        parent_is_remote=parent is not None and parent.is_remote,
    )


def _spanlite_keys(attributes: Mapping[str, Any]) -> Mapping[str, Any]:
    """Our own spans as they are; spans of other instrumentors in this process mapped onto our keys."""
    return attributes if attr.SPAN_KIND in attributes else normalize(attributes)


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
    service_name: Any = None,
    parent_is_remote: bool = False,
) -> dict[str, Any]:
    """The row for any span, whatever produced it; ``attributes`` use spanlite's keys (see attributes.py).

    ``parent_is_remote``: the parent is in another process (a trace continued from a ``traceparent``), so this
    span is the root of this process's part of the trace.
    """
    rest = dict(attributes)
    inputs = rest.pop(attr.INPUTS, None)
    outputs = rest.pop(attr.OUTPUTS, None)
    kind = str(rest.pop(attr.SPAN_KIND, "") or "").upper()
    parent_is_remote = parent_is_remote or bool(rest.pop(attr.LOCAL_ROOT, False))
    if service_name and not str(service_name).startswith(_UNKNOWN_SERVICE):
        rest.setdefault(_SERVICE_NAME, service_name)
    facts = {k: rest[k] for k in _TRACE_FACTS if k in rest}
    return {
        "trace_facts": facts or None,  # not a column: what the span says about its whole trace
        "parent_is_remote": parent_is_remote,  # not a column either: read when summarising the trace
        "span_id": span_id,
        "trace_id": trace_id,
        "parent_id": parent_id,
        "name": name,
        "kind": kind if kind in _KINDS else SpanKind.UNKNOWN.value,
        "start_ns": start_ns,
        "end_ns": max(end_ns, start_ns),
        "status": status,
        "status_message": status_message or None,
        "inputs": _json_text(inputs),
        "outputs": _json_text(outputs),
        "attributes": _dumps(rest),
        "events": _dumps(list(events)) if events else None,
        "model": _text(rest.get(attr.GEN_AI_RESPONSE_MODEL) or rest.get(attr.GEN_AI_REQUEST_MODEL)),
        "input_tokens": _int(rest.get(attr.GEN_AI_USAGE_INPUT_TOKENS)),
        "output_tokens": _int(rest.get(attr.GEN_AI_USAGE_OUTPUT_TOKENS)),
    }


def _json_text(value: Any) -> str | None:
    """Inputs and outputs arrive as JSON text from spanlite; anything else is encoded here."""
    if value is None:
        return None
    if isinstance(value, str):
        if value[:1] in ('{', '[', '"'):  # what to_json writes; parsing it again per span costs too much
            return value
        try:
            orjson.loads(value)
            return value
        except orjson.JSONDecodeError:
            pass
    return _dumps(value)


def _dumps(value: Any) -> str:
    return orjson.dumps(value, default=repr, option=orjson.OPT_NON_STR_KEYS).decode()


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


_TEXT_COLUMNS = ("inputs", "outputs", "attributes", "events", "status_message")


def redact_row(row: dict[str, Any], redact: Redactor) -> dict[str, Any]:
    """``row`` with ``redact`` applied to every text column that can hold user content.

    The columns are redacted as one text joined by NUL, which JSON never contains raw and no redaction pattern
    crosses, so a row costs one call instead of five; should the parts not come back intact, each column is
    redacted on its own.
    """
    keys = [k for k in _TEXT_COLUMNS if isinstance(row.get(k), str)]
    parts = redact("\x00".join(row[k] for k in keys)).split("\x00")
    if len(parts) != len(keys):
        parts = [redact(row[k]) for k in keys]
    return {**row, **dict(zip(keys, parts))}
