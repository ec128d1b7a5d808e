"""What ``autolog()`` adds to a model SDK's chat call, in instructions counted by callgrind (repeatable on a noisy
VM), per provider (``_autolog_cases.CASES``).

Beside it, as yardsticks, the same calls inside a bare OTel span (the least any OTel instrumentation adds), and, for
the OpenAI SDK, under the two OpenTelemetry instrumentations other tools build on, OpenLLMetry's
(``opentelemetry-instrumentation-openai``) and OpenInference's, each given the cheapest OTel pipeline there is (a
``BatchSpanProcessor`` and an exporter that does nothing), while spanlite's spans go to its SQLite store.

Each case runs in its own process under ``valgrind --tool=callgrind``, which counts only inside the C function
``functools.reduce`` (``--toggle-collect``): the measured calls run inside one ``reduce``, so imports and warm-up
do not count, and neither does the export thread. The fake server runs natively in its own process.

    python bench/autolog_callgrind.py                      # every provider installed; needs valgrind (and, for
    python bench/autolog_callgrind.py --provider openai    # openai's yardsticks, the test extras); minutes each
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _autolog_cases import CASES, Case, chosen
from _common import bare_provider, callgrind_instructions, fake_server, table

CALLS = 20
MODES = ("plain", "bare span", "spanlite")
YARDSTICKS = {"openai": ("openllmetry", "openinference")}  # other tools' instrumentations of that SDK


def run_calls(library: str, kind: str, mode: str, url: str) -> None:
    """The measured process: a warm-up, then ``CALLS`` calls inside ``functools.reduce``, the counted part."""
    import spanlite

    case = CASES[library]
    spanlite.configure(db=Path(tempfile.mkdtemp()) / "autolog.db")
    if mode == "spanlite":
        spanlite.autolog(library)
    elif mode not in ("plain", "bare span"):
        _instrument(mode)
    bare = bare_provider().get_tracer("bench") if mode == "bare span" else None
    client = case.client(url)
    one = case.stream if kind == "stream" else case.chat

    def call() -> None:
        if bare is not None:
            with bare.start_as_current_span(f"chat {case.model}", attributes={"gen_ai.request.model": case.model}):
                one(client, case.model)
        else:
            one(client, case.model)

    for _ in range(3):
        call()
    functools.reduce(lambda _, __: call(), range(CALLS), None)
    spanlite.flush()


def _instrument(mode: str) -> None:
    """Another tool's OpenTelemetry instrumentation of the OpenAI SDK, exporting nowhere."""
    provider = bare_provider()
    if mode == "openllmetry":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor
    else:
        from openinference.instrumentation.openai import OpenAIInstrumentor  # type: ignore[no-redef]
    OpenAIInstrumentor().instrument(tracer_provider=provider)


def measure(case: Case) -> list[tuple[str, ...]]:
    """The table's rows for one provider; its processes run in parallel, one per core."""
    modes = (*MODES, *YARDSTICKS.get(case.library, ()))
    with fake_server(case.fake) as url:
        runs = [(kind, mode) for kind in ("chat", "stream") for mode in modes]
        with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
            counts = dict(
                zip(runs, pool.map(lambda run: callgrind_instructions(__file__, case.library, *run, url), runs))
            )
    rows = []
    for kind in ("chat", "stream"):
        plain = counts[kind, "plain"]
        added = [f"{(counts[kind, mode] / plain - 1) * 100:+.1f}%" if (kind, mode) in counts else "" for mode in
                 (*MODES[1:], *YARDSTICKS["openai"])]  # fmt: skip
        rows.append((f"{case.library} {kind}", f"{plain / CALLS:,.0f}", *added))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--provider", action="append", choices=list(CASES), help="default: every one installed")
    args = parser.parse_args()
    started = time.monotonic()
    rows = [("call", "instructions without", *(f"added by {mode}" for mode in (*MODES[1:], *YARDSTICKS["openai"])))]
    for case in chosen(args.provider):
        rows += measure(case)
    print(table(rows))
    print(f"\ncalling thread, per call (mean of {CALLS}); {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] in CASES:
        run_calls(*sys.argv[1:])
    else:
        main()
