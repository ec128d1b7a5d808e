"""spanlite: tracing for LLM apps and agents, into one SQLite file.

>>> import spanlite
>>> @spanlite.trace
... def answer(question: str) -> str:
...     return "42"
>>> answer("meaning of life?")
'42'
>>> spanlite.flush()
True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from spanlite._config import configure, default_store, flush
from spanlite.autolog import autolog
from spanlite.tracing import SpanKind, current_span, start_span, trace, update_current_trace

if TYPE_CHECKING:  # the query side loads on first read: an app that only writes spans never imports it
    from collections.abc import Callable, Iterable, Mapping

    from spanlite import datasets, scorers
    from spanlite.evaluation.compare import HasRunId, RunComparison
    from spanlite.evaluation.results import EvaluationResult
    from spanlite.evaluation.scorer import Score, Scorer, scorer
    from spanlite.store import Page, Run, Trace, TraceFilter
    from spanlite.store.expectations import Expectation
    from spanlite.store.feedback import Feedback, FeedbackValue

__all__ = [
    "Score",
    "SpanKind",
    "autolog",
    "compare_runs",
    "configure",
    "current_span",
    "datasets",
    "delete_feedback",
    "evaluate",
    "flush",
    "get_feedback",
    "get_trace",
    "log_expectation",
    "log_feedback",
    "scorer",
    "scorers",
    "search_traces",
    "start_span",
    "trace",
    "update_current_trace",
]


def get_trace(trace_id: str) -> Trace | None:
    """The trace with all its spans from the configured store (spans ended so far are flushed first)."""
    flush()
    return default_store().get_trace(trace_id)


def search_traces(trace_filter: TraceFilter | None = None, /, **filters: Any) -> Page:
    """Search the configured store; takes what ``spanlite.store.TraceStore.search_traces`` takes.

    >>> spanlite.search_traces(status="ERROR", limit=10)  # doctest: +SKIP
    """
    flush()
    return default_store().search_traces(trace_filter, **filters)


def log_feedback(
    trace_id: str,
    name: str,
    value: FeedbackValue,
    *,
    span_id: str | None = None,
    source: str = "human",
    author: str | None = None,
    comment: str | None = None,
) -> Feedback:
    """Record whether an answer was good: ``value`` is a bool, a number or a string.

    ``source`` is ``"human"``, ``"code"`` or ``"llm_judge"``. The same author rating the same name again updates
    the rating and keeps the earlier ones in ``history``; the same value again, with no comment or the same one,
    changes nothing. The trace need not be stored yet.

    >>> spanlite.log_feedback(trace_id, "thumbs", False, author="ada", comment="wrong order number")  # doctest: +SKIP
    """
    return default_store().log_feedback(
        trace_id, name, value, span_id=span_id, source=source, author=author, comment=comment
    )


def get_feedback(trace_id: str, *, span_id: str | None = None, name: str | None = None) -> list[Feedback]:
    """Feedback on a trace, optionally only on one span or of one name, oldest first."""
    return default_store().get_feedback(trace_id, span_id=span_id, name=name)


def delete_feedback(feedback_id: int) -> bool:
    """Delete one feedback row by its ``id``; ``False`` if there was none."""
    return default_store().delete_feedback(feedback_id)


def log_expectation(
    trace_id: str,
    name: str,
    value: Any,
    *,
    span_id: str | None = None,
    source: str = "human",
    author: str | None = None,
) -> Expectation:
    """Record the ground truth for a trace (or one of its spans): what its answer should have been. ``value`` is any
    JSON value; MLflow's names where they fit (``expected_response``, ``expected_facts``).

    Expectations are kept apart from feedback (no feedback count or filter sees them); logging a name again
    replaces its value. ``source`` is ``"human"``, ``"code"``, ``"llm_judge"`` or ``"dataset"``.

    >>> spanlite.log_expectation(trace_id, "expected_response", "Paris")  # doctest: +SKIP
    """
    return default_store().log_expectation(trace_id, name, value, span_id=span_id, source=source, author=author)


def evaluate(
    data: Any,
    predict_fn: Callable[..., Any] | None = None,
    scorers: Iterable[Scorer | Callable[..., Any]] = (),
    name: str | None = None,
    tags: Mapping[str, Any] | None = None,
    *,
    max_workers: int = 8,
) -> EvaluationResult:
    """Run ``predict_fn(**inputs)`` over ``data`` (a list of ``{"inputs", "expectations"}`` dicts, a DataFrame, a
    dataset or its name, or traces to score as they are), score each answer, and store it all as a run.

    Each example gets a trace; each score is feedback on it (``source`` "code" or "llm_judge", ``author`` the
    scorer) and part of the run. An example the app or a scorer fails on is that example's error, not the run's.
    ``spanlite.evaluation.evaluate`` says more.

    >>> result = spanlite.evaluate(qa, predict_fn=app, scorers=[concise], name="prompt-v2")  # doctest: +SKIP
    >>> result.metrics, result.to_dataframe()  # doctest: +SKIP
    """
    from spanlite.evaluation.evaluate import evaluate as evaluate_in

    flush()  # traces given as data are read back in full
    return evaluate_in(data, predict_fn, scorers, name, tags, store=default_store(), max_workers=max_workers)


def compare_runs(run_a: str | Run | HasRunId, run_b: str | Run | HasRunId) -> RunComparison:
    """Run b against run a (ids, runs or ``evaluate`` results): per-scorer means and deltas, and each example's
    score deltas, regressed examples first.

    >>> [e.inputs for e in spanlite.compare_runs(v1.run_id, v2.run_id).regressed]  # doctest: +SKIP
    """
    from spanlite.evaluation.compare import compare_runs as compare_in

    return compare_in(run_a, run_b, store=default_store())


_LAZY_NAMES = {"scorer": "spanlite.evaluation.scorer", "Score": "spanlite.evaluation.scorer"}


def __getattr__(name: str) -> Any:
    if name in ("datasets", "scorers"):  # loaded on first use, as the query side is
        return importlib.import_module(f"spanlite.{name}")
    if name in _LAZY_NAMES:
        return getattr(importlib.import_module(_LAZY_NAMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
