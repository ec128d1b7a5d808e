"""Sending spanlite's spans to an OTLP/HTTP backend: redacted, in the conventions the backend reads, and never
holding up the end of the process."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Link, Status

from spanlite.tracing import redaction
from spanlite.tracing._exporters import DeadlineExporter
from spanlite.tracing._guard import log_internal_error, logger
from spanlite.tracing._openinference import openinference

if TYPE_CHECKING:
    from opentelemetry.util.types import AnyValue

# The vocabularies exported spans may carry beside spanlite's own keys (``spanlite.*``, always sent: they make a
# round trip through ``spanlite serve`` exact). ``gen_ai``: the OTel GenAI conventions (Datadog, Langfuse, Logfire,
# Grafana); ``openinference``: Arize Phoenix and Arize.
CONVENTIONS = ("gen_ai", "openinference")
_GEN_AI = "gen_ai."

_unsent_endpoints: set[str] = set()  # OTLP endpoints warned about: once per process, not at every configure()


def conventions(value: str | Iterable[str]) -> tuple[str, ...]:
    """``configure(otlp_conventions=...)`` checked: any of ``CONVENTIONS`` (one name alone, or several), in their
    order; anything else is a one-line error."""
    names = (value,) if isinstance(value, str) else value
    expected = f"any of {', '.join(map(repr, CONVENTIONS))}"
    try:
        names = tuple(names)
    except TypeError:
        raise TypeError(f"otlp_conventions must be a tuple of names ({expected}), not {value!r}") from None
    for name in names:
        if name not in CONVENTIONS:
            raise ValueError(f"unknown OTLP convention {name!r} in otlp_conventions; expected {expected}")
    return tuple(name for name in CONVENTIONS if name in names)


def otlp_exporter(
    endpoint: str, redact: redaction.Redactor, conventions: tuple[str, ...], *, required: bool
) -> OTLPExporter | None:
    """The OTLP/HTTP exporter, imported only when asked for, so that the ``otlp`` extra stays optional.

    One that cannot be made is the caller's error where they passed the endpoint or it is the only destination.
    An endpoint from the environment, beside the local store, is one warning instead: one destination that fails
    must not take the other with it.
    """
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        def make(timeout: float | None) -> SpanExporter:
            return OTLPSpanExporter(endpoint=endpoint, timeout=timeout)

        return OTLPExporter(endpoint, make, redact, conventions)
    except ImportError as exc:
        if required:
            raise ImportError(
                f"spanlite's OTLP export to {endpoint} needs the OTLP/HTTP exporter: pip install 'spanlite[otlp]' "
                f"(missing: {exc.name})"
            ) from exc
        why = "the OTLP/HTTP exporter is not installed: pip install 'spanlite[otlp]'"
    except Exception as exc:
        if required:
            raise
        why = f"{type(exc).__name__}: {exc}"
    if endpoint not in _unsent_endpoints:
        _unsent_endpoints.add(endpoint)
        logger.warning("spanlite sends no spans to %s (from OTEL_EXPORTER_OTLP_*): %s; the local store is unaffected",
                       endpoint, why)  # fmt: skip
    return None


class OTLPExporter(SpanExporter, DeadlineExporter):
    """The OTel SDK's OTLP/HTTP exporter, with what spanlite adds on the way out.

    ``redact`` applies to what leaves the process too: the span's name, every string attribute, each event's name
    and values, links' values, the status message, and the resource (``OTEL_RESOURCE_ATTRIBUTES``). A value whose key
    names a secret (``db.password``) is redacted whole: on its own, without the name beside it, the text patterns
    could not tell.

    ``conventions``: OpenInference's attributes are derived from the redacted ones and added (the span's own win);
    without ``gen_ai``, the GenAI attributes are left out.

    ``set_deadline`` (as the process ends): the SDK's exporter gives a batch its whole timeout (10 s, or
    ``OTEL_EXPORTER_OTLP_TIMEOUT``), retrying, whatever else waits. From then on each batch goes through one whose
    timeout ends at the deadline, so that a backend that is down does not hold up the end of the app.
    """

    def __init__(
        self,
        endpoint: str,
        make: Callable[[float | None], SpanExporter],
        redact: redaction.Redactor,
        conventions: tuple[str, ...] = CONVENTIONS,
    ) -> None:
        self.destination = f"the OTLP endpoint {endpoint}"
        self.last_error: str | None = None  # why the last export failed, for the processor's warnings
        self._make = make
        self._inner = make(None)
        self._redact = redact
        self._openinference = "openinference" in conventions
        self._gen_ai = "gen_ai" in conventions
        self._deadline: float | None = None  # time.monotonic()
        self._resource: tuple[Resource, Resource] | None = None  # (as given, redacted): one for all spans

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            outgoing = [self._span(span) for span in spans]
        except Exception:  # a redactor that fails must not let the unredacted spans through
            return SpanExportResult.FAILURE
        # The SDK logs why an export failed (connection refused, a status code); its result says only that it did.
        self.last_error = "the OpenTelemetry exporter logs why"
        if self._deadline is None:
            return self._inner.export(outgoing)
        left = self._deadline - time.monotonic()
        if left <= 0:
            self.last_error = "its deadline passed before they could be sent"
            return SpanExportResult.FAILURE
        exporter = self._make(left)
        try:
            return exporter.export(outgoing)
        finally:
            exporter.shutdown()

    def set_deadline(self, deadline: float | None) -> None:
        """Give up on a batch that would be sent after ``deadline`` (``time.monotonic()``); ``None``: no deadline."""
        self._deadline = deadline

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._inner.force_flush(timeout_millis)

    def _span(self, span: ReadableSpan) -> ReadableSpan:
        status = span.status
        if status.description:
            status = Status(status.status_code, self._redact(status.description))
        return ReadableSpan(
            name=self._redact(span.name), context=span.context, parent=span.parent,
            resource=self._redacted_resource(span.resource), attributes=self._attributes(span.attributes),
            links=[Link(link.context, self._values(link.attributes)) for link in span.links], kind=span.kind,
            status=status,
            events=[Event(self._redact(e.name), self._values(e.attributes), e.timestamp) for e in span.events],
            start_time=span.start_time, end_time=span.end_time, instrumentation_scope=span.instrumentation_scope,
        )  # fmt: skip

    def _attributes(self, attributes: Mapping[str, AnyValue] | None) -> dict[str, AnyValue]:
        """Redacted, then in the conventions asked for: what is derived is derived from redacted values."""
        attributes = self._values(attributes)
        if self._openinference:
            try:
                attributes = {**openinference(attributes), **attributes}
            except Exception:  # the span still goes, in spanlite's and the GenAI conventions
                log_internal_error(openinference)
        if not self._gen_ai:
            attributes = {k: v for k, v in attributes.items() if not k.startswith(_GEN_AI)}
        return attributes

    def _redacted_resource(self, resource: Resource) -> Resource:
        if self._resource is None or self._resource[0] is not resource:
            self._resource = (resource, Resource(self._values(resource.attributes), resource.schema_url))
        return self._resource[1]

    def _values(self, attributes: Mapping[str, AnyValue] | None) -> dict[str, AnyValue]:
        return {
            key: redaction.REDACTED if redaction.is_secret_entry(key, value) else self._value(value)
            for key, value in (attributes or {}).items()
        }

    def _value(self, value: AnyValue) -> AnyValue:
        if isinstance(value, str):
            return self._redact(value)
        if isinstance(value, (list, tuple)):
            return [self._redact(v) if isinstance(v, str) else v for v in value]
        return value
