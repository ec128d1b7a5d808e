"""What ``autolog()`` adds to an OpenAI chat call, in instructions counted by callgrind (repeatable on a noisy VM).

Each case runs in its own process under ``valgrind --tool=callgrind``, which counts only inside the C function
``functools.reduce`` (``--toggle-collect``): the measured calls run inside one ``reduce``, so imports and warm-up
do not count, and neither does the export thread. The fake server runs natively in its own process.

    python bench/autolog_callgrind.py            # needs valgrind; takes a few minutes
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import callgrind_instructions, fake_llm_server, table  # noqa: E402

CALLS = 20


def run_calls(url: str, kind: str, traced: bool) -> None:
    """The measured process: a warm-up, then ``CALLS`` chat calls inside ``functools.reduce``, the counted part."""
    import openai

    import spanlite

    spanlite.configure(db=Path(tempfile.mkdtemp()) / "autolog.db")
    if traced:
        spanlite.autolog("openai")
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="test", max_retries=0)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello."}]

    def call() -> None:
        if kind == "stream":
            for _ in client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True):
                pass
        else:
            client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    for _ in range(3):
        call()
    functools.reduce(lambda _, __: call(), range(CALLS), None)
    spanlite.flush()


def instructions(url: str, kind: str, traced: bool) -> int:
    """Instructions the calling thread ran for ``CALLS`` calls."""
    return callgrind_instructions(__file__, url, kind, "traced" if traced else "plain")


def main() -> None:
    with fake_llm_server() as url:
        cases = [(kind, traced) for kind in ("chat", "stream") for traced in (False, True)]
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
            counts = dict(zip(cases, pool.map(lambda case: instructions(url, *case), cases)))
        rows = [("call", "instructions without", "with autolog", "added")]
        for kind in ("chat", "stream"):
            plain, traced = (counts[kind, t] / CALLS for t in (False, True))
            rows.append((kind, f"{plain:,.0f}", f"{traced:,.0f}", f"{(traced / plain - 1) * 100:+.1f}%"))
        print(table(rows))
        print(f"\ncalling thread, per call (mean of {CALLS}); {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    if len(sys.argv) == 4:
        run_calls(sys.argv[1], sys.argv[2], sys.argv[3] == "traced")
    else:
        main()
