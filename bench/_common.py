"""Shared by the benchmark scripts: interleaved timing rounds and a plain table."""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult


def per_call_us(fn: Callable[[], object], calls: int) -> float:
    """CPU time of this process (all its threads) per call: other processes on a shared machine do not count."""
    start = time.process_time()
    for _ in range(calls):
        fn()
    return (time.process_time() - start) / calls * 1e6


def interleaved(candidates: dict[str, Callable[[], object]], calls: int, rounds: int) -> dict[str, float]:
    """Median CPU µs per call of each candidate, in alternating rounds so remaining noise hits all alike."""
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            samples[name].append(per_call_us(fn, calls))
    return {name: statistics.median(values) for name, values in samples.items()}


def callgrind_instructions(script: str, *args: str) -> int:
    """Instructions ``script`` runs inside the C function ``functools.reduce`` under callgrind.

    Callgrind counts instructions, not seconds, so the figure repeats exactly on a noisy machine. Collecting only
    inside ``reduce`` (``--toggle-collect``) leaves imports, warm-up and flushing out: the measured calls run in one.
    """
    with tempfile.TemporaryDirectory() as out:
        command = [
            "valgrind", "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=functools_reduce",
            f"--callgrind-out-file={out}/cg.out", sys.executable, script, *args,
        ]  # fmt: skip
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        text = Path(out, "cg.out").read_text()
    return int(re.search(r"^totals: (\d+)", text, re.MULTILINE).group(1))  # type: ignore[union-attr]


def trace_workloads(tracer: Any) -> dict[str, Callable[[], object]]:
    """What both ``@trace`` benchmarks run: a small function with a small dict argument, alone and as a 10-span trace,
    under a raw OTel span from ``tracer`` (``raw``, ``raw-ten``) and under ``@spanlite.trace`` (``trace``,
    ``trace-ten``).
    """
    import spanlite

    arg = {"question": "what is the refund policy?", "user": "ada", "k": 3}

    def raw_one(payload: dict[str, Any]) -> dict[str, Any]:
        with tracer.start_as_current_span("work"):
            return {"answer": payload["question"].upper()}

    @spanlite.trace
    def traced_one(payload: dict[str, Any]) -> dict[str, Any]:
        return {"answer": payload["question"].upper()}

    def raw_ten() -> None:
        with tracer.start_as_current_span("root"):
            for _ in range(9):
                raw_one(arg)

    @spanlite.trace
    def traced_ten() -> None:
        for _ in range(9):
            traced_one(arg)

    return {"raw": lambda: raw_one(arg), "trace": lambda: traced_one(arg), "raw-ten": raw_ten, "trace-ten": traced_ten}


class Nowhere(SpanExporter):
    """An exporter that does nothing: with it, a pipeline's cost is all tracing's own."""

    def export(self, spans: object) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def bare_provider(max_queue_size: int = 2048) -> TracerProvider:
    """The cheapest OTel tracing there is, the yardsticks' baseline: the SDK's ``BatchSpanProcessor`` and an exporter
    that does nothing."""
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Nowhere(), max_queue_size=max_queue_size))
    return provider


def spanlite_provider(exporter: SpanExporter) -> TracerProvider:
    """spanlite's own processor in front of ``exporter``, with a queue no benchmark fills."""
    from spanlite.tracing._processor import QueueProcessor

    provider = TracerProvider()
    provider.add_span_processor(QueueProcessor(exporter, max_queue=10**7))
    return provider


def wait_until_text_indexed(path: Path) -> None:
    """Sleep (using no CPU here) until the writer of the store at ``path`` (a thread, a child, ``spanlite serve``'s)
    has caught its text index up, so that the writer's trailing work lands in the round that caused it."""
    with sqlite3.connect(path) as conn:
        while conn.execute(
            "SELECT coalesce(max(rowid), 0) > (SELECT coalesce(max(value), 0) FROM counters WHERE name = 'fts_rowid') "
            "FROM spans"
        ).fetchone()[0]:
            time.sleep(0.02)


