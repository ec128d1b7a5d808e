"""``evaluate``: run an app over examples, score each answer, and keep it all as a run in the trace store.

Each example gets a trace of its own: ``predict_fn(**inputs)`` called under a root span (so there is a trace even
if the app is not traced, and autologged model calls nest in it), or, without ``predict_fn``, a span holding the
example's inputs and given outputs; stored traces given as data are scored as they are. The trace carries the run's
id as metadata (``search_traces(metadata={"eval.run_id": run_id})``) and the example's expectations as expectation
rows. Every score is written twice: as feedback on the example's trace (so the viewer, filters and review queue see
it; a later run or a person may overwrite it) and in the run (so comparing runs still sees what each one said).

An app that raises is that example's error, a scorer that raises or returns what no store can keep is that
(example, scorer)'s error: the run goes on. Only what stops the whole run (bad data, the store failing) fails it,
and then the run is marked failed with the reason, never left running. Calls run on ``max_workers`` threads, each
in a copy of the caller's context. LLM judges are traced as ``EVALUATOR`` spans, each the root of a trace of its
own (so a judge's own model call, autologged, nests under it and not in the app's trace).

The traces go where spanlite's tracing sends them: ``store`` must be that store (``spanlite.evaluate`` passes it).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import TYPE_CHECKING, Any

from spanlite.tracing import start_span, update_current_trace
from spanlite.tracing._provider import flush

from . import _examples
from ._examples import Example
from ._progress import Progress
from ._scoring import EXAMPLE_KEY, RUN_ID_KEY, call_scorer, new_trace, one_line, submit, write_feedback
from .results import EvaluationResult, metrics_of
from .scorer import FunctionScorer, Score, Scorer, scorer

if TYPE_CHECKING:
    from spanlite.store import TraceStore

MAX_WORKERS = 8
EXPECTATION_SOURCE = "dataset"


def evaluate(
    data: Any,
    predict_fn: Callable[..., Any] | None = None,
    scorers: Iterable[Scorer | Callable[..., Any]] = (),
    name: str | None = None,
    tags: Mapping[str, Any] | None = None,
    *,
    store: TraceStore,
    max_workers: int = MAX_WORKERS,
) -> EvaluationResult:
    """Evaluate ``data`` (records, a DataFrame, a dataset or its name, or traces) with ``scorers``, calling
    ``predict_fn(**inputs)`` for each example if given; see the module's docstring.

    >>> result = evaluate(records, predict_fn=app, scorers=[exact_match], name="v2", store=store)  # doctest: +SKIP
    >>> result.metrics  # doctest: +SKIP
    {'exact_match/mean': 0.75}
    """
    chosen = _scorers(scorers)
    if predict_fn is not None and not callable(predict_fn):
        raise TypeError(f"predict_fn must be callable, not {type(predict_fn).__name__}")
    if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
        raise ValueError(f"max_workers must be a whole number of at least 1, not {max_workers!r}")
    source = _examples.source_of(data, store)
    if source.traces and predict_fn is not None:
        raise ValueError("stored traces are scored as they are: pass no predict_fn with traces as data")
    names = [s.name for s in chosen]
    run_id = store.start_run(name, tags=tags, dataset=source.dataset, dataset_version=source.version, scorers=names)
    try:
        examples = _examples.load(source, store)
        if predict_fn is not None and examples:
            _check_takes(predict_fn, examples[0])
        _Run(run_id, store, chosen, predict_fn, max_workers).go(examples)
        results = store.run_results(run_id)
        metrics = metrics_of(results, names)
    except BaseException as exc:  # an interrupt too: a run is never left "running"
        with contextlib.suppress(Exception):
            store.finish_run(run_id, status="failed", error=one_line(exc))
        raise
    store.finish_run(run_id, metrics)
    return EvaluationResult(run_id, metrics, results, names)


@dataclasses.dataclass
class _Run:
    """One run's work: predictions first (all traced), then, once their spans are stored, every scorer call.

    Only this thread writes to the store; the workers run the app and the scorers."""

    run_id: str
    store: TraceStore
    scorers: list[Scorer]
    predict_fn: Callable[..., Any] | None
    max_workers: int

    def go(self, examples: list[Example]) -> None:
        fresh = [e for e in examples if e.trace_id is None]  # stored traces need no new one
        progress = Progress("evaluating", len(fresh) + len(examples) * len(self.scorers))
        with ThreadPoolExecutor(self.max_workers, thread_name_prefix="spanlite-eval") as pool:
            try:
                for example in examples:
                    if example.trace_id is not None:
                        self._store_result(example)
                predictions = {submit(pool, self._predict, e): e for e in fresh}
                for future in as_completed(predictions):
                    future.result()
                    self._store_result(predictions[future])
                    progress.advance()
                flush()  # the examples' spans stored, for scorers that read the trace
                calls = {
                    submit(pool, self._score, e, s, self._trace_for(e, s)): (e, s)
                    for e in examples
                    if e.error is None
                    for s in self.scorers
                }
                progress.advance(sum(e.error is not None for e in examples) * len(self.scorers))
                for future in as_completed(calls):
                    example, scorer_ = calls[future]
                    self._store_score(example, scorer_, future.result())
                    progress.advance()
            except BaseException:
                pool.shutdown(cancel_futures=True)  # an interrupt (or the store failing) waits for no queued call
                raise
            finally:
                progress.close()

    def _predict(self, example: Example) -> None:
        """Run the app on one example in a trace of its own; its exception is the example's error."""
        predict_fn = self.predict_fn
        name = getattr(predict_fn, "__name__", None) or ("predict" if predict_fn else "example")
        metadata = {RUN_ID_KEY: self.run_id, EXAMPLE_KEY: example.index}
        try:
            with new_trace(), start_span(name, inputs=example.inputs) as span:
                update_current_trace(metadata=metadata)
                if predict_fn is not None:
                    example.outputs = _call(predict_fn, example.inputs)
                span.set_outputs(example.outputs)
        except Exception as exc:
            example.error = one_line(exc)
        context = span.otel_span.get_span_context()
        if context.is_valid and context.trace_flags.sampled:  # else no trace is stored: sampled out, or no tracing
            example.trace_id = span.trace_id

    def _store_result(self, example: Example) -> None:
        row = {
            "example_index": example.index,
            "trace_id": example.trace_id,
            "record_id": example.record_id,
            "inputs": example.inputs,
            "outputs": example.outputs,
            "expectations": example.expectations,
            "error": example.error,
        }
        try:
            self.store.add_results(self.run_id, [row])
        except ValueError as exc:  # outputs no JSON can hold: the example's error, not the run's
            example.error = f"its outputs cannot be stored: {exc}"
            self.store.add_results(self.run_id, [{**row, "outputs": None, "error": example.error}])
        if example.trace is None and example.trace_id is not None:  # a trace made here: its ground truth goes on it
            for key, value in example.expectations.items():
                self.store.log_expectation(example.trace_id, key, value, source=EXPECTATION_SOURCE)

    def _trace_for(self, example: Example, scorer_: Scorer) -> Any:
        """The stored trace, for a scorer that may read it (a code scorer says so by its parameters); read once."""
        if isinstance(scorer_, FunctionScorer) and "trace" not in scorer_._wants:
            return None
        if example.trace is None and example.trace_id is not None:
            example.trace = self.store.get_trace(example.trace_id)
        return example.trace

    def _score(self, example: Example, scorer_: Scorer, trace: Any) -> Score:
        fields = {"inputs": example.inputs, "outputs": example.outputs, "expectations": example.expectations}
        return call_scorer(scorer_, fields, trace, trace_id=example.trace_id, run_id=self.run_id)

    def _store_score(self, example: Example, scorer_: Scorer, score: Score) -> None:
        error = write_feedback(self.store, example.trace_id, scorer_, score)
        row = {
            "example_index": example.index,
            "scorer": scorer_.name,
            "value": score.value if error is None else None,
            "rationale": score.rationale,
            "error": error,
            "raw": score.raw,
        }
        self.store.add_scores(self.run_id, [row])


