"""Store filters the traces list offers: a model with its dated ids, a duration range."""

from __future__ import annotations

from pathlib import Path

from _helpers import row
from spanlite.store import TraceStore
from spanlite.store._writer import write_spans
from spanlite.store.filters import model_base

MODELS = {
    "a": "gpt-4o-mini",
    "b": "gpt-4o-mini-2024-07-18",
    "c": "gpt-4o",
    "d": "gpt-4o-2024-08-06",
    "e": "gpt-4o-mini-audio",
    "f": "claude-3-5-sonnet-20241022",
    "g": "gpt-4o-mini-2024-07-18-ft",
}


def test_a_model_finds_its_dated_ids_and_nothing_else_it_prefixes(db_path: Path) -> None:
    with TraceStore(db_path) as store:
        spans = [
            row(t, "s1", None, i, attributes={"gen_ai.request.model": m}) for i, (t, m) in enumerate(MODELS.items())
        ]
        write_spans(store.conn, spans)
        found = {
            m: {t.trace_id for t in store.search_traces(model=m)}
            for m in ("gpt-4o-mini", "gpt-4o", "claude-3-5-sonnet")
        }
        exact = {t.trace_id for t in store.search_traces(model="gpt-4o-mini-2024-07-18")}
    assert found == {"gpt-4o-mini": {"a", "b"}, "gpt-4o": {"c", "d"}, "claude-3-5-sonnet": {"f"}}
    assert exact == {"b"}
    assert (
        model_base("gpt-4o-mini-2024-07-18") == "gpt-4o-mini" and model_base("gpt-4o-mini-audio") == "gpt-4o-mini-audio"
    )


def test_a_duration_range(db_path: Path) -> None:
    with TraceStore(db_path) as store:
        write_spans(store.conn, [row(f"t{ms}", "s1", None, 0, end_ns=ms * 1_000_000) for ms in (1, 10, 100)])
        assert {t.trace_id for t in store.search_traces(min_duration_ms=5, max_duration_ms=100)} == {"t10", "t100"}
        assert {t.trace_id for t in store.search_traces(max_duration_ms=9.5)} == {"t1"}
