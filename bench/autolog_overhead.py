"""What ``autolog()`` adds to an OpenAI chat call over real HTTP to a local fake server.

The fake server runs in its own process, so this process's CPU time is the SDK's work plus ours. Rounds with
and without autolog alternate in pairs (``autolog(disable=True)`` restores the SDK between them), which of the two
goes first alternating too; the overhead is the median over pairs of one pair's ratio, so that the load of a shared
machine, which drifts over seconds, cancels within a pair instead of landing on one side.

    python bench/autolog_overhead.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).parent))
from _common import fake_llm_server, machine, table  # noqa: E402

import openai  # noqa: E402

import spanlite  # noqa: E402

CALLS = 50
ROUNDS = 31


def timed(fn: Callable[[], Any]) -> tuple[float, float, float]:
    """Per call: wall, process CPU (includes the export thread), CPU of the calling thread alone."""
    wall, cpu, own = time.perf_counter(), time.process_time(), time.thread_time()
    for _ in range(CALLS):
        fn()
    done = time.perf_counter(), time.process_time(), time.thread_time()
    return tuple((end - start) / CALLS * 1e6 for end, start in zip(done, (wall, cpu, own)))  # type: ignore[return-value]


def main() -> None:
    with fake_llm_server() as url:
        spanlite.configure(db=Path(tempfile.mkdtemp()) / "autolog.db")
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="test", max_retries=0)
        messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello."}]

        def chat() -> None:
            client.chat.completions.create(model="gpt-4o-mini", messages=messages)

        def stream() -> None:
            for _ in client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True):
                pass

        for traced in (True, False):  # warm-up: lazy imports and first-call caches, on both paths
            spanlite.autolog("openai", disable=not traced)
            for fn in (chat, stream):
                timed(fn)
        results: dict[str, list[tuple[float, float, float]]] = {}
        for round_ in range(ROUNDS):
            for name, fn in (("chat", chat), ("stream", stream)):
                for traced in (False, True) if round_ % 2 else (True, False):
                    spanlite.autolog("openai", disable=not traced)
                    results.setdefault(f"{name} {'autolog' if traced else 'plain'}", []).append(timed(fn))
                    if traced:
                        spanlite.flush()  # the writer's work for these spans stays out of the next round
        rows = [("call", "wall µs", "CPU µs", "caller CPU µs", "wall overhead", "CPU overhead", "caller CPU overhead")]
        for name in ("chat", "stream"):
            plain, traced = results[f"{name} plain"], results[f"{name} autolog"]
            rows.append((f"{name} without autolog", *(f"{v:.0f}" for v in _median(plain)), "", "", ""))
            ratios = [tuple(t / p - 1 for t, p in zip(pair_t, pair_p)) for pair_t, pair_p in zip(traced, plain)]
            rows.append((f"{name} with autolog", *(f"{v:.0f}" for v in _median(traced)),
                         *(f"{v * 100:+.1f}%" for v in _median(ratios))))  # fmt: skip
        print(table(rows))
        print(f"\n{CALLS} calls × {ROUNDS} paired rounds, medians (overhead: of the pairs' ratios); target < 5% of the")
        print(f"un-traced call; {machine()}")
        print("CPU is the whole process (the export thread writing spans to SQLite included); caller CPU is the")
        print("calling thread alone, i.e. what autolog adds to the call itself.")


def _median(values: list[tuple[float, float, float]]) -> tuple[float, ...]:
    return tuple(sorted(column)[len(column) // 2] for column in zip(*values))


if __name__ == "__main__":
    main()
