"""The OTLP receiver's limits (issue 19, items 9-14), measured: what a default OTel SDK batch weighs, what gzip
bodies of many members cost to decode before and after, and how soon an overloaded or locked receiver answers.

1. Weight: 512 spans (the ``BatchSpanProcessor``'s default batch) of ~88 KB GenAI spans (a long prompt), encoded by
   the OTel SDK as its OTLP/HTTP exporter sends them, plain and gzipped, against the body limits.
2. Gzip: CPU to decode bodies of many small gzip members (each member 64 bytes of the body's content), with
   ``store/receiver.py``'s decoder as of ``BASE`` (loaded from ``git show``) and with today's ``_inflate``.
3. Answers: a store held locked by another connection, 16 requests at once (four times what the receiver works on at
   once): when each is answered, and how (429 busy, 503 store unavailable).
4. Ingest: the 512-span batch of (1) posted to a receiver: the time to its answer, and the peak memory.

    python bench/receiver_load.py [REV]
"""

from __future__ import annotations

import gzip
import http.client
import random
import sqlite3
import string
import subprocess
import sys
import tempfile
import threading
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import orjson
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from _common import Serve, machine, table
from spanlite.otlp import _inflate, start_receiver
from spanlite.otlp import receiver as receiver_module

BASE = "8dd32ab"  # the branch point of this work
ROOT = Path(__file__).resolve().parents[1]
MIB = 1 << 20


