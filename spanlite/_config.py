"""``configure``: where spans go, how many are kept, and what is recorded."""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from opentelemetry import trace as otel_trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from spanlite import _signals
from spanlite.otlp import _export as _otlp_export
from spanlite.store import SQLiteSpanExporter, StoreError, default_db_path
from spanlite.store import prices as _prices
from spanlite.tracing import _provider, redaction
from spanlite.tracing._guard import logger, strict
from spanlite.tracing._processor import QueueProcessor
from spanlite.tracing._sampler import TraceSampler

if TYPE_CHECKING:
    from spanlite.store import TraceStore


_TRACES_PATH = "/v1/traces"


@dataclasses.dataclass(frozen=True)
class Settings:
    db: Path | None  # None: no local store (``configure(db=False)``)
    otlp_endpoint: str | None = None  # the full traces URL spans are also sent to
    otlp_conventions: tuple[str, ...] = _otlp_export.CONVENTIONS  # what exported spans carry beside spanlite's keys
    sample_rate: float = 1.0
    redact: redaction.Redactor | None = None
    capture_content: bool = True
    use_global_provider: bool = False
    prices: _prices.PriceTable | None = None  # None: the bundled table


PRICES_VARIABLE = "SPANLITE_PRICES"  # a price file (CSV or JSON) added to the bundled table where none is given


@dataclasses.dataclass
class _Pipeline:
    settings: Settings
    provider: TracerProvider
    processors: list[QueueProcessor]
    store: TraceStore | None = None  # opened on first read


_pipeline: _Pipeline | None = None
_lock = threading.RLock()
_signals.install()  # at import, usually in the main thread: spans may first be made in any thread


