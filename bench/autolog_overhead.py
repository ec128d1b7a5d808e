"""What ``autolog()`` adds to an OpenAI chat call over real HTTP to a local fake server.

The fake server runs in its own process, so this process's CPU time is the SDK's work plus ours. Rounds with
and without autolog alternate (``autolog(disable=True)`` restores the SDK between them).

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

CALLS = 200
ROUNDS = 7


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

        results: dict[str, list[tuple[float, float, float]]] = {}
        for _ in range(ROUNDS):
            for name, fn in (("chat", chat), ("stream", stream)):
                spanlite.autolog("openai", disable=True)
                results.setdefault(f"{name} plain", []).append(timed(fn))
                spanlite.autolog("openai")
                results.setdefault(f"{name} autolog", []).append(timed(fn))
                spanlite.flush()
        rows = [("call", "wall µs", "CPU µs", "caller CPU µs", "wall overhead", "CPU overhead", "caller CPU overhead")]
        for name in ("chat", "stream"):
            plain = _median(results[f"{name} plain"])
            traced = _median(results[f"{name} autolog"])
            rows.append((f"{name} without autolog", *(f"{v:.0f}" for v in plain), "", "", ""))
            rows.append((f"{name} with autolog", *(f"{v:.0f}" for v in traced),
                         *(f"{(t / p - 1) * 100:+.1f}%" for t, p in zip(traced, plain))))  # fmt: skip
        print(table(rows))
        print(f"\n{CALLS} calls × {ROUNDS} alternating rounds, medians; target < 5% of the un-traced call; {machine()}")
        print("CPU is the whole process (the export thread writing spans to SQLite included); caller CPU is the")
        print("calling thread alone, i.e. what autolog adds to the call itself.")


def _median(values: list[tuple[float, float, float]]) -> tuple[float, ...]:
    return tuple(sorted(column)[len(column) // 2] for column in zip(*values))


if __name__ == "__main__":
    main()
