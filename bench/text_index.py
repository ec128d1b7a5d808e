"""What indexing text costs the writer: CPU per span for the full-text index to catch up, as it does when idle.

Spans are stored first, then indexed in the writer's chunks; only the indexing is timed, in CPU time of this
process, so other processes on a shared machine do not count. Two kinds of text: the query benchmark's
(a question or answer of 6 to 28 words) and the ingest benchmark's (a few words).

    python bench/text_index.py [--spans 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, table
from query import _row, _words
from spanlite.store._db import open_connection
from spanlite.store._writer import index_text, write_spans


def zipf_text(rng: random.Random, i: int) -> dict[str, Any]:
    return {"spanlite.inputs": f'{{"q":"{_words(rng, 6)}"}}', "spanlite.outputs": f'"{_words(rng, 12)}"'}


def short_text(rng: random.Random, i: int) -> dict[str, Any]:
    return {"spanlite.inputs": f'{{"i":{i}}}', "spanlite.outputs": '{"ok":true}'}


def index_us_per_span(text: Callable[[random.Random, int], dict[str, Any]], spans: int) -> float:
    """Store ``spans`` spans in a new store, then index them all; CPU µs per span of the indexing alone."""
    rng = random.Random(7)
    conn = open_connection(Path(tempfile.mkdtemp()) / "index.db")
    rows = []
    for i in range(spans):
        attributes = {"spanlite.span.kind": "TOOL", **text(rng, i)}
        rows.append(_row(f"{i // 10:032x}", f"{i:016x}", None, "step", i, i + 1, attributes, rng))
    for start in range(0, spans, 5_000):
        write_spans(conn, rows[start : start + 5_000])
    started = time.process_time()
    while index_text(conn):
        pass
    elapsed = time.process_time() - started
    conn.close()
    return elapsed / spans * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spans", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    kinds = {
        "query benchmark's text (Zipf, 6-28 words)": zipf_text,
        "ingest benchmark's text (a few words)": short_text,
    }
    samples: dict[str, list[float]] = {name: [] for name in kinds}
    for _ in range(args.rounds):  # alternating, so that noise on a shared machine hits both alike
        for name, text in kinds.items():
            samples[name].append(index_us_per_span(text, args.spans))
    rows = [("text", "CPU µs/span to index")]
    rows += [(name, f"{statistics.median(values):.1f}") for name, values in samples.items()]
    print(table(rows))
    print(f"\n{args.spans:,} spans, median of {args.rounds} rounds; {machine()}")


if __name__ == "__main__":
    main()
