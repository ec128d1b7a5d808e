"""One scorer on one example, as ``evaluate`` and online scoring both do it: called so that it never raises, an LLM
judge traced in an ``EVALUATOR`` span rooting a trace of its own, and the score written as feedback on the example's
trace."""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context

from spanlite.tracing import SpanKind, start_span, update_current_trace
from spanlite.tracing._sampler import kept_trace

from .scorer import Score, Scorer, as_score

if TYPE_CHECKING:
    from spanlite.store import Trace, TraceStore

RUN_ID_KEY = "eval.run_id"  # trace metadata: the run an example's (or a judge's) trace belongs to
EXAMPLE_KEY = "eval.example_index"
SCORED_TRACE_KEY = "eval.trace_id"  # a judge's trace: the trace it scored
SCORER_KEY = "eval.scorer"  # a judge's trace: the judge


def call_scorer(
    scorer: Scorer,
    fields: Mapping[str, Any],
    trace: Trace | None,
    *,
    trace_id: str | None,
    run_id: str | None = None,
) -> Score:
    """``scorer`` on an example's ``fields`` (inputs, outputs, expectations), never raising: what goes wrong is the
    score's error. ``trace_id`` is the example's trace, named on a judge's own."""
    try:
        if scorer.source != "llm_judge":
            return scorer(**fields, trace=trace)
        with new_trace(), start_span(scorer.name, kind=SpanKind.EVALUATOR, inputs=dict(fields)) as span:
            metadata = {SCORED_TRACE_KEY: trace_id, SCORER_KEY: scorer.name}
            update_current_trace(metadata={**metadata, RUN_ID_KEY: run_id} if run_id else metadata)
            score = scorer(**fields, trace=trace)
            span.set_outputs(dataclasses.asdict(score))
        return score
    except Exception as exc:
        return Score(error=one_line(exc))


def write_feedback(store: TraceStore, trace_id: str | None, scorer: Scorer, score: Score) -> str | None:
    """Write ``score`` as feedback on the trace; the error that kept it from being a score, if any."""
    if score.error is not None:
        return score.error
    if score.value is None:
        return f"scorer {scorer.name!r} gave no value"
    try:
        value = as_score(score.value, scorer.name).value  # a Score made by hand, checked as returned values are
        if trace_id is not None and value is not None:
            store.log_feedback(
                trace_id, scorer.name, value, source=scorer.source, author=scorer.name, comment=score.rationale
            )
    except (TypeError, ValueError) as exc:
        return f"its score cannot be stored as feedback: {exc}"
    return None


@contextlib.contextmanager
def new_trace() -> Iterator[None]:
    """Spans started inside begin a new trace, whatever span the caller is in, kept whatever the sample rate: an
    evaluation reads its traces back and writes feedback on them."""
    token = otel_context.attach(kept_trace())
    try:
        yield
    finally:
        otel_context.detach(token)


def submit(pool: ThreadPoolExecutor, fn: Callable[..., Any], *args: Any) -> Future[Any]:
    """Run ``fn`` on a worker in a copy of this thread's context (one copy each: a context runs in one thread)."""
    return pool.submit(contextvars.copy_context().run, fn, *args)


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