def writer_child_cpu(exporter: Any) -> float:
    """CPU seconds used so far by a ``SQLiteSpanExporter``'s writer child (0 without one), from /proc (Linux)."""
    pid = getattr(exporter, "writer_pid", None)
    if pid is None:
        return 0.0
    return _cpu_ticks(_stat_fields(Path(f"/proc/{pid}/stat").read_text())) / os.sysconf("SC_CLK_TCK")


def _stat_fields(stat: str) -> list[str]:
    """A ``/proc/<pid>/stat`` line's fields after the command name (which may hold spaces): state, parent pid, ..."""
    return stat.rsplit(")", 1)[1].split()


def _cpu_ticks(fields: list[str]) -> int:
    """User + system CPU, in clock ticks, from ``_stat_fields``."""
    return int(fields[11]) + int(fields[12])


def table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows)


def machine() -> str:
    return f"{platform.python_implementation()} {platform.python_version()} on {platform.machine()}, {platform.node()}"


_FAKE_SERVER = f"""
import importlib, sys, time
sys.path.insert(0, {str(Path(__file__).resolve().parents[1] / "tests")!r})
module, name = sys.argv[1].split(":")
server = getattr(importlib.import_module(module), name)().start()
print(server.url, flush=True)
time.sleep(3600)
"""


@contextlib.contextmanager
def fake_server(fake: str = "fake_llm_server:FakeLLMServer") -> Iterator[str]:
    """One of the tests' fake model APIs (``"module:Class"`` in ``tests/``, started with ``.start()``) in a process
    of its own, so its work is not counted as ours; yields its URL."""
    server = subprocess.Popen([sys.executable, "-c", _FAKE_SERVER, fake], stdout=subprocess.PIPE, text=True)
    try:
        yield server.stdout.readline().strip()  # type: ignore[union-attr]
    finally:
        server.kill()
        server.wait()


TRACES_PATH = "/v1/traces"


class Serve:
    """``spanlite serve`` in its own process on a fresh store, or a copy of ``held``; stopped with Ctrl-C (SIGINT)
    as a user would."""

    def __init__(self, held: Path | None = None) -> None:
        from spanlite.store import TraceStore  # here: startup.py times importing spanlite, and imports this module

        self.db = Path(tempfile.mkdtemp()) / "received.db"
        self.held = 0
        if held is not None:
            shutil.copyfile(held, self.db)
            with TraceStore(self.db) as store:
                self.held = store.stats()["spans"]
        self._log = open(self.db.with_suffix(".log"), "w+")  # noqa: SIM115 - a file, not a pipe nobody drains
        command = [sys.executable, "-m", "spanlite.cli", "serve", "--db", str(self.db), "--port", "0"]
        self.process = subprocess.Popen(command, stderr=self._log)
        self.port = self._wait_for_port()
        self.endpoint = f"http://127.0.0.1:{self.port}{TRACES_PATH}"

    def _wait_for_port(self) -> int:
        for _ in range(600):
            self._log.seek(0)
            if "receiving OTLP/HTTP traces on http://" in (line := self._log.readline()):
                return int(line.split("http://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"spanlite serve did not start: {self._log.read()}")

    def cpu_seconds(self) -> tuple[float, float]:
        """User + system CPU so far of the receiver process and of its children (its writer), from Linux /proc."""
        own = children = 0
        pid = str(self.process.pid)
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = _stat_fields(stat.read_text())
            except OSError:  # a process that has just exited
                continue
            if stat.parent.name == pid:
                own += _cpu_ticks(fields)
            elif fields[1] == pid:
                children += _cpu_ticks(fields)
        tick = os.sysconf("SC_CLK_TCK")
        return own / tick, children / tick

    def stop(self) -> int:
        """Stop the receiver, count the spans it stored (beside those it held) and delete the store."""
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=60)
        self._log.close()
        from spanlite.store import TraceStore

        with TraceStore(self.db) as store:
            stored = store.stats()["spans"] - self.held
        shutil.rmtree(self.db.parent)
        return stored
