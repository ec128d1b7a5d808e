"""Keyset pages of evaluation runs, a run's results and a dataset version's records: the pages put together are the
whole (as ``list_runs``, ``run_results`` and ``records`` read it), and each query seeks along an index."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from spanlite.store import TraceStore, eval_views


def pages(read: Callable[[Any, int], list[Any]], key: Callable[[Any], Any], start: Any, size: int) -> list[list[Any]]:
    """Every page, each read after the last item of the one before, until a short page."""
    found: list[list[Any]] = []
    after = start
    while True:
        page = read(after, size)
        found.append(page)
        if len(page) < size:
            return found
        after = key(page[-1])


def test_runs_pages_are_list_runs_in_order(store: TraceStore) -> None:
    ids = [store.start_run(f"run-{i}") for i in range(7)]
    with store.transaction() as conn:  # two runs created in the same nanosecond: the id breaks the tie
        conn.execute("UPDATE eval_runs SET created_ns = 5 WHERE run_id IN (?, ?)", ids[2:4])
    got = pages(lambda after, n: eval_views.runs_page(store, after=after, limit=n), eval_views.run_key, None, 2)
    assert [len(p) for p in got] == [2, 2, 2, 1]
    assert [r.run_id for p in got for r in p] == [r.run_id for r in store.list_runs()]


def test_results_pages_carry_their_own_scores(store: TraceStore) -> None:
    run_id = store.start_run("r", scorers=["s"])
    store.add_results(run_id, [{"example_index": i, "inputs": {"i": i}} for i in range(5)])
    store.add_scores(run_id, [{"example_index": i, "scorer": "s", "value": i / 4} for i in (0, 2, 3, 4)])
    got = pages(
        lambda after, n: eval_views.results_page(store, run_id, after_index=after, limit=n),
        lambda r: r.example_index,
        -1,
        2,
    )
    assert [p for p in got for p in p] == store.run_results(run_id)
    assert [sorted(r.scores) for r in got[0]] == [["s"], []]
    assert eval_views.count_results(store, run_id) == 5
    assert eval_views.results_page(store, "no-such-run") == []


def test_records_pages_of_each_version(store: TraceStore) -> None:
    store.create_dataset("qa")
    first = store.add_records("qa", [{"inputs": {"q": i}} for i in range(5)])  # version 1
    store.remove_records("qa", [first[1].record_id, first[3].record_id])  # version 2
    store.add_records("qa", [{"inputs": {"q": i}} for i in range(5, 9)])  # version 3
    for version in range(4):
        got = pages(
            lambda after, n, v=version: eval_views.records_page(store, "qa", v, after=after, limit=n),
            eval_views.record_key,
            (0, 0),
            2,
        )
        whole = store.records("qa", version)
        assert [r for p in got for r in p] == whole
        assert eval_views.count_records(store, "qa", version) == len(whole)
    assert eval_views.dataset_names(store) == ["qa"]


@pytest.mark.parametrize(
    ("read", "index"),
    [
        (
            lambda store: eval_views.runs_page(store, after=(1, "a"), limit=51),
            "SEARCH eval_runs USING INDEX idx_eval_runs_created_ns (created_ns<?)",
        ),
        (
            lambda store: eval_views.results_page(store, "r", after_index=3, limit=51),
            "SEARCH eval_results USING INDEX sqlite_autoindex_eval_results_1 (run_id=? AND example_index>?)",
        ),
        (
            lambda store: eval_views.records_page(store, "qa", 3, after=(1, 4), limit=51),
            "SEARCH r USING INDEX idx_dataset_records_dataset_added_in (dataset_id=?",
        ),
    ],
)
def test_each_page_seeks_along_an_index(store: TraceStore, read: Callable[[TraceStore], object], index: str) -> None:
    queries: list[str] = []
    store.conn.set_trace_callback(queries.append)  # the statements as run, their parameters filled in
    try:
        read(store)
    finally:
        store.conn.set_trace_callback(None)
    plan = [r["detail"] for r in store.rows(f"EXPLAIN QUERY PLAN {queries[0]}")]
    assert any(step.startswith(index) for step in plan), plan
    assert not any("TEMP B-TREE FOR ORDER BY" in step for step in plan), plan  # no sorting a whole table
