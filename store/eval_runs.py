"""Evaluation runs: what was evaluated (a dataset version, scorers), each example's result and scores, and the
aggregate metrics.

Scores are kept here as well as written as feedback on each example's trace: feedback is one row per (trace,
name, author), which a later run or a person rating the trace overwrites, and comparing two runs must still see
what each one scored. A run is ``running`` until ``finish_run`` marks it ``finished`` or ``failed``; results and
scores are added while it runs, a result before its scores. Deleting a trace leaves the runs that scored it alone.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from ._json_values import from_json, redacted, to_json

if TYPE_CHECKING:
    import sqlite3

    from .query import TraceStore

STATUSES = ("running", "finished", "failed")
RESULT_KEYS = ("example_index", "trace_id", "record_id", "inputs", "outputs", "expectations", "error")
SCORE_KEYS = ("example_index", "scorer", "value", "rationale", "error", "raw")
MAX_RUNS = 1_000
_TEXT_KEYS = {"trace_id", "scorer", "rationale", "error", "raw"}


@dataclasses.dataclass(frozen=True)
class Run:
    """One evaluation run; ``metrics`` such as ``{"correctness/mean": 0.8}`` once it is finished."""

    run_id: str
    name: str | None
    tags: dict[str, Any]
    dataset: str | None
    dataset_version: int | None
    scorers: list[str]
    created_ns: int
    finished_ns: int | None
    status: str
    metrics: dict[str, Any]
    error: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Run:
        parsed = {key: from_json(row[key]) or {} for key in ("tags", "metrics")}
        return cls(**{**row, **parsed, "scorers": from_json(row["scorers"])})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class RunScore:
    """What one scorer said about one example: a value and why, or the error that kept it from saying (with the
    judge's raw answer when that could not be read)."""

    scorer: str
    value: Any
    rationale: str | None
    error: str | None
    raw: str | None


@dataclasses.dataclass(frozen=True)
class RunResult:
    """One example of a run: what went in, what came out, what was expected, and each scorer's score."""

    run_id: str
    example_index: int
    trace_id: str | None
    record_id: int | None
    inputs: Any
    outputs: Any
    expectations: Any
    error: str | None
    scores: dict[str, RunScore]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def start_run(
    store: TraceStore,
    name: str | None = None,
    *,
    tags: Mapping[str, Any] | None = None,
    dataset: str | None = None,
    dataset_version: int | None = None,
    scorers: Sequence[str] = (),
) -> str:
    """Record a new running run and return its id; a dataset's version defaults to its latest."""
    if name is not None and not isinstance(name, str):
        raise ValueError(f"a run's name is text, not {name!r}")
    if tags is not None and not isinstance(tags, Mapping):
        raise ValueError(f"a run's tags are a dict, not {type(tags).__name__}")
    if isinstance(scorers, str) or not all(isinstance(s, str) and s for s in scorers):
        raise ValueError(f"a run's scorers are a list of names, not {scorers!r}")
    tags_text = to_json(dict(tags), "run tags") if tags else None
    run_id = uuid.uuid4().hex
    with store.transaction() as conn:
        if dataset is not None:
            dataset_version = _dataset_version(conn, dataset, dataset_version)
        elif dataset_version is not None:
            raise ValueError("a dataset_version needs its dataset")
        conn.execute(
            "INSERT INTO eval_runs (run_id, name, tags, dataset, dataset_version, scorers, created_ns, status) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 'running')",
            [run_id, name, tags_text, dataset, dataset_version, orjson.dumps(list(scorers)).decode(), time.time_ns()],
        )
    return run_id


def add_results(store: TraceStore, run_id: str, rows: Iterable[Mapping[str, Any]]) -> None:
    """Store examples' results (``example_index`` required; ``trace_id``, ``record_id``, ``inputs``, ``outputs``,
    ``expectations``, ``error``); a result given again for an example replaces it."""
    values = []
    for row in rows:
        checked = _checked(row, RESULT_KEYS, "result")
        index = checked["example_index"]
        if (record_id := checked.get("record_id")) is not None and not isinstance(record_id, int):
            raise ValueError(f"result {index}: record_id is a dataset record's id, not {record_id!r}")
        values.append(
            [run_id, index, checked.get("trace_id"), record_id]
            + [_optional_json(checked.get(k), f"result {index} {k}") for k in ("inputs", "outputs", "expectations")]
            + [redacted(checked.get("error"))]
        )
    with store.transaction() as conn:
        _running(conn, run_id)
        conn.executemany(
            "INSERT OR REPLACE INTO eval_results (run_id, example_index, trace_id, record_id, inputs, outputs, "
            "expectations, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            values,
        )


def add_scores(store: TraceStore, run_id: str, rows: Iterable[Mapping[str, Any]]) -> None:
    """Store scores (``example_index`` and ``scorer`` required; ``value``, ``rationale``, ``error``, ``raw``) of
    examples whose results are stored; a scorer scoring an example again replaces its score."""
    values = []
    for row in rows:
        checked = _checked(row, SCORE_KEYS, "score")
        if not isinstance(scorer := checked.get("scorer"), str) or not scorer:
            raise ValueError(f"score of example {checked['example_index']} needs a scorer name")
        value = _optional_json(checked.get("value"), f"score {scorer!r} of example {checked['example_index']}")
        values.append(
            [run_id, checked["example_index"], scorer, value, *(redacted(checked.get(k)) for k in SCORE_KEYS[3:])]
        )
    with store.transaction() as conn:
        _running(conn, run_id)
        stored = {i for (i,) in conn.execute("SELECT example_index FROM eval_results WHERE run_id = ?", [run_id])}
        if missing := sorted({v[1] for v in values} - stored):
            raise ValueError(f"run {run_id} has no result for example {missing[0]}; add its result first")
        conn.executemany(
            "INSERT OR REPLACE INTO eval_scores (run_id, example_index, scorer, value, rationale, error, raw) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            values,
        )


def finish_run(
    store: TraceStore,
    run_id: str,
    metrics: Mapping[str, Any] | None = None,
    status: str = "finished",
    error: str | None = None,
) -> None:
    """Mark a running run ``finished`` or ``failed``, with its aggregate metrics."""
    if status not in STATUSES[1:]:
        raise ValueError(f"a run finishes as {' or '.join(STATUSES[1:])}, not {status!r}")
    if metrics is not None and not isinstance(metrics, Mapping):
        raise ValueError(f"a run's metrics are a dict, not {type(metrics).__name__}")
    metrics_text = to_json(dict(metrics), "run metrics") if metrics else None
    with store.transaction() as conn:
        _running(conn, run_id)
        conn.execute(
            "UPDATE eval_runs SET status = ?, metrics = ?, error = ?, finished_ns = ? WHERE run_id = ?",
            [status, metrics_text, redacted(error), time.time_ns(), run_id],
        )


def get_run(store: TraceStore, run_id: str) -> Run | None:
    rows = store.rows("SELECT * FROM eval_runs WHERE run_id = ?", [run_id])
    return Run.from_row(rows[0]) if rows else None


def list_runs(store: TraceStore, *, dataset: str | None = None, limit: int = 50) -> list[Run]:
    """Runs newest first, optionally only those on one dataset."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_RUNS:
        raise ValueError(f"limit must be between 1 and {MAX_RUNS}, not {limit!r}")
    where, params = ("WHERE dataset = ?", [dataset]) if dataset is not None else ("", [])
    rows = store.rows(f"SELECT * FROM eval_runs {where} ORDER BY created_ns DESC, run_id LIMIT ?", [*params, limit])
    return [Run.from_row(r) for r in rows]


def run_results(store: TraceStore, run_id: str) -> list[RunResult]:
    """Every example of a run in order, each with its scores by scorer name."""
    if get_run(store, run_id) is None:
        raise ValueError(f"no evaluation run {run_id!r}")
    scores = store.rows("SELECT * FROM eval_scores WHERE run_id = ? ORDER BY example_index, scorer", [run_id])
    results = store.rows("SELECT * FROM eval_results WHERE run_id = ? ORDER BY example_index", [run_id])
    return with_scores(results, scores)


def with_scores(results: list[dict[str, Any]], scores: list[dict[str, Any]]) -> list[RunResult]:
    """``eval_results`` rows as ``RunResult``s, each with its ``eval_scores`` rows by scorer name."""
    by_example: dict[int, dict[str, RunScore]] = {}
    for s in scores:
        by_example.setdefault(s["example_index"], {})[s["scorer"]] = RunScore(
            s["scorer"], from_json(s["value"]), s["rationale"], s["error"], s["raw"]
        )
    return [
        RunResult(
            **{**r, **{k: from_json(r[k]) for k in ("inputs", "outputs", "expectations")}},
            scores=by_example.get(r["example_index"], {}),
        )
        for r in results
    ]


def _checked(row: Any, keys: tuple[str, ...], what: str) -> Mapping[str, Any]:
    if not isinstance(row, Mapping):
        raise ValueError(f"a {what} is a dict, not {type(row).__name__}")
    if unknown := sorted(set(map(str, row)) - set(keys)):
        raise ValueError(f"a {what} has no keys {unknown}; it has {', '.join(keys)}")
    index = row.get("example_index")
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ValueError(f"a {what} needs its example_index (0, 1, ...), not {index!r}")
    for key in _TEXT_KEYS.intersection(row):
        if row[key] is not None and not isinstance(row[key], str):
            raise ValueError(f"{what} {index}: {key} is text, not {row[key]!r}")
    return row


def _optional_json(value: Any, what: str) -> str | None:
    return None if value is None else to_json(value, what)


def _running(conn: sqlite3.Connection, run_id: str) -> None:
    row = conn.execute("SELECT status FROM eval_runs WHERE run_id = ?", [run_id]).fetchone()
    if row is None:
        raise ValueError(f"no evaluation run {run_id!r}")
    if row[0] != "running":
        raise ValueError(f"evaluation run {run_id} is {row[0]}; it takes no more results")


def _dataset_version(conn: sqlite3.Connection, dataset: str, version: int | None) -> int:
    row = conn.execute("SELECT version FROM datasets WHERE name = ?", [dataset]).fetchone()
    if row is None:
        raise ValueError(f"no dataset {dataset!r}")
    if version is None:
        return int(row[0])
    if isinstance(version, bool) or not isinstance(version, int) or not 0 <= version <= row[0]:
        raise ValueError(f"dataset {dataset!r} has versions 0 to {row[0]}, not {version!r}")
    return version
