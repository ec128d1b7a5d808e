"""What ``autolog()`` adds to an OpenAI chat call, in instructions counted by callgrind (repeatable on a noisy VM).

Beside it, as yardsticks, the same calls inside a bare OTel span (the least any OTel instrumentation adds), and
under the two OpenTelemetry instrumentations of the OpenAI SDK that other tools build on, OpenLLMetry's
(``opentelemetry-instrumentation-openai``) and OpenInference's, each given the cheapest OTel pipeline there is (a
``BatchSpanProcessor`` and an exporter that does nothing), while spanlite's spans go to its SQLite store.

Each case runs in its own process under ``valgrind --tool=callgrind``, which counts only inside the C function
``functools.reduce`` (``--toggle-collect``): the measured calls run inside one ``reduce``, so imports and warm-up
do not count, and neither does the export thread. The fake server runs natively in its own process.

    python bench/autolog_callgrind.py    # needs valgrind and the test extras (the instrumentations); ~10 minutes
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import bare_provider, callgrind_instructions, fake_llm_server, table

CALLS = 20
MODES = ("plain", "bare span", "spanlite", "openllmetry", "openinference")


def run_calls(url: str, kind: str, mode: str) -> None:
    """The measured process: a warm-up, then ``CALLS`` chat calls inside ``functools.reduce``, the counted part."""
    import openai

    import spanlite

    spanlite.configure(db=Path(tempfile.mkdtemp()) / "autolog.db")
    if mode == "spanlite":
        spanlite.autolog("openai")
    elif mode not in ("plain", "bare span"):
        _instrument(mode)
    bare = bare_provider().get_tracer("bench") if mode == "bare span" else None
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="test", max_retries=0)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello."}]

    def call() -> None:
        if bare is not None:
            with bare.start_as_current_span("chat gpt-4o-mini", attributes={"gen_ai.request.model": "gpt-4o-mini"}):
                _call(client, kind, messages)
        else:
            _call(client, kind, messages)

    for _ in range(3):
        call()
    functools.reduce(lambda _, __: call(), range(CALLS), None)
    spanlite.flush()


def _call(client: Any, kind: str, messages: list[dict[str, str]]) -> None:
    if kind == "stream":
        for _ in client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True):
            pass
    else:
        client.chat.completions.create(model="gpt-4o-mini", messages=messages)


def _instrument(mode: str) -> None:
    """Another tool's OpenTelemetry instrumentation of the OpenAI SDK, exporting nowhere."""
    provider = bare_provider()
    if mode == "openllmetry":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor
    else:
        from openinference.instrumentation.openai import OpenAIInstrumentor  # type: ignore[no-redef]
    OpenAIInstrumentor().instrument(tracer_provider=provider)


def instructions(url: str, kind: str, mode: str) -> int:
    """Instructions the calling thread ran for ``CALLS`` calls."""
    return callgrind_instructions(__file__, url, kind, mode)


def main() -> None:
    with fake_llm_server() as url:
        cases = [(kind, mode) for kind in ("chat", "stream") for mode in MODES]
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
            counts = dict(zip(cases, pool.map(lambda case: instructions(url, *case), cases)))
        rows = [("call", "instructions without", *(f"added by {mode}" for mode in MODES[1:]))]
        for kind in ("chat", "stream"):
            plain = counts[kind, "plain"]
            added = [f"{(counts[kind, mode] / plain - 1) * 100:+.1f}%" for mode in MODES[1:]]
            rows.append((kind, f"{plain / CALLS:,.0f}", *added))
        print(table(rows))
        print(f"\ncalling thread, per call (mean of {CALLS}); {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    if len(sys.argv) == 4:
        run_calls(*sys.argv[1:])
    else:
        main()
