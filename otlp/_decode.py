"""Decode an OTLP/HTTP trace export body (protobuf or OTLP/JSON) into neutral span dicts.

A neutral span dict has exactly the keyword arguments of ``_rows.span_row``; its attributes are still the sender's
own keys (``_normalize`` maps them). A body is decoded whole or rejected whole, so a bad request stores nothing.

>>> decode_json(b'{"resourceSpans": []}')
[]
"""

from __future__ import annotations

import base64
import json
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, SpanFlags, Status

from spanlite.tracing import attributes as attr
from spanlite.tracing.serialize import clean_value

_STATUS = {Status.STATUS_CODE_UNSET: "UNSET", Status.STATUS_CODE_OK: "OK", Status.STATUS_CODE_ERROR: "ERROR"}
_KINDS = {
    Span.SPAN_KIND_SERVER: "SERVER",
    Span.SPAN_KIND_CLIENT: "CLIENT",
    Span.SPAN_KIND_PRODUCER: "PRODUCER",
    Span.SPAN_KIND_CONSUMER: "CONSUMER",
}
_SCALARS = frozenset(("string_value", "bool_value", "int_value", "double_value"))
_NO_TRACE_ID = bytes(16)
_NO_SPAN_ID = bytes(8)
_REMOTE_PARENT = SpanFlags.SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK  # an enum lookup costs a Python call: once, here
# OTLP/JSON carries ids as hex; protobuf's JSON mapping expects base64 for bytes, so ids are re-encoded first.
_ID_FIELDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


class OTLPDecodeError(ValueError):
    """A body that is not a valid ``ExportTraceServiceRequest``; the message says what and where."""


def decode_protobuf(body: bytes) -> list[dict[str, Any]]:
    """Spans from a binary protobuf ``ExportTraceServiceRequest``."""
    try:
        request = ExportTraceServiceRequest.FromString(body)
    except (DecodeError, RecursionError, ValueError) as exc:
        raise OTLPDecodeError(f"body is not a protobuf ExportTraceServiceRequest: {exc or 'decode error'}") from None
    return _spans(request)


