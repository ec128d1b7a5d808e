"""Query latency on a generated store of 1,000,000 spans in 100,000 traces.

The store is generated once (``--db`` keeps it between runs); each query runs repeatedly and the median is
reported. Queries go through ``spanlite.store.TraceStore``, as the viewer's do.

    python bench/query.py [--db /tmp/bench-1m.db] [--traces 100000]
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, table
from spanlite.store import TraceStore
from spanlite.store._db import open_connection
from spanlite.store._rows import span_row
from spanlite.store._writer import index_text, write_spans

SPANS_PER_TRACE = 10
MODELS = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "claude-haiku-4", "llama-3.1-70b"]
TAGS = ["prod", "staging", "beta", "eval", "support", "search", "agent-v2", "agent-v3"]
# Each trace from one of these (a resource as an OTel SDK sends it); the last one's traces are 1 in 50.
RESOURCES = [
    {"service.name": name, "service.version": "1.4.2", "deployment.environment": "prod", "host.name": f"{name}-1",
     "telemetry.sdk.language": "python", "telemetry.sdk.name": "opentelemetry", "telemetry.sdk.version": "1.38.0"}
    for name in ("agent-api", "search", "checkout", "billing", "rare-batch")
]  # fmt: skip
# Text follows Zipf's law, as natural language does: a few words are everywhere, most are rare.
COMMON = (  # noqa: SIM905 - a paragraph of words reads better than a column of them
    "refund policy order shipping warranty invoice account password delivery return exchange discount coupon "
    "tracking address payment subscription cancel upgrade battery screen charger laptop phone camera"
).split()
WORDS = COMMON + [f"term{i}" for i in range(5_000)]
CUMULATIVE = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(WORDS))))
MID_FREQUENCY_TERM = "term300"  # in about 1% of spans
RUNS = 21


def generate(path: Path, traces: int) -> None:
    conn = open_connection(path)
    rng = random.Random(7)
    start = 1_790_000_000 * 10**9
    batch: list[dict[str, Any]] = []
    for t in range(traces):
        trace_id = f"{t:032x}"
        t0 = start + t * 1_000_000_000
        root = f"{t:08x}{0:08x}"
        tags = rng.sample(TAGS, 2)
        question = " ".join(rng.choices(WORDS, cum_weights=CUMULATIVE, k=8))
        attributes = {"spanlite.span.kind": "AGENT", "spanlite.inputs": f'{{"question":"{question}"}}',
                      "spanlite.outputs": f'"{" ".join(rng.choices(WORDS, cum_weights=CUMULATIVE, k=20))}"',
                      "spanlite.trace.tags": f'["{tags[0]}","{tags[1]}"]', "session.id": f"s{t // 5}"}  # fmt: skip
        resource = RESOURCES[4] if t % 50 == 0 else RESOURCES[t % 4]
        batch.append(_row(trace_id, root, None, "agent", t0, t0 + 900_000_000, attributes, rng, resource))
        for s in range(1, SPANS_PER_TRACE):
            llm = s % 3 == 1
            attrs: dict[str, Any] = {
                "spanlite.span.kind": "CHAT_MODEL" if llm else "TOOL",
                "spanlite.inputs": f'{{"q":"{_words(rng, 6)}"}}',
                "spanlite.outputs": f'"{_words(rng, 12)}"',
            }
            if llm:
                attrs |= {"gen_ai.request.model": rng.choice(MODELS), "gen_ai.usage.input_tokens": rng.randint(50, 900),
                          "gen_ai.usage.output_tokens": rng.randint(5, 300)}  # fmt: skip
            batch.append(_row(trace_id, f"{t:08x}{s:08x}", root, "llm" if llm else "tool", t0 + s * 80_000_000,
                              t0 + s * 80_000_000 + 70_000_000, attrs, rng, resource))  # fmt: skip
        if len(batch) >= 5_000:
            write_spans(conn, batch)
            batch = []
    write_spans(conn, batch)
    with TraceStore(path) as store:
        for t in range(0, traces, 7):  # some feedback, mostly thumbs up
            store.log_feedback(f"{t:032x}", "thumbs", rng.random() > 0.2)
    while index_text(conn, 100_000):
        pass
    conn.close()


def _row(trace_id: str, span_id: str, parent: str | None, name: str, start: int, end: int,
         attributes: dict[str, Any], rng: random.Random, resource: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    status = "ERROR" if rng.random() < 0.02 else "OK"
    return span_row(trace_id=trace_id, span_id=span_id, parent_id=parent, name=name, start_ns=start, end_ns=end,
                    status=status, status_message=None, attributes=attributes, events=[],
                    resource=resource)  # fmt: skip


def _words(rng: random.Random, k: int) -> str:
    return " ".join(rng.choices(WORDS, cum_weights=CUMULATIVE, k=k))


def median_ms(fn: Callable[[], Any]) -> float:
    fn()  # warm the page cache, as a viewer that stays open does
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", type=Path, default=Path("/tmp/spanlite-bench-1m.db"))
    parser.add_argument("--traces", type=int, default=100_000)
    args = parser.parse_args()
    if not args.db.exists():
        started = time.perf_counter()
        generate(args.db, args.traces)
        print(f"generated {args.traces * SPANS_PER_TRACE:,} spans in {time.perf_counter() - started:.0f} s")
    store = TraceStore(args.db)
    some_trace = f"{args.traces // 2:032x}"
    queries: list[tuple[str, Callable[[], Any], float]] = [
        ("latest 50 traces", lambda: store.search_traces(limit=50), 10),
        ("next page of 50 (keyset)", lambda: store.search_traces(limit=50, page_token=first.next_page_token), 10),
        ("one trace with its spans", lambda: store.get_trace(some_trace), 10),
        ("filter by model, latest 50", lambda: store.search_traces(model="claude-haiku-4", limit=50), 10),
        ("filter by tag, latest 50", lambda: store.search_traces(tags=["beta"], limit=50), 10),
        ("filter by feedback thumbs down", lambda: store.search_traces(feedback="thumbs=false", limit=50), 10),
        ("errors only, latest 50", lambda: store.search_traces(status="ERROR", limit=50), 10),
        ("errors only, count (to 10,000)", lambda: store.count_traces(status="ERROR"), 10),
        ("filter by service, latest 50", lambda: store.search_traces(service="checkout", limit=50), 10),
        ("filter by rare service, latest 50", lambda: store.search_traces(service="rare-batch", limit=50), 10),
        ("full text, mid-frequency term", lambda: store.search_traces(text=MID_FREQUENCY_TERM, limit=50), 50),
        ("full text, two frequent terms", lambda: store.search_traces(text="warranty battery", limit=50), 50),
    ]
    first = store.search_traces(limit=50)
    rows = [("query", "median ms", "target ms")]
    for name, fn, target in queries:
        rows.append((name, f"{median_ms(fn):.1f}", f"≤ {target:g}"))
    stats = store.stats()
    matches = store.rows("SELECT count(*) AS n FROM spans_fts WHERE spans_fts MATCH ?", [MID_FREQUENCY_TERM])[0]["n"]
    print(table(rows))
    print(f"\n'{MID_FREQUENCY_TERM}' is in {matches:,} spans ({matches / stats['spans']:.1%})", end="")
    print(f"\n{stats['spans']:,} spans, {stats['traces']:,} traces, {stats['size_bytes'] / 1e6:.0f} MB; {machine()}")


if __name__ == "__main__":
    main()
