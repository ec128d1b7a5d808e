"""Cost of the built-in redaction per span, before and after a change, side by side in one run.

"Before" is ``tracing/redaction.py`` and ``store/_rows.py`` as of a git revision (default ``BASE``, the commit
before issue 18's secrets work), loaded from ``git show``; "after" is the working tree. Measured: ``redact_rows``
over batches of rows as the writer builds them (every text it redacts, in groups), which runs in the writer (its
child process under load), never in the app's threads. Workloads: a typical model call (system and user messages,
usage, ~2 KB), the same holding a key (where patterns find something), and a call whose output is 100 KB of prose.

    python bench/redaction.py [REV]
"""

from __future__ import annotations

import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, table
from spanlite.store import _rows
from spanlite.tracing import redaction, serialize

BASE = "4d3babb"  # the branch point of this work
ROOT = Path(__file__).resolve().parents[1]
BATCH = 64  # rows per batch, as the processor hands them over
ROUNDS = 7


def old_module(rev: str, path: str, name: str, package: str | None = None) -> types.ModuleType:
    """A module from ``path`` as of ``rev``; relative imports resolve against today's ``package``."""
    source = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, capture_output=True, text=True, check=True)
    module = types.ModuleType(name)
    module.__package__ = package
    exec(compile(source.stdout, f"{rev}:{path}", "exec"), module.__dict__)
    return module


def model_call(outputs: Any, note: str = "") -> dict[str, Any]:
    """A chat model call's row, built the way the writer builds it."""
    to_json = serialize.to_json
    messages = [
        {"role": "system", "content": "You are a helpful assistant for a travel company. Answer briefly and cite "
                                      "the booking policy where it applies. " + note},
        {"role": "user", "content": "Can I move my flight from Lisbon to Porto to next Tuesday, and what does it "
                                    "cost? My booking reference is QX7T2B and I booked on the 3rd of May."},
    ]  # fmt: skip
    attributes = {
        "spanlite.span.kind": "CHAT_MODEL",
        "spanlite.inputs": to_json({"messages": messages, "model": "gpt-4o-mini", "max_tokens": 512,
                                    "temperature": 0.2}),
        "spanlite.outputs": to_json(outputs),
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18", "gen_ai.response.id": "chatcmpl-9fQ2x7Lk",
        "gen_ai.request.max_tokens": 512, "gen_ai.request.temperature": 0.2,
        "gen_ai.usage.input_tokens": 61, "gen_ai.usage.output_tokens": 48,
        "gen_ai.response.finish_reasons": ("stop",), "service.name": "travel-bot",
    }  # fmt: skip
    return _rows.span_row(
        trace_id="5b8efff798038103d269b633813fc60c", span_id="eee19b7ec3c1b174", parent_id="aaa19b7ec3c1b174",
        name="chat gpt-4o-mini", start_ns=1_700_000_000_000_000_000, end_ns=1_700_000_000_900_000_000,
        status="UNSET", status_message=None, attributes=attributes, events=[],
    )  # fmt: skip


ANSWER = {"role": "assistant", "content": "Yes: a change to Tuesday costs 25 EUR plus any fare difference; the booking "
                                          "policy allows one free change within 24 hours of booking."}  # fmt: skip
PROSE = ("The quarterly report shows revenue up 12% on 4,210 orders; refunds fell to 1.8% after the new policy. "
         "Customers in Porto and Lisbon asked most about changes, baggage and seat upgrades. ")  # fmt: skip
WORKLOADS = {
    "model call (~2 KB)": model_call(ANSWER),
    "model call holding a key": model_call(ANSWER, note="Use key sk-proj-" + "Ab3dE5gH7jK9mN1pQ3sT5vX7" * 2 + "."),
    "100 KB output": model_call(PROSE * (100_000 // len(PROSE))),
}


def writer_cost(redact_rows: Callable[..., Any], secrets: Callable[[str], str], row: dict[str, Any]) -> float:
    """CPU µs per span to redact ``row`` in batches of ``BATCH`` (the rows are copied before the clock starts)."""
    batches = [[dict(row) for _ in range(BATCH)] for _ in range(30)]
    start = time.process_time()
    for batch in batches:
        redact_rows(batch, secrets)
    return (time.process_time() - start) / (len(batches) * BATCH) * 1e6


def main(rev: str = BASE) -> None:
    before = old_module(rev, "tracing/redaction.py", "redaction_before")
    before_rows = old_module(rev, "store/_rows.py", "spanlite.store._rows_before", package="spanlite.store")
    cases: dict[str, tuple[Callable[[], float], Callable[[], float]]] = {}
    for name, row in WORKLOADS.items():
        cases[name] = (
            lambda row=row: writer_cost(before_rows.redact_rows, before.secrets, row),
            lambda row=row: writer_cost(_rows.redact_rows, redaction.secrets, row),
        )
    samples: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in cases}
    for _ in range(ROUNDS):  # interleaved, so that the machine's noise hits both alike
        for name, (old, new) in cases.items():
            samples[name][0].append(old())
            samples[name][1].append(new())
    rows = [("case", f"before ({rev}) µs/span", "after µs/span", "ratio")]
    for name, (old_samples, new_samples) in samples.items():
        old_us, new_us = sorted(old_samples)[ROUNDS // 2], sorted(new_samples)[ROUNDS // 2]
        rows.append((name, f"{old_us:.1f}", f"{new_us:.1f}", f"{new_us / old_us:.2f}×"))
    print(table(rows))
    print(f"\nCPU time per span, medians of {ROUNDS} interleaved rounds; rows in batches of {BATCH}; {machine()}")


if __name__ == "__main__":
    main(*sys.argv[1:])
