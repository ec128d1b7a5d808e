"""Comparing two evaluation runs: per scorer, how the mean moved; per example, which scores went up or down.

Examples are matched by the dataset record they came from, else by their inputs (as canonical JSON, so key order
does not matter; the same inputs twice are matched in order). Scores become numbers as the run's metrics count them
(``spanlite.evaluation._aggregate``). An example *regressed* when a score fell, a score it had became an error, or
the app now failed on it; *improved* the other way round; *mixed* when both happened.

>>> diff = compare_runs(run_v1, run_v2, store=store)  # doctest: +SKIP
>>> [(s.name, s.delta) for s in diff.scorers]  # doctest: +SKIP
>>> [e.inputs for e in diff.regressed]  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal, Protocol

import orjson

from ._aggregate import as_number, mean

if TYPE_CHECKING:
    import pandas

    from spanlite.store import Run, RunResult, RunScore, TraceStore

Change = Literal["regressed", "improved", "mixed", "same", "only_a", "only_b"]
ORDER: dict[str, int] = {"regressed": 0, "mixed": 1, "improved": 2, "same": 3, "only_a": 4, "only_b": 5}


class HasRunId(Protocol):
    """An ``EvaluationResult`` (or anything else naming its run)."""

    @property
    def run_id(self) -> str: ...


@dataclasses.dataclass(frozen=True)
class ScorerDelta:
    """A scorer's mean in each run (``None``: no numeric score there) and ``delta = mean_b - mean_a``."""

    name: str
    mean_a: float | None
    mean_b: float | None
    delta: float | None


@dataclasses.dataclass(frozen=True)
class ExampleDelta:
    """One example in both runs (or in one: ``change`` is ``only_a`` / ``only_b``). ``key`` is how it was matched:
    ``"record:<id>"`` or its inputs as canonical JSON. ``deltas`` per scorer: b's number minus a's, ``None`` when
    either has none. ``error_a`` / ``error_b``: the app's error on it in that run."""

    key: str
    inputs: Any
    expectations: Any
    outputs_a: Any
    outputs_b: Any
    trace_a: str | None
    trace_b: str | None
    scores_a: dict[str, RunScore | None]
    scores_b: dict[str, RunScore | None]
    deltas: dict[str, float | None]
    change: Change
    error_a: str | None = None
    error_b: str | None = None


@dataclasses.dataclass(frozen=True)
class RunComparison:
    """Run b against run a: ``scorers`` (means and deltas) and ``examples``, regressed first."""

    run_a: Run
    run_b: Run
    scorers: list[ScorerDelta]
    examples: list[ExampleDelta]

    @property
    def regressed(self) -> list[ExampleDelta]:
        return [e for e in self.examples if e.change == "regressed"]

    @property
    def improved(self) -> list[ExampleDelta]:
        return [e for e in self.examples if e.change == "improved"]

    def to_dataframe(self) -> pandas.DataFrame:
        """One row per example: key, change, inputs, expectations, outputs and trace of each run, then for each
        scorer ``<scorer>/a``, ``<scorer>/b`` (the values) and ``<scorer>/delta``."""
        try:
            import pandas
        except ImportError:
            raise ImportError("to_dataframe needs pandas: pip install pandas (or 'spanlite[viewer]')") from None
        columns = ["key", "change", "inputs", "expectations", "outputs_a", "outputs_b", "trace_a", "trace_b"]
        names = [s.name for s in self.scorers]
        columns += [f"{name}/{part}" for name in names for part in ("a", "b", "delta")]
        rows = []
        for e in self.examples:
            row = {c: getattr(e, c) for c in columns[:8]}
            for name in names:
                row[f"{name}/a"] = _value(e.scores_a.get(name))
                row[f"{name}/b"] = _value(e.scores_b.get(name))
                row[f"{name}/delta"] = e.deltas.get(name)
            rows.append(row)
        return pandas.DataFrame.from_records(rows, columns=columns)


def compare_runs(run_a: str | Run | HasRunId, run_b: str | Run | HasRunId, *, store: TraceStore) -> RunComparison:
    """Compare run b with run a (ids, ``Run``s or ``EvaluationResult``s); ``ValueError`` for a run not stored."""
    first, second = (_run(store, r) for r in (run_a, run_b))
    results_a, results_b = store.run_results(first.run_id), store.run_results(second.run_id)
    names = _scorer_names([first.scorers, second.scorers], results_a + results_b)
    both = set(first.scorers) & set(second.scorers)
    scorers = []
    for name in names:
        mean_a = mean(_values(results_a, name)) if name in first.scorers else None
        mean_b = mean(_values(results_b, name)) if name in second.scorers else None
        delta = mean_b - mean_a if mean_a is not None and mean_b is not None else None
        scorers.append(ScorerDelta(name, mean_a, mean_b, delta))
    ranked = []
    for position, (key, a, b) in enumerate(_matched(results_a, results_b)):
        example = _example(key, a, b, names, both)
        total = sum(d for d in example.deltas.values() if d is not None)
        ranked.append(((ORDER[example.change], -abs(total), position), example))
    ranked.sort(key=lambda pair: pair[0])
    return RunComparison(first, second, scorers, [example for _, example in ranked])


