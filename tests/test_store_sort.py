"""The traces list sorted by the query (newest, oldest, slowest, most tokens, most cost), keyset-paged in each order."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from _helpers import cli, row
from spanlite.store import TraceStore, TraceSummary, filters, query
from spanlite.store._writer import write_spans

N = 3_000


@pytest.fixture
def store(db_path: Path) -> Iterator[TraceStore]:
    """``N`` one-span traces with values chosen to tie often (and to be unknown for tokens and cost)."""
    rng = random.Random(24)
    with TraceStore(db_path) as store:
        write_spans(store.conn, [row(f"{i:032x}", f"{i:016x}", None, 10**18 + rng.randrange(500)) for i in range(N)])
        with store.transaction() as conn:
            conn.executemany(
                "UPDATE traces SET duration_ms = ?, input_tokens = ?, output_tokens = ?, cost = ? WHERE trace_id = ?",
                [
                    (
                        rng.choice([0.02, 1.5, 137.0, 1280.0, rng.random() * 5000]),
                        rng.choice([None, 10, 20, 100, rng.randrange(10_000)]),
                        rng.choice([None, 5, rng.randrange(1000)]),
                        rng.choice([None, 0.0, 0.001, rng.random()]),
                        f"{i:032x}",
                    )
                    for i in range(N)
                ],
            )
    with TraceStore(db_path) as opened:
        yield opened


def sort_key(name: str, t: TraceSummary) -> tuple[float, str]:
    value = {
        "newest": t.start_ns,
        "oldest": t.start_ns,
        "slowest": t.duration_ms,
        "most-tokens": (t.input_tokens or 0) + (t.output_tokens or 0),
        "most-cost": -1 if t.cost is None else t.cost,
    }[name]
    return (value, t.trace_id)


@pytest.mark.parametrize("name", ["newest", "oldest", "slowest", "most-tokens", "most-cost"])
def test_paging_through_every_order_yields_every_trace_once_in_order(store: TraceStore, name: str) -> None:
    order_by, ascending = filters.SORTS[name]
    seen, token = [], None
    while True:
        page = store.search_traces(order_by=order_by, ascending=ascending, limit=97, page_token=token)
        seen.extend(page)
        if page.next_page_token is None:
            break
        token = page.next_page_token
    assert len(seen) == N and len({t.trace_id for t in seen}) == N
    keys = [sort_key(name, t) for t in seen]
    assert keys == sorted(keys, reverse=not ascending)  # ties broken by trace id, in the same direction


@pytest.mark.parametrize("name", ["newest", "oldest", "slowest", "most-tokens", "most-cost"])
def test_each_order_reads_an_index_and_sorts_no_more_than_ties(store: TraceStore, name: str) -> None:
    order_by, ascending = filters.SORTS[name]
    token = store.search_traces(order_by=order_by, ascending=ascending, limit=50).next_page_token
    assert token is not None
    for page_token in (None, token):
        sql, params = query.page_query(store, query.TraceFilter(), order_by, ascending, 50, page_token)
        plan = [r["detail"] for r in store.rows(f"EXPLAIN QUERY PLAN {sql}", params)]
        assert any("USING INDEX" in step for step in plan), plan
        # A sort of the rows that tie on the sort value is bounded; a sort of every trace is not.
        assert not any(step == "USE TEMP B-TREE FOR ORDER BY" for step in plan), plan


def test_the_cli_lists_in_each_order(store: TraceStore, db_path: Path) -> None:
    listed = cli("traces", "list", "--sort", "slowest", "--limit", "5", "--json", db=db_path)
    assert listed.returncode == 0, listed.stderr
    expected = [t.trace_id for t in store.search_traces(order_by="duration_ms", limit=5)]
    assert [orjson.loads(line)["trace_id"] for line in listed.stdout.splitlines()] == expected
    wrong = cli("traces", "list", "--sort", "fastest", db=db_path)
    assert wrong.returncode == 2 and "invalid choice" in wrong.stderr