def decode_json(body: bytes) -> list[dict[str, Any]]:
    """Spans from an OTLP/JSON body: hex ids, lowerCamelCase (or snake_case) names, int64 as strings."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        data = _with_lone_surrogates(body, exc)
    if not isinstance(data, dict):
        raise OTLPDecodeError("body must be a JSON object with a resourceSpans list")
    _hex_ids_to_base64(data)
    request = ExportTraceServiceRequest()
    try:
        json_format.ParseDict(data, request, ignore_unknown_fields=True)
    except (json_format.ParseError, RecursionError, TypeError, ValueError) as exc:
        raise OTLPDecodeError(f"body is not an OTLP/JSON ExportTraceServiceRequest: {exc}") from None
    return _spans(request)


def _with_lone_surrogates(body: bytes, error: orjson.JSONDecodeError) -> Any:
    """JSON that orjson refused, decoded if a lone surrogate escape (``"\\ud800"``) was all that was wrong.

    JSON allows such escapes, though the text they stand for is no UTF-8: it is kept, each one as U+FFFD, rather
    than the sender's whole batch refused. Anything else orjson refused is refused here too.
    """
    try:
        data = json.loads(body.decode(), parse_constant=_no_constant)  # UTF-8 only, as orjson reads it
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise OTLPDecodeError(f"body is not valid JSON: {error}") from None
    return clean_value(data)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _hex_ids_to_base64(data: dict[str, Any]) -> None:
    for r, resource_spans in enumerate(_items(data, "resourceSpans", "resource_spans")):
        for s, scope_spans in enumerate(_items(resource_spans, "scopeSpans", "scope_spans")):
            for n, span in enumerate(_items(scope_spans, "spans")):
                where = f"resourceSpans[{r}].scopeSpans[{s}].spans[{n}]"
                _convert_ids(span, where)
                for e, link in enumerate(_items(span, "links")):
                    _convert_ids(link, f"{where}.links[{e}]")


def _items(container: Any, *keys: str) -> list[Any]:
    """The list under the first present key; anything malformed is left for ``ParseDict`` to report."""
    if not isinstance(container, dict):
        return []
    for key in keys:
        if isinstance(value := container.get(key), list):
            return value
    return []


def _convert_ids(obj: Any, where: str) -> None:
    if not isinstance(obj, dict):
        return
    for key in _ID_FIELDS:
        value = obj.get(key)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise OTLPDecodeError(f"{where}.{key} must be a hex string")
        try:
            obj[key] = base64.b64encode(bytes.fromhex(value)).decode()
        except ValueError:
            raise OTLPDecodeError(f"{where}.{key} is not hex: {value[:40]!r}") from None


def _spans(request: ExportTraceServiceRequest) -> list[dict[str, Any]]:
    # Repeated fields are read as ``field[:]``, a list made in one call: a loop over the field itself ends with an
    # IndexError that upb formats, a few thousand instructions each time (~3% of decoding a span).
    spans: list[dict[str, Any]] = []
    for r, resource_spans in enumerate(request.resource_spans[:]):
        resource = _attributes(resource_spans.resource.attributes) or None  # one dict for all its spans
        for s, scope_spans in enumerate(resource_spans.scope_spans[:]):
            scope = scope_spans.scope.name
            for n, span in enumerate(scope_spans.spans[:]):
                try:
                    spans.append(_span(span, scope, resource))
                except _BadId as exc:
                    raise OTLPDecodeError(f"resourceSpans[{r}].scopeSpans[{s}].spans[{n}].{exc}") from None
    return spans


def _span(span: Span, scope: str, resource: dict[str, Any] | None) -> dict[str, Any]:
    # Every read of a upb message field is a call into C that builds a new Python object: read each field once.
    # This runs for every received span: ids are checked inline, a call only made for a bad one.
    trace_id, span_id, parent_id = span.trace_id, span.span_id, span.parent_span_id
    if len(trace_id) != 16 or trace_id == _NO_TRACE_ID:
        raise _bad_id(trace_id, _NO_TRACE_ID, "traceId")
    if len(span_id) != 8 or span_id == _NO_SPAN_ID:
        raise _bad_id(span_id, _NO_SPAN_ID, "spanId")
    has_parent = bool(parent_id.strip(b"\0"))  # an all-zero parent id, of any length, is no parent
    if has_parent and len(parent_id) != 8:
        raise _bad_id(parent_id, _NO_SPAN_ID, "parentSpanId")
    attributes = _attributes(span.attributes)
    if scope:
        attributes.setdefault(attr.OTEL_SCOPE_NAME, scope)
    if kind := _KINDS.get(span.kind):
        attributes.setdefault(attr.OTEL_SPAN_KIND, kind)
    status = span.status
    events = span.events
    links = span.links
    return {
        "trace_id": trace_id.hex(),
        "span_id": span_id.hex(),
        "parent_id": parent_id.hex() if has_parent else None,
        "name": span.name,
        "start_ns": span.start_time_unix_nano,
        "end_ns": span.end_time_unix_nano,
        "status": _STATUS.get(status.code, "UNSET"),
        "status_message": status.message or None,
        "attributes": attributes,
        "events": [
            {"name": e.name, "time_ns": e.time_unix_nano, "attributes": _attributes(e.attributes)} for e in events[:]
        ]
        if events
        else [],
        "resource": resource,
        # Kept as sent, ids as hex whatever their size: a link to a span this store may never see is no reason to
        # refuse the span.
        "links": [
            {"trace_id": k.trace_id.hex(), "span_id": k.span_id.hex(), "attributes": _attributes(k.attributes)}
            for k in links[:]
        ]
        if links
        else [],
        # The sender's word that the parent lives in another process (W3C traceparent): a local root.
        "parent_is_remote": bool(span.flags & _REMOTE_PARENT),
    }


class _BadId(ValueError):
    """A span id of the wrong size or all zero; ``_spans`` adds where the span is."""


def _bad_id(raw: bytes, zero: bytes, name: str) -> _BadId:
    return _BadId(f"{name} must be {len(zero)} bytes and not all zero, got {len(raw)} bytes")


def _attributes(pairs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in pairs[:]}


def _value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which in _SCALARS:
        return getattr(value, which)
    if which == "array_value":
        return [_value(v) for v in value.array_value.values[:]]
    if which == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in value.kvlist_value.values[:]}
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return None
