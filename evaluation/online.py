"""Online scoring: scorers run on the app's own traces as they arrive, each (trace, scorer) at most once.

A pass takes the finished traces (root stored) matching a filter that some scorer has not claimed yet, claims each
(trace, scorer) in the store (``spanlite.store.score_claims``: of two processes, one wins), scores it as ``evaluate``
does (the root's inputs and outputs, the trace's expectations; a judge traced apart) and writes the score as
feedback. ``sample`` keeps that share of traces, chosen by trace id so every process chooses alike. Evaluation's
own traces are never scored. ``spanlite score`` runs this from the command line.

>>> score_traces(store, [concise], trace_filter=TraceFilter(tags=["prod"]), sample=0.1)  # doctest: +SKIP
Tally(scored=12, errors=0, sampled_out=98)
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import TYPE_CHECKING

from spanlite.store import score_claims
from spanlite.store.filters import TraceFilter
from spanlite.tracing._provider import flush

from . import _examples
from ._scoring import call_scorer, one_line, submit, write_feedback

if TYPE_CHECKING:
    from spanlite.store import TraceStore, TraceSummary

    from ._examples import Example
    from .scorer import Score, Scorer

BATCH = 100
MAX_WORKERS = 8


@dataclasses.dataclass
class Tally:
    """What passes did: scores written, scorer errors, (trace, scorer) pairs passed over by sampling."""

    scored: int = 0
    errors: int = 0
    sampled_out: int = 0

    def add(self, other: Tally) -> None:
        self.scored += other.scored
        self.errors += other.errors
        self.sampled_out += other.sampled_out


def score_traces(
    store: TraceStore,
    scorers: Sequence[Scorer],
    *,
    trace_filter: TraceFilter | None = None,
    sample: float = 1.0,
    worker: str | None = None,
    max_workers: int = MAX_WORKERS,
    batch: int = BATCH,
) -> Tally:
    """Score every trace now stored that matches and is unclaimed, ``batch`` traces at a time; see the module."""
    if not scorers:
        raise ValueError("online scoring needs at least one scorer")
    if isinstance(sample, bool) or not isinstance(sample, int | float) or not 0 < sample <= 1:
        raise ValueError(f"sample is the share of traces to score, more than 0 and at most 1, not {sample!r}")
    if len({s.name for s in scorers}) < len(scorers):
        raise ValueError("two scorers have one name; give one another (@scorer(name=...))")
    names = [s.name for s in scorers]
    tally = Tally()
    with ThreadPoolExecutor(max_workers, thread_name_prefix="spanlite-score") as pool:
        while found := score_claims.unclaimed(store, names, trace_filter or TraceFilter(), limit=batch):
            tally.add(_score_batch(store, scorers, found, sample, worker, pool))
    flush()  # the judges' own traces
    return tally


def watch(
    store: TraceStore,
    scorers: Sequence[Scorer],
    *,
    stop: threading.Event,
    interval_s: float = 2.0,
    on_pass: Callable[[Tally], None] | None = None,
    **options: object,
) -> Tally:
    """``score_traces`` again every ``interval_s`` until ``stop`` is set; ``on_pass`` hears of each pass."""
    total = Tally()
    while not stop.is_set():
        done = score_traces(store, scorers, **options)  # type: ignore[arg-type]
        total.add(done)
        if on_pass is not None:
            on_pass(done)
        stop.wait(interval_s)
    return total


def _score_batch(
    store: TraceStore,
    scorers: Sequence[Scorer],
    found: list[TraceSummary],
    sample: float,
    worker: str | None,
    pool: ThreadPoolExecutor,
) -> Tally:
    tally = Tally()
    claimed: list[tuple[Example, Scorer]] = []
    for summary in found:
        if not sampled(summary.trace_id, sample):
            for s in scorers:
                tally.sampled_out += score_claims.claim(
                    store, summary.trace_id, s.name, worker=worker, status="sampled_out"
                )
            continue
        mine = [s for s in scorers if score_claims.claim(store, summary.trace_id, s.name, worker=worker)]
        if not mine:
            continue
        try:
            example = _examples.load_trace(summary, store)
        except ValueError as exc:  # deleted since it was found
            for s in mine:
                score_claims.settle(store, summary.trace_id, s.name, "error", one_line(exc))
            tally.errors += len(mine)
            continue
        claimed += [(example, s) for s in mine]
    calls = {submit(pool, _call, example, scorer_): (example, scorer_) for example, scorer_ in claimed}
    for future in as_completed(calls):
        example, scorer_ = calls[future]
        error = write_feedback(store, example.trace_id, scorer_, future.result())
        score_claims.settle(store, example.trace_id or "", scorer_.name, "error" if error else "scored", error)
        if error:
            tally.errors += 1
        else:
            tally.scored += 1
    return tally


def _call(example: Example, scorer_: Scorer) -> Score:
    fields = {"inputs": example.inputs, "outputs": example.outputs, "expectations": example.expectations}
    return call_scorer(scorer_, fields, example.trace, trace_id=example.trace_id)


def sampled(trace_id: str, rate: float) -> bool:
    """Whether ``trace_id`` is among the ``rate`` share kept: a hash of the id, so every process agrees, and not
    its low bits, which the tracer's own sampling already chose by."""
    if rate >= 1:
        return True
    digest = hashlib.blake2b(trace_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest) < rate * 2**64
