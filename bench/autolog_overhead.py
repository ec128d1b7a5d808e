"""What ``autolog()`` adds to a model SDK's chat call over real HTTP to a local fake server, per provider.

The fake server runs in its own process, so this process's CPU time is the SDK's work plus ours. Each round
times the call without autolog, inside a bare OTel span (the least any OTel instrumentation adds), and with
autolog (``autolog(disable=True)`` restores the SDK between them), in an order that reverses every round; the
overhead is the median over rounds of one round's ratio, so that the load of a shared machine, which drifts over
seconds, cancels within a round instead of landing on one side. The providers are ``_autolog_cases.CASES``.

    python bench/autolog_overhead.py                        # every provider whose SDK is installed
    python bench/autolog_overhead.py --provider anthropic   # one (repeat the option for more)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import spanlite
from _autolog_cases import CASES, Case, chosen
from _common import bare_provider, fake_server, machine, table

CALLS = 50
ROUNDS = 31


def timed(fn: Callable[[], Any], settle: Callable[[], Any]) -> tuple[float, float, float]:
    """Per call: wall and CPU of the calling thread for the calls alone; process CPU until ``settle()`` has also
    finished what they left to the export thread (reading responses, storing spans)."""
    wall, cpu, own = time.perf_counter(), time.process_time(), time.thread_time()
    for _ in range(CALLS):
        fn()
    wall_done, own_done = time.perf_counter(), time.thread_time()
    settle()
    done = wall_done, time.process_time(), own_done
    return tuple((end - start) / CALLS * 1e6 for end, start in zip(done, (wall, cpu, own)))  # type: ignore[return-value]


def measure(case: Case, rounds: int) -> list[tuple[str, ...]]:
    """The table's rows for one provider: its chat and stream calls without autolog, in a bare span, with autolog."""
    with fake_server(case.fake) as url:
        client = case.client(url)
        provider = bare_provider()
        bare = provider.get_tracer("bench")

        def settle() -> None:  # the same for every variant, so each pays for it alike
            spanlite.flush()
            provider.force_flush()

        def chat() -> None:
            case.chat(client, case.model)

        def stream() -> None:
            case.stream(client, case.model)

        def in_bare_span(call: Callable[[], None]) -> Callable[[], None]:
            def spanned() -> None:
                with bare.start_as_current_span(f"chat {case.model}", attributes={"gen_ai.request.model": case.model}):
                    call()

            return spanned

        variants = {
            "plain": {"chat": chat, "stream": stream},
            "bare OTel span": {"chat": in_bare_span(chat), "stream": in_bare_span(stream)},
            "autolog": {"chat": chat, "stream": stream},
        }
        for variant, calls in variants.items():  # warm-up: lazy imports and first-call caches, on every path
            spanlite.autolog(case.library, disable=variant != "autolog")
            for fn in calls.values():
                timed(fn, settle)
        results: dict[str, list[tuple[float, float, float]]] = {}
        for round_ in range(rounds):
            for name in ("chat", "stream"):
                for variant in list(variants)[:: 1 if round_ % 2 else -1]:
                    spanlite.autolog(case.library, disable=variant != "autolog")
                    results.setdefault(f"{name} {variant}", []).append(timed(variants[variant][name], settle))
        spanlite.autolog(case.library, disable=True)
        client.close()
    rows = []
    for name in ("chat", "stream"):
        plain = results[f"{name} plain"]
        rows.append((f"{case.library} {name} without autolog", *(f"{v:.0f}" for v in _median(plain)), "", "", ""))
        for variant in ("bare OTel span", "autolog"):
            traced = results[f"{name} {variant}"]
            ratios = [tuple(t / p - 1 for t, p in zip(with_, without)) for with_, without in zip(traced, plain)]
            rows.append((f"{case.library} {name}, {variant}", *(f"{v:.0f}" for v in _median(traced)),
                         *(f"{v * 100:+.1f}%" for v in _median(ratios))))  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--provider", action="append", choices=list(CASES), help="default: every one installed")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    spanlite.configure(db=Path(tempfile.mkdtemp()) / "autolog.db")
    rows = [("call", "wall µs", "CPU µs", "caller CPU µs", "wall overhead", "CPU overhead", "caller CPU overhead")]
    for case in chosen(args.provider):
        rows += measure(case, args.rounds)
    print(table(rows))
    print(f"\n{CALLS} calls × {args.rounds} rounds, medians (overhead: of the ratios within rounds); target < 5%")
    print(f"of the un-traced call; {machine()}")
    print("CPU is the whole process until every span is stored (the export thread reading responses and writing")
    print("to SQLite included); caller CPU and wall are the calls alone, i.e. what autolog adds to the call itself.")
    print("A bare OTel span (one attribute, a BatchSpanProcessor, an exporter that does nothing) is the least any")
    print("OTel instrumentation adds.")


def _median(values: list[tuple[float, float, float]]) -> tuple[float, ...]:
    return tuple(sorted(column)[len(column) // 2] for column in zip(*values))


if __name__ == "__main__":
    main()
