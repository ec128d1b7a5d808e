"""The OTLP receiver under load and against hostile senders: it answers fast, says when to retry, loses nothing.

Real clients: the OTel SDK's own OTLP/HTTP exporter for well-behaved senders, raw sockets and ``http.client`` for
bursts and hostile ones, against the real receiver on loopback; assertions are on what the store holds.
"""

from __future__ import annotations

import gzip
import http.client
import logging
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from _helpers import JSON, PROTOBUF, json_body, json_span, post, sdk_body
from spanlite import cli
from spanlite.otlp import Receiver, _rejections, start_receiver
from spanlite.otlp import receiver as receiver_module
from spanlite.store import TraceStore

CLIENT_TIMEOUT_S = 10  # the OTel SDK exporter's default: every answer must come before it


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    with start_receiver(tmp_path / "received.db") as r:
        yield r


def span_ids(receiver: Receiver) -> set[str]:
    with TraceStore(receiver.db_path) as store:
        return {r["span_id"] for r in store.db.query("SELECT span_id FROM spans")}


def finished_spans(count: int, attributes: dict[str, Any] | None = None) -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    for i in range(count):
        with provider.get_tracer("load").start_as_current_span(f"span-{i}", attributes=attributes):
            pass
    return list(memory.get_finished_spans())


def hex_ids(spans: list[ReadableSpan]) -> set[str]:
    return {format(s.context.span_id, "016x") for s in spans}


def at_once(count: int, send: Any) -> list[Any]:
    """``send(i)`` from ``count`` threads released together; their results (or exceptions), in order."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = send(i)
        except Exception as exc:  # what the test asserts on
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def raw_post(port: int, body: bytes, content_type: str = PROTOBUF) -> tuple[int, dict[str, str]]:
    """One request on its own connection; the status and headers, or the exception the client met."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT_S)
    try:
        conn.request("POST", "/v1/traces", body=body, headers={"Content-Type": content_type})
        response = conn.getresponse()
        response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()


# 9. The listen backlog


def test_64_concurrent_raw_senders_are_all_answered_without_a_reset(receiver: Receiver) -> None:
    """A burst of new connections waits in the listen backlog; with Python's default of 5 the kernel reset them."""
    bodies = [sdk_body(2) for _ in range(64 * 3)]
    for round_bodies in (bodies[:64], bodies[64:128], bodies[128:]):
        results = at_once(64, lambda i, sent=round_bodies: raw_post(receiver.port, sent[i])[0])
        assert results == [200] * 64
    assert len(span_ids(receiver)) == 64 * 3 * 2


def test_64_concurrent_sdk_exporters_all_succeed(receiver: Receiver) -> None:
    """The same burst from the OTel SDK's exporter (which retries a reset connection once, hiding most resets)."""
    batches = [finished_spans(3) for _ in range(64)]
    exporters = [OTLPSpanExporter(endpoint=receiver.endpoint) for _ in range(64)]
    results = at_once(64, lambda i: exporters[i].export(batches[i]))
    for exporter in exporters:
        exporter.shutdown()
    assert results == [SpanExportResult.SUCCESS] * 64
    assert span_ids(receiver) == set().union(*map(hex_ids, batches))


# 10. Bounded work in flight, fast retryable answers