def configure(
    *,
    db: str | Path | Literal[False] | None = None,
    otlp_endpoint: str | None = None,
    otlp_conventions: str | Iterable[str] = _otlp_export.CONVENTIONS,
    sample_rate: float = 1.0,
    redact: redaction.Redactor | None = None,
    capture_content: bool = True,
    use_global_provider: bool = False,
    prices: str | Path | Mapping[str, Any] | None = None,
) -> Settings:
    """Set where spans go; call once at start-up.

    Calling it again, even while other threads trace, replaces the set-up at once for every thread: spans ended
    before go where they were going (flushed here), spans still open then go where the new set-up sends spans.

    ``db``: the SQLite store (default ``$SPANLITE_DB`` or ``~/.local/share/spanlite/traces.db``); ``db=False``
    keeps no local store, so spans go only to the OTLP endpoint (reading them back then raises ``StoreError``).
    ``otlp_endpoint``: also send spans to an OTLP/HTTP backend (a Collector, ``spanlite serve``, any vendor):
    a base URL such as ``http://collector:4318`` gets ``/v1/traces`` appended, a URL ending in ``/v1/traces`` is
    used as it is. Without it, ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (used as it is) or
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` (a base URL) turn export on; headers, timeout and compression come from the
    usual ``OTEL_EXPORTER_OTLP_*`` variables. Needs ``pip install 'spanlite[otlp]'``: without it,
    ``otlp_endpoint=`` raises ``ImportError`` (and the set-up in force stays), while an endpoint from the
    environment gets one warning and spans still go to the local store.
    ``otlp_conventions``: the attribute conventions exported spans carry beside spanlite's own ``spanlite.*`` keys
    (always there), any of ``"gen_ai"`` (the OTel GenAI semantic conventions) and ``"openinference"`` (read by
    Arize Phoenix, which shows spans without them as ``UNKNOWN``); both by default.
    ``sample_rate``: the fraction of traces kept, decided at the root so traces are whole.
    ``redact``: called on every text field before it is written or exported (span names and events included),
    after the built-in removal of credentials (provider API keys, bearer tokens, JWTs, private keys, URL passwords,
    and values named like secrets, such as ``password`` or ``api_token``; see ``spanlite.tracing.redaction``,
    which also offers ``emails``). ``capture_content=False``: autolog records
    model calls without message contents. ``use_global_provider``: add our processor to the global OTel
    ``TracerProvider`` (installing one if there is none) instead of keeping our own.
    ``prices``: rows added to (or replacing rows of) the bundled price table that each model call's cost is
    reckoned by when it is stored: a ``.csv`` or ``.json`` file, or ``{"my-model": {"input": 1.0, "output": 2.0,
    "cache_read": 0.1, "cache_write": 1.25, "provider": "openai"}}`` in USD per million tokens (all but input and
    output optional; no provider: any). Without it, the file ``$SPANLITE_PRICES`` names, if any. A bad file or row
    raises ``ValueError`` and the set-up in force stays; a bad ``$SPANLITE_PRICES`` gets one warning, and the
    bundled prices.

    >>> import spanlite
    >>> spanlite.configure(db="app-traces.db", sample_rate=0.5)  # doctest: +SKIP
    >>> spanlite.configure(otlp_endpoint="http://localhost:4318")  # doctest: +SKIP
    >>> spanlite.configure(db=False, otlp_endpoint="http://collector:4318")  # doctest: +SKIP
    """
    if not 0.0 <= sample_rate <= 1.0:
        raise ValueError(f"sample_rate must be between 0 and 1, not {sample_rate}")
    conventions = _otlp_export.conventions(otlp_conventions)
    table = _price_table(prices)  # raises here, before anything is opened
    endpoint = _traces_endpoint(otlp_endpoint)
    if db is False and endpoint is None:
        raise ValueError("configure(db=False) needs otlp_endpoint= (or OTEL_EXPORTER_OTLP_ENDPOINT) to send spans to")
    settings = Settings(
        db=None if db is False else Path(db).expanduser() if db is not None else default_db_path(),
        otlp_endpoint=endpoint,
        otlp_conventions=conventions,
        sample_rate=sample_rate,
        redact=redact,
        capture_content=capture_content,
        use_global_provider=use_global_provider,
        prices=table,
    )
    redactor = redaction.chain(redaction.secrets, redact)  # credentials never leave the process
    otlp = None
    if settings.otlp_endpoint is not None:  # first: it may raise, and nothing is opened yet
        otlp = _otlp_export.otlp_exporter(
            settings.otlp_endpoint, redactor, conventions, required=otlp_endpoint is not None or db is False
        )
        if otlp is None:
            settings = dataclasses.replace(settings, otlp_endpoint=None)
    exporters: list[tuple[SpanExporter, str]] = []
    if settings.db is not None:  # raises here for a bad or newer store
        exporters.append((SQLiteSpanExporter(settings.db, redact=redactor, prices=table), f"the store {settings.db}"))
    if otlp is not None:
        exporters.append((otlp, otlp.destination))
    with _lock:
        processors = [QueueProcessor(exporter, destination=destination) for exporter, destination in exporters]
        provider = _provider_for(settings)
        for processor in processors:
            provider.add_span_processor(processor)
        _switch_to(_Pipeline(settings, provider, processors))
    _signals.install()  # if spanlite was imported outside the main thread, and this call is in it
    return settings


def _switch_to(pipeline: _Pipeline) -> None:
    """Install ``pipeline``, then retire the one it replaces, so that no thread ever finds none installed (and sets
    up the default store) and a span started under the old one that ends later goes to the new one."""
    global _pipeline
    with _lock:
        old, _pipeline = _pipeline, pipeline
        _provider.install(pipeline.provider, capture_content=pipeline.settings.capture_content)
        if old is None:
            return
        # Each processor of a provider sees every span: one of them passing late spans on is enough. Where the
        # provider is the same (the global one), the new processors see them anyway.
        heirs = pipeline.processors if old.provider is not pipeline.provider else []
        for i, processor in enumerate(old.processors):
            processor.hand_on(heirs if i == 0 else [])
        if old.store is not None:
            old.store.close()