def genai_batch(spans: int = 512, prompt_bytes: int = 80_000) -> bytes:
    """A protobuf export request of ``spans`` chat spans, as the SDK's exporter encodes it: each a system prompt,
    a user prompt of ``prompt_bytes`` (retrieved documents, say), and an answer, in words drawn at random from a
    vocabulary of 5,000 (gzip shrinks it about as much as it does prose)."""
    rng = random.Random(19)
    vocabulary = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))) for _ in range(5000)]

    def text(size: int) -> str:
        return " ".join(rng.choices(vocabulary, k=size // 5))[:size]

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("rag")
    for i in range(spans):
        system = {"role": "system", "parts": [{"type": "text", "content": text(2_000)}]}
        user = {"role": "user", "parts": [{"type": "text", "content": text(prompt_bytes)}]}
        answer = {"role": "assistant", "parts": [{"type": "text", "content": text(6_000)}], "finish_reason": "stop"}
        attributes = {
            "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o",
            "gen_ai.input.messages": orjson.dumps([system, user]).decode(),
            "gen_ai.output.messages": orjson.dumps([answer]).decode(),
            "gen_ai.usage.input_tokens": 20_000, "gen_ai.usage.output_tokens": 1_500,
        }  # fmt: skip
        with tracer.start_as_current_span(f"chat gpt-4o {i}", attributes=attributes):
            pass
    return encode_spans(memory.get_finished_spans()).SerializeToString()


def weight(body: bytes) -> None:
    zipped = gzip.compress(body)
    rows = [
        ("request", "bytes", "MiB"),
        ("512 spans, protobuf", f"{len(body):,}", f"{len(body) / MIB:.1f}"),
        ("same, gzip", f"{len(zipped):,}", f"{len(zipped) / MIB:.1f}"),
        ("per span", f"{len(body) // 512:,}", ""),
        ("Collector's default limit", f"{20 * MIB:,}", "20"),
        ("spanlite's old limit", f"{32 * MIB:,}", "32"),
        ("spanlite's limit now (= the Python exporter's max_request_size)", f"{64 * MIB:,}", "64"),
    ]
    print("1. A default SDK batch of GenAI spans\n")
    print(table(rows))


def old_module(rev: str, path: str, name: str, package: str) -> types.ModuleType:
    """A module from ``path`` as of ``rev``; relative imports resolve against today's ``package``."""
    source = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, capture_output=True, text=True, check=True)
    module = types.ModuleType(name)
    module.__package__ = package
    exec(compile(source.stdout, f"{rev}:{path}", "exec"), module.__dict__)
    return module


def many_members(size: int) -> bytes:
    """A gzip body of about ``size`` bytes whose members each hold 64 bytes of an OTLP/JSON-like text."""
    text = (b'{"key":"gen_ai.input.messages","value":{"stringValue":"hello there"}},' * (size // 4))[: size * 3]
    out = bytearray()
    for i in range(0, len(text), 64):
        out += gzip.compress(text[i : i + 64], compresslevel=1, mtime=0)
        if len(out) >= size:
            break
    return bytes(out)


def cpu_s(decode: object, body: bytes) -> float:
    start = time.process_time()
    decode(body)  # type: ignore[operator]
    return time.process_time() - start


def gzip_members(rev: str) -> None:
    before = old_module(rev, "store/receiver.py", "receiver_before", "spanlite.store")
    limit = 64 * MIB
    rows = [("body", "members", f"CPU s, {rev}", "CPU s, now", "ratio")]
    for size in (1_600_000, 10_000_000):
        body = many_members(size)
        members = body.count(b"\x1f\x8b\x08")
        after = min(cpu_s(lambda b: _inflate.inflate(b, _inflate.GZIP, limit), body) for _ in range(3))
        if size <= 2_000_000:
            old = cpu_s(lambda b: before._inflate(b, before._GZIP_WBITS, limit), body)
            rows.append((f"{size / 1e6:.1f} MB", f"{members:,}", f"{old:.2f}", f"{after:.3f}", f"{old / after:.0f}×"))
        else:  # quadratic: about (10 / 1.6)² = 39 times the 1.6 MB figure; not waited for
            rows.append((f"{size / 1e6:.1f} MB", f"{members:,}", "(not run)", f"{after:.3f}", ""))
    print("\n2. Gzip bodies of many members\n")
    print(table(rows))


def answers_when_locked() -> None:
    body = genai_batch(spans=2, prompt_bytes=100)
    with tempfile.TemporaryDirectory() as tmp, start_receiver(Path(tmp) / "r.db") as receiver:
        lock = sqlite3.connect(receiver.db_path, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        count = receiver_module.MAX_REQUESTS_IN_FLIGHT * 4
        answers: list[tuple[float, int]] = []
        barrier = threading.Barrier(count)

        def send() -> None:
            barrier.wait()
            start = time.perf_counter()
            conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=60)
            conn.request("POST", "/v1/traces", body=body, headers={"Content-Type": "application/x-protobuf"})
            status = conn.getresponse().status
            answers.append((time.perf_counter() - start, status))
            conn.close()

        threads = [threading.Thread(target=send) for _ in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        lock.execute("ROLLBACK")
        lock.close()
    rows = [("status", "requests", "answered after (s): first", "last")]
    for status in sorted({s for _, s in answers}):
        times = sorted(t for t, s in answers if s == status)
        rows.append((str(status), str(len(times)), f"{times[0]:.2f}", f"{times[-1]:.2f}"))
    print(f"\n3. {count} requests at once, the store locked (before: every one waited 30 s for it)\n")
    print(table(rows))


def peak_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


def ingest(body: bytes) -> None:
    serve = Serve()
    try:
        before = peak_mib(serve.process.pid)
        start = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", serve.port, timeout=60)
        conn.request("POST", "/v1/traces", body=body, headers={"Content-Type": "application/x-protobuf"})
        status = conn.getresponse().status
        answered = time.perf_counter() - start
        conn.close()
        after = peak_mib(serve.process.pid)
    finally:
        stored = serve.stop()
    rows = [
        ("answer", "after (s)", "spans stored", "receiver's peak memory (MiB): idle", "after"),
        (str(status), f"{answered:.2f}", str(stored), f"{before:.0f}", f"{after:.0f}"),
    ]
    print(f"\n4. The {len(body) / MIB:.0f} MiB batch into `spanlite serve`\n")
    print(table(rows))


def main(rev: str = BASE) -> None:
    print(machine())
    body = genai_batch()
    weight(body)
    gzip_members(rev)
    answers_when_locked()
    ingest(body)


if __name__ == "__main__":
    main(*sys.argv[1:])