@pytest.fixture
def locked_store(receiver: Receiver) -> Iterator[sqlite3.Connection]:
    """Another process's write transaction on the receiver's store (``spanlite traces delete``, say), held open."""
    conn = sqlite3.connect(receiver.db_path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    yield conn
    if conn.in_transaction:
        conn.execute("ROLLBACK")
    conn.close()


class _Retrying(logging.Handler):
    """Set once the OTel SDK's exporter says it will retry (it logs each transient error it retries)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "retrying" in record.getMessage():
            self.seen.set()


def test_a_locked_store_is_a_prompt_503_with_retry_after_then_the_sdk_retries_into_it(
    receiver: Receiver, locked_store: sqlite3.Connection
) -> None:
    status, headers = raw_post(receiver.port, sdk_body(2))  # it waited for the lock for 30 s: the client gave up
    assert status == 503 and int(headers["retry-after"]) >= 1
    spans = finished_spans(4)
    exporter = OTLPSpanExporter(endpoint=receiver.endpoint)
    retrying = _Retrying()
    sdk_logger = logging.getLogger("opentelemetry.exporter.otlp")
    sdk_logger.addHandler(retrying)
    try:
        result: list[SpanExportResult] = []
        sender = threading.Thread(target=lambda: result.append(exporter.export(spans)))
        sender.start()
        assert retrying.seen.wait(CLIENT_TIMEOUT_S)  # answered 503, it waits Retry-After before it tries again
        locked_store.execute("ROLLBACK")
        sender.join(timeout=60)
    finally:
        sdk_logger.removeHandler(retrying)
        exporter.shutdown()
    assert result == [SpanExportResult.SUCCESS]
    assert span_ids(receiver) >= hex_ids(spans)


def test_more_requests_than_it_can_take_are_answered_at_once_and_nothing_answered_200_is_lost(
    receiver: Receiver, locked_store: sqlite3.Connection
) -> None:
    """With the store locked, requests pile up: each is answered (429 or 503, with Retry-After) long before the
    client's timeout, instead of all of them waiting for the store."""
    bodies = [sdk_body(2) for _ in range(receiver_module.MAX_REQUESTS_IN_FLIGHT * 4)]
    results = at_once(len(bodies), lambda i: raw_post(receiver.port, bodies[i]))
    assert not [r for r in results if isinstance(r, Exception)], results
    assert {status for status, _ in results} <= {429, 503}
    assert 429 in {status for status, _ in results}  # refused before any work, not only once the store failed
    assert all(int(headers["retry-after"]) >= 1 for _, headers in results)

    locked_store.execute("ROLLBACK")
    batches = [finished_spans(3) for _ in range(32)]
    exporters = [OTLPSpanExporter(endpoint=receiver.endpoint) for _ in batches]
    outcomes = at_once(len(batches), lambda i: exporters[i].export(batches[i]))
    for exporter in exporters:
        exporter.shutdown()
    stored = span_ids(receiver)
    accepted = [batch for batch, outcome in zip(batches, outcomes) if outcome is SpanExportResult.SUCCESS]
    assert accepted, outcomes
    for batch in accepted:
        assert hex_ids(batch) <= stored


# 11. The body limit


def genai_spans(count: int, content_bytes: int) -> Iterator[dict[str, Any]]:
    """Attributes of chat spans about ``content_bytes`` long: a long prompt (retrieved documents, say) and an answer."""
    words = [f"w{i:x}" for i in range(5000)]
    prompt = " ".join(words[i % 5000] for i in range(content_bytes // 5))[:content_bytes]
    answer = orjson.dumps([{"role": "assistant", "parts": [{"type": "text", "content": "ok"}]}]).decode()
    for i in range(count):
        messages = [{"role": "user", "parts": [{"type": "text", "content": f"{i} {prompt}"}]}]
        yield {
            "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
            "gen_ai.input.messages": orjson.dumps(messages).decode(), "gen_ai.output.messages": answer,
            "gen_ai.usage.input_tokens": 20_000, "gen_ai.usage.output_tokens": 2,
        }  # fmt: skip


def test_a_default_sdk_batch_of_large_genai_spans_lands_whole(receiver: Receiver) -> None:
    """512 spans (the BatchSpanProcessor's default batch) of ~88 KB: a 43 MiB request, over the old 32 MiB limit."""
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=receiver.endpoint)))
    tracer = provider.get_tracer("rag")
    for i, attributes in enumerate(genai_spans(512, 88_000)):
        with tracer.start_as_current_span(f"chat {i}", attributes=attributes):
            pass
    provider.shutdown()
    with TraceStore(receiver.db_path) as store:
        assert store.stats()["spans"] == 512
        assert store.stats()["rejected_requests"] == {}


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_spanlite_serve_takes_a_body_limit(tmp_path: Path, how: str) -> None:
    db = tmp_path / "served.db"
    command = [sys.executable, "-m", "spanlite.cli", "serve", "--port", "0", "--db", str(db)]
    env = None
    if how == "flag":
        command += ["--max-body-size", "4KiB"]
    else:
        env = {**__import__("os").environ, "SPANLITE_MAX_BODY_BYTES": "4KiB"}
    with subprocess.Popen(command, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env) as server:
        try:
            assert server.stderr is not None
            banner = server.stderr.readline()
            port = int(re.search(r"127\.0\.0\.1:(\d+)/v1/traces", banner).group(1))  # type: ignore[union-attr]
            assert "bodies up to 4 KiB" in banner  # it says what it takes
            small = json_body(json_span("1111111111111111"))
            large = json_body(json_span("2222222222222222", name="x" * 5000))
            assert raw_post(port, small, JSON)[0] == 200
            assert raw_post(port, large, JSON)[0] == 413
        finally:
            server.terminate()
            server.wait(timeout=60)
    with TraceStore(db) as store:
        assert store.stats()["spans"] == 1


