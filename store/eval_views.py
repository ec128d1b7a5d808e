"""Paged reads of evaluation runs, their results and dataset records, for the viewer.

``eval_runs`` and ``eval_datasets`` read a run's or a dataset version's rows whole, which is right for comparing and
exporting; a page of the viewer shows one page of them, so these read one keyset page along an index: runs by
``(created_ns, run_id)``, a run's results by its primary key, a dataset's records by ``(added_in, id)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .eval_datasets import _RECORDS, DatasetRecord
from .eval_runs import Run, RunResult, with_scores

if TYPE_CHECKING:
    from .query import TraceStore

RunKey = tuple[int, str]  # (created_ns, run_id) of the last run on a page
RecordKey = tuple[int, int]  # (added_in, record_id) of the last record on a page


def runs_page(store: TraceStore, *, after: RunKey | None = None, limit: int = 50) -> list[Run]:
    """Runs newest first (as ``list_runs`` orders them), starting after the run ``after`` names."""
    where, params = "", []
    if after is not None:
        # created_ns <= ? first, so the page starts with a seek into the index rather than a walk from the newest
        where, params = "WHERE created_ns <= ? AND (created_ns < ? OR run_id > ?)", [after[0], after[0], after[1]]
    rows = store.rows(f"SELECT * FROM eval_runs {where} ORDER BY created_ns DESC, run_id LIMIT ?", [*params, limit])
    return [Run.from_row(r) for r in rows]


def run_key(run: Run) -> RunKey:
    return run.created_ns, run.run_id


def count_results(store: TraceStore, run_id: str) -> int:
    return int(store.rows("SELECT count(*) AS n FROM eval_results WHERE run_id = ?", [run_id])[0]["n"])


def results_page(store: TraceStore, run_id: str, *, after_index: int = -1, limit: int = 50) -> list[RunResult]:
    """A run's examples after ``after_index`` in order, each with its scores."""
    results = store.rows(
        "SELECT * FROM eval_results WHERE run_id = ? AND example_index > ? ORDER BY example_index LIMIT ?",
        [run_id, after_index, limit],
    )
    if not results:
        return []
    scores = store.rows(
        "SELECT * FROM eval_scores WHERE run_id = ? AND example_index BETWEEN ? AND ? ORDER BY example_index, scorer",
        [run_id, results[0]["example_index"], results[-1]["example_index"]],
    )
    return with_scores(results, scores)


def records_page(
    store: TraceStore, name: str, version: int, *, after: RecordKey = (0, 0), limit: int = 50
) -> list[DatasetRecord]:
    """The records of one version of a dataset after the record ``after`` names, in the order they were added.

    Records are appended version by version, so ``(added_in, id)`` is the order they were added in, and it walks
    the ``(dataset_id, added_in)`` index (which carries the id) instead of sorting all of a dataset's records."""
    rows = store.rows(
        f"{_RECORDS} WHERE d.name = ? AND r.added_in <= ? AND (r.removed_in IS NULL OR r.removed_in > ?) "
        "AND (r.added_in, r.id) > (?, ?) ORDER BY r.added_in, r.id LIMIT ?",
        [name, version, version, *after, limit],
    )
    return [DatasetRecord.from_row(r) for r in rows]


def record_key(record: DatasetRecord) -> RecordKey:
    return record.added_in, record.record_id


def dataset_names(store: TraceStore, *, limit: int = 1_000) -> list[str]:
    """Datasets' names alone, by name: what a picker needs, without counting every dataset's records."""
    return [r["name"] for r in store.rows("SELECT name FROM datasets ORDER BY name LIMIT ?", [limit])]


def count_records(store: TraceStore, name: str, version: int) -> int:
    rows = store.rows(
        "SELECT count(*) AS n FROM dataset_records r JOIN datasets d ON d.id = r.dataset_id "
        "WHERE d.name = ? AND r.added_in <= ? AND (r.removed_in IS NULL OR r.removed_in > ?)",
        [name, version, version],
    )
    return int(rows[0]["n"])