def _scorers(given: Iterable[Scorer | Callable[..., Any]]) -> list[Scorer]:
    """The scorers, plain functions made code scorers; ``ValueError`` for two of one name."""
    if isinstance(given, Scorer) or callable(given):
        given = [given]
    chosen = []
    for item in given:
        if isinstance(item, Scorer):
            chosen.append(item)
        elif callable(item):
            chosen.append(scorer(item))
        else:
            raise TypeError(f"a scorer is a Scorer or a function (see @spanlite.scorer), not {type(item).__name__}")
    names = [s.name for s in chosen]
    if twice := sorted({n for n in names if names.count(n) > 1}):
        raise ValueError(f"two scorers are named {twice[0]!r}; give one another name (@scorer(name=...))")
    return chosen


def _check_takes(predict_fn: Callable[..., Any], example: Example) -> None:
    """``ValueError`` if ``predict_fn`` cannot take the example's inputs as keywords: one clear line for the run,
    rather than the same error on every example."""
    try:
        signature = inspect.signature(predict_fn)
    except (TypeError, ValueError):  # a callable Python cannot read the signature of: its calls will tell
        return
    try:
        signature.bind(**example.inputs)
    except TypeError as exc:
        name = getattr(predict_fn, "__name__", "predict_fn")
        keys = ", ".join(example.inputs) or "none"
        raise ValueError(f"predict_fn {name} cannot take example {example.index}'s inputs ({keys}): {exc}") from None


def _call(predict_fn: Callable[..., Any], inputs: dict[str, Any]) -> Any:
    if inspect.iscoroutinefunction(predict_fn):
        return asyncio.run(predict_fn(**inputs))  # a worker thread has no event loop of its own
    return predict_fn(**inputs)