def test_a_bad_body_limit_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["serve", "--db", str(tmp_path / "x.db"), "--max-body-size", "lots"])
    assert "--max-body-size" in capsys.readouterr().err


# 12. Rejections: logged at WARNING, rate-limited, counted per reason


def test_rejections_are_warned_once_per_reason_and_counted_in_stats(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(_rejections, "WARN_EVERY_S", 3600.0)  # so that a slow machine cannot make it two
    caplog.set_level(logging.WARNING, logger="spanlite")
    db = tmp_path / "received.db"
    with start_receiver(db, max_body_bytes=4096) as r:
        for _ in range(5):
            assert post(r, b"x" * 5000)[0] == 413
        for _ in range(3):
            assert post(r, b"{", JSON)[0] == 400
        for _ in range(2):
            assert post(r, b"{}", "text/plain")[0] == 415
        assert post(r, json_body(json_span()), JSON)[0] == 200
        monkeypatch.setattr(_rejections, "WARN_EVERY_S", 0.0)
        assert post(r, b"x" * 5000)[0] == 413
    warnings = [rec.getMessage() for rec in caplog.records if rec.levelno == logging.WARNING]
    assert len([w for w in warnings if " 413 " in w]) == 2
    assert len([w for w in warnings if " 400 " in w]) == 1
    assert len([w for w in warnings if " 415 " in w]) == 1
    assert "4 more" in [w for w in warnings if " 413 " in w][1]  # the ones it did not warn of are told
    counts = {"too_large": 6, "malformed": 3, "unsupported_media_type": 2}
    with TraceStore(db) as store:
        assert store.stats()["rejected_requests"] == counts
    capsys.readouterr()
    assert cli.main(["--db", str(db), "stats", "--json"]) == 0
    assert orjson.loads(capsys.readouterr().out)["rejected_requests"] == counts


def test_rejections_are_counted_while_the_receiver_runs(receiver: Receiver) -> None:
    """``spanlite stats`` beside a running receiver sees them too, not only once it stops."""
    assert post(receiver, b"{}", "text/plain")[0] == 415
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with TraceStore(receiver.db_path) as store:
            if store.stats()["rejected_requests"] == {"unsupported_media_type": 1}:
                return
        time.sleep(0.1)
    pytest.fail("the rejection was never counted in the store")


# 13. Multi-member gzip


def test_a_10_mb_body_of_many_gzip_members_is_decoded(receiver: Receiver) -> None:
    """Gzip allows members back to back; each was decoded with a copy of all the rest: quadratic in their number."""
    space = gzip.compress(b" ", mtime=0)  # JSON allows whitespace after the value: the same member, 470,000 times
    body = gzip.compress(json_body(json_span()), mtime=0) + space * (10_000_000 // len(space))
    assert len(body) > 9_900_000
    conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=60)
    headers = {"Content-Type": JSON, "Content-Encoding": "gzip"}
    conn.request("POST", "/v1/traces", body=body, headers=headers)
    assert conn.getresponse().status == 200
    conn.close()
    assert span_ids(receiver) == {"eee19b7ec3c1b174"}


def test_a_gzip_bomb_of_many_members_is_refused_at_the_limit(tmp_path: Path) -> None:
    member = gzip.compress(b"\0" * (1 << 20), mtime=0)  # 1 MiB in about 1 KB
    with start_receiver(tmp_path / "bomb.db", max_body_bytes=8 << 20) as r:
        assert post(r, member * 8, PROTOBUF, {"Content-Encoding": "gzip"})[0] == 400  # 8 MiB of zeros: not OTLP
        assert post(r, member * 9, PROTOBUF, {"Content-Encoding": "gzip"})[0] == 413
        assert post(r, member * 2000, PROTOBUF, {"Content-Encoding": "gzip"})[0] == 413  # 2 GiB, stopped at 8 MiB
        assert post(r, sdk_body(2), PROTOBUF)[0] == 200


# 14. Connection cap and read timeouts


def closed_by_server(sock: socket.socket, deadline: float) -> bool:
    """Whether the server ends the connection (its answer, if any, read and ignored) before ``deadline``."""
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            if not sock.recv(65536):
                return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:
            return False
    return False


def test_slow_senders_are_cut_off_and_do_not_stop_well_behaved_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """500 connections that send a byte of a header now and then (each well within any per-read timeout, never
    reaching a bound on header lines) are closed once the whole header has taken too long, while the OTel SDK's
    exports go through meanwhile."""
    monkeypatch.setattr(receiver_module, "HEADER_TIMEOUT_S", 2.0)  # small, so that the test need not wait 10 s
    with start_receiver(tmp_path / "slow.db") as r:
        slow = [socket.create_connection(("127.0.0.1", r.port), timeout=10) for _ in range(500)]
        dripping = threading.Event()

        def drip() -> None:
            data = b"POST /v1/traces HTTP/1.1\r\nX-Slow: "
            while True:
                for sock in slow:
                    try:
                        sock.sendall(data)
                    except OSError:  # closed by the server
                        pass
                if dripping.wait(0.5):
                    return
                data = b"z"

        dripper = threading.Thread(target=drip)
        dripper.start()
        try:
            batches = [finished_spans(3) for _ in range(10)]
            exporter = OTLPSpanExporter(endpoint=r.endpoint)
            assert [exporter.export(batch) for batch in batches] == [SpanExportResult.SUCCESS] * 10
            exporter.shutdown()
            deadline = time.monotonic() + 60
            assert all(closed_by_server(sock, deadline) for sock in slow)
        finally:
            dripping.set()
            dripper.join()
            for sock in slow:
                sock.close()
        assert span_ids(r) == set().union(*map(hex_ids, batches))


def test_a_body_that_trickles_in_is_cut_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(receiver_module, "BODY_TIMEOUT_S", 2.0)  # small, so that the test need not wait 30 s
    body = sdk_body(2)
    with start_receiver(tmp_path / "trickle.db") as r:
        with socket.create_connection(("127.0.0.1", r.port), timeout=10) as sock:
            head = f"POST /v1/traces HTTP/1.1\r\nContent-Type: {PROTOBUF}\r\nContent-Length: {len(body)}\r\n\r\n"
            sock.sendall(head.encode())
            deadline = time.monotonic() + 60
            closed = False
            for byte in body:  # a byte every 0.2 s: each read waits far less than any per-read timeout
                try:
                    sock.sendall(bytes([byte]))
                except OSError:
                    closed = True
                    break
                if closed_by_server(sock, time.monotonic() + 0.2):
                    closed = True
                    break
                assert time.monotonic() < deadline
            assert closed
        assert post(r, sdk_body(2))[0] == 200


def test_connections_over_the_cap_are_answered_503_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(receiver_module, "MAX_CONNECTIONS", 8)  # small, so that the test opens few sockets
    with start_receiver(tmp_path / "cap.db") as r:
        idle = [socket.create_connection(("127.0.0.1", r.port), timeout=10) for _ in range(8)]
        try:
            assert post(r, sdk_body(2))[0] == 503  # (it waited behind the idle ones until the client gave up)
            status, headers = raw_post(r.port, sdk_body(2))
            assert status == 503 and int(headers["retry-after"]) >= 1
        finally:
            for sock in idle:
                sock.close()
        deadline = time.monotonic() + 60
        while (status := raw_post(r.port, sdk_body(2))[0]) != 200 and time.monotonic() < deadline:
            time.sleep(0.1)  # the server notices the closed connections in its own time
        assert status == 200