def configure_default() -> None:
    """The set-up used when spans start before any ``configure()``: never an exception into the app.

    If the default store cannot be opened (unwritable, corrupt, from a newer spanlite), spans are counted as
    dropped and one warning says why, until the app calls ``configure()`` itself.
    """
    with _lock:
        if _pipeline is not None:  # the app configured while this thread waited for the lock
            return
        try:
            configure()
        except Exception as exc:
            if strict():
                raise
            logger.warning("spanlite cannot use its default store (%s); spans are dropped until configure()", exc)
            settings = Settings(db=None)
            # counts every span as dropped
            processor = QueueProcessor(_Nowhere(), max_queue=0, destination="the default store, which cannot be used")
            provider = _new_provider(settings)
            provider.add_span_processor(processor)
            _switch_to(_Pipeline(settings, provider, [processor]))


_provider.set_default(configure_default)  # the first span made before any configure() calls it


class _Nowhere(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.FAILURE


def settings() -> Settings:
    """The settings in force, configuring the defaults on first use."""
    if _pipeline is None:
        _provider.tracer()
    assert _pipeline is not None
    return _pipeline.settings


def flush(timeout_s: float = 30.0) -> bool:
    """Write every span ended so far to the store; ``False`` if that did not finish within ``timeout_s``."""
    pipeline = _pipeline
    if pipeline is None:
        return True
    return all(p.force_flush(int(timeout_s * 1000)) for p in pipeline.processors)


def default_store() -> TraceStore:
    """The store that ``configure`` points at, opened once for reading."""
    settings()
    with _lock:
        assert _pipeline is not None
        if _pipeline.settings.db is None:
            raise StoreError(
                "spanlite has no local store: configured with db=False, or its default store could not be opened"
            )
        if _pipeline.store is None:
            from spanlite.store import TraceStore  # the query side: loaded on the first read

            _pipeline.store = TraceStore(_pipeline.settings.db)
        return _pipeline.store


def _price_table(prices: str | Path | Mapping[str, Any] | None) -> _prices.PriceTable | None:
    """The bundled prices with the app's rows (``None``: none added), or with ``$SPANLITE_PRICES``'s file."""
    if prices is not None:
        return _prices.load(prices)
    if not (path := os.environ.get(PRICES_VARIABLE, "").strip()):
        return None
    try:
        return _prices.load(path)
    except _prices.PriceError as exc:
        if strict():
            raise
        logger.warning("spanlite ignores $%s: %s; using the bundled prices", PRICES_VARIABLE, exc)
        return None


def _traces_endpoint(otlp_endpoint: str | None) -> str | None:
    """The full traces URL, from the argument or the standard OTel variables (the same rules as the SDK's)."""
    if otlp_endpoint is None and (url := os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()):
        return url
    base = otlp_endpoint if otlp_endpoint is not None else os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    if not base:
        return None
    base = base.rstrip("/")
    return base if base.endswith(_TRACES_PATH) else base + _TRACES_PATH


def _provider_for(settings: Settings) -> TracerProvider:
    if settings.use_global_provider:
        current = otel_trace.get_tracer_provider()
        if isinstance(current, TracerProvider):
            return current
        provider = _new_provider(settings)
        otel_trace.set_tracer_provider(provider)
        return provider
    return _new_provider(settings)


def _new_provider(settings: Settings) -> TracerProvider:
    # Not shut down by its own ``atexit`` hook, registered as it is made (at the first span, perhaps): that would
    # run before ``atexit`` handlers the app registered earlier, and drop the spans they make. spanlite's processors
    # close at exit on their own, after every handler registered since spanlite was imported.
    return TracerProvider(
        sampler=TraceSampler(settings.sample_rate), resource=Resource.create(), shutdown_on_exit=False
    )


def _shutdown() -> None:
    global _pipeline
    if _pipeline is None:
        return
    for processor in _pipeline.processors:
        processor.shutdown()
    if _pipeline.store is not None:
        _pipeline.store.close()
    _provider.uninstall()
    _pipeline = None