def _run(store: TraceStore, run: str | Run | HasRunId) -> Run:
    run_id = run if isinstance(run, str) else run.run_id
    if (found := store.get_run(run_id)) is None:
        raise ValueError(f"no evaluation run {run_id!r} in {store.path}")
    return found


def _scorer_names(listed: Iterable[list[str]], results: list[RunResult]) -> list[str]:
    """The runs' scorers in the order they were given, then any other scorer that has scores stored."""
    names = dict.fromkeys(name for scorers in listed for name in scorers)
    names.update(dict.fromkeys(name for r in results for name in r.scores))
    return list(names)


def _values(results: list[RunResult], name: str) -> list[Any]:
    return [r.scores[name].value for r in results if name in r.scores]


def _matched(
    results_a: list[RunResult], results_b: list[RunResult]
) -> list[tuple[str, RunResult | None, RunResult | None]]:
    """Pairs by record id first; what is left, by inputs in order; then each run's unmatched, in run order."""
    by_record = {r.record_id: r for r in results_b if r.record_id is not None}
    pairs: list[tuple[str, RunResult | None, RunResult | None]] = []
    left_a: list[RunResult] = []
    for a in results_a:
        if a.record_id is not None and (b := by_record.pop(a.record_id, None)) is not None:
            pairs.append((f"record:{a.record_id}", a, b))
        else:
            left_a.append(a)
    paired = {id(b) for _, _, b in pairs}
    by_inputs: dict[str, list[RunResult]] = {}
    for b in results_b:
        if id(b) not in paired:
            by_inputs.setdefault(_canonical(b.inputs), []).append(b)
    only_a = []
    for a in left_a:
        key = _canonical(a.inputs)
        if waiting := by_inputs.get(key):
            pairs.append((key, a, waiting.pop(0)))
        else:
            only_a.append((_key(a), a, None))
    only_b = [(_key(b), None, b) for waiting in by_inputs.values() for b in waiting]
    return pairs + only_a + only_b


def _example(key: str, a: RunResult | None, b: RunResult | None, names: list[str], both: set[str]) -> ExampleDelta:
    scores_a = {name: a.scores.get(name) for name in names} if a else {}
    scores_b = {name: b.scores.get(name) for name in names} if b else {}
    deltas: dict[str, float | None] = {}
    moves: set[int] = set()
    for name in names:
        before, after = _number(scores_a.get(name)), _number(scores_b.get(name))
        delta = deltas[name] = after - before if before is not None and after is not None else None
        if delta:
            moves.add(1 if delta > 0 else -1)
        elif name in both and a and b:  # a score lost to an error is a regression; one an error gave way to, a gain
            if before is not None and _failed(scores_b.get(name)):
                moves.add(-1)
            elif after is not None and _failed(scores_a.get(name)):
                moves.add(1)
    if a and b and bool(a.error) != bool(b.error):
        moves.add(-1 if b.error else 1)
    change: Change
    if a is None or b is None:
        change = "only_b" if a is None else "only_a"
    else:
        change = "mixed" if moves == {-1, 1} else "regressed" if -1 in moves else "improved" if moves else "same"
    shown = a or b
    assert shown is not None
    return ExampleDelta(
        key=key,
        inputs=shown.inputs,
        expectations=shown.expectations,
        outputs_a=a.outputs if a else None,
        outputs_b=b.outputs if b else None,
        trace_a=a.trace_id if a else None,
        trace_b=b.trace_id if b else None,
        scores_a=scores_a,
        scores_b=scores_b,
        deltas=deltas,
        change=change,
        error_a=a.error if a else None,
        error_b=b.error if b else None,
    )


def _number(score: RunScore | None) -> float | None:
    return None if score is None or score.error else as_number(score.value)


def _failed(score: RunScore | None) -> bool:
    return score is not None and score.error is not None


def _value(score: RunScore | None) -> Any:
    return None if score is None else score.value


def _canonical(inputs: Any) -> str:
    return orjson.dumps(inputs, option=orjson.OPT_SORT_KEYS).decode()


def _key(result: RunResult) -> str:
    return f"record:{result.record_id}" if result.record_id is not None else _canonical(result.inputs)
