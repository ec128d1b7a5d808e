"""Faults, process ends, load and hostile input: the app keeps working and every span is accounted for."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import spanlite
from spanlite import _config
from spanlite.store import TraceStore


def run_script(
    script: str, *args: str, env: dict[str, str] | None = None, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    import os

    environment = {**os.environ, "SPANLITE_STRICT": "0", **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=120, env=environment, **kwargs
    )


@spanlite.trace
def double(x: int) -> int:
    return x * 2


def test_store_locked_by_another_process_for_seconds_loses_nothing(db_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys, time\n"
         "c = sqlite3.connect(sys.argv[1], isolation_level=None)\nc.execute('BEGIN EXCLUSIVE')\n"
         "print('locked', flush=True)\ntime.sleep(2)\nc.execute('COMMIT')", str(db_path)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    assert [double(i) for i in range(200)] == [i * 2 for i in range(200)]  # the app is not held up
    holder.communicate(timeout=30)
    assert spanlite.flush()
    with TraceStore(db_path) as store:
        assert (store.stats()["spans"], store.stats()["dropped_spans"]) == (200, 0)


def test_read_only_store_drops_and_counts_without_raising(
    db_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("spanlite.tracing._processor.MAX_ATTEMPTS", 2)
    processor = _config._pipeline.processors[0]  # type: ignore[union-attr]
    exporter = processor.exporter
    exporter._writer._conn.execute("PRAGMA query_only = ON")  # the file can be read but not written
    assert [double(i) for i in range(5)] == [0, 2, 4, 6, 8]
    spanlite.flush(timeout_s=3)  # retried, then given up on (by the worker or by this flush)
    assert processor.dropped == 5
    warnings = [r.message for r in caplog.records if "cannot write spans" in r.getMessage()]
    assert len(warnings) == 1
    exporter._writer._conn.execute("PRAGMA query_only = OFF")  # writable again: new spans land, drops are recorded
    assert double(21) == 42
    assert spanlite.flush()
    with TraceStore(db_path) as store:
        assert (store.stats()["spans"], store.stats()["dropped_spans"]) == (1, 5)


def test_store_deleted_while_running_is_recreated(db_path: Path) -> None:
    double(1)
    assert spanlite.flush()
    for path in db_path.parent.glob(db_path.name + "*"):
        path.unlink()
    assert double(2) == 4
    assert spanlite.flush()
    with TraceStore(db_path) as store:
        assert [s.inputs for t in store.search_traces() for s in store.get_trace(t.trace_id).spans] == [{"x": 2}]  # type: ignore[union-attr]


FULL_DISK = """
import resource, signal, sys, spanlite
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead of killing us
spanlite.configure(db=sys.argv[1])
import spanlite.tracing._processor as p
p.MAX_ATTEMPTS = 2
limit = 400_000
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

@spanlite.trace
def work(i, text):
    return i + 1

results = [work(i, "x" * 2000) for i in range(600)]
assert results == list(range(1, 601)), results
spanlite.flush(timeout_s=5)
print("app finished", flush=True)
"""


def test_full_disk_keeps_the_app_working_and_warns_once(tmp_path: Path) -> None:
    result = run_script(FULL_DISK, str(tmp_path / "full.db"))
    assert result.returncode == 0, result.stderr
    assert "app finished" in result.stdout
    assert result.stderr.count("cannot write spans") == 1
    assert "spanlite dropped" in result.stderr
    with TraceStore(tmp_path / "full.db") as store:
        assert store.rows("PRAGMA integrity_check")[0]["integrity_check"] == "ok"


CORRUPT_DEFAULT = """
import spanlite
@spanlite.trace
def work(i):
    return i * 3
print([work(i) for i in range(3)])
"""


def test_corrupt_default_store_never_breaks_the_app(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database " * 1000)
    result = run_script(CORRUPT_DEFAULT, env={"SPANLITE_DB": str(garbage)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[0, 3, 6]"
    assert result.stderr.count("cannot use its default store") == 1
    assert "dropped 3 spans" in result.stderr


@pytest.mark.parametrize("command", [["traces", "list"], ["stats"], ["ui"]])
def test_cli_and_viewer_give_a_clear_error_on_a_bad_or_newer_store(tmp_path: Path, command: list[str]) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database " * 1000)
    newer = tmp_path / "newer.db"
    with TraceStore(newer) as store:
        store.db["_sqlite_migrations"].insert({"migration_set": "spanlite", "name": "m999_future", "applied_at": ""})
    for path, message in ((garbage, "not a usable spanlite trace store"), (newer, "newer spanlite")):
        result = subprocess.run([sys.executable, "-m", "spanlite.cli", *command, "--db", str(path)],
                                capture_output=True, text=True, timeout=60)  # fmt: skip
        assert result.returncode == 1
        assert message in result.stderr and "Traceback" not in result.stderr


ENDINGS = """
import os, signal, sys, time, spanlite
spanlite.configure(db=sys.argv[1])
how = sys.argv[2]
with spanlite.start_span("before-" + how):
    pass
if how == "sigkill":
    spanlite.flush()
    with spanlite.start_span("unflushed"):
        pass
    os.kill(os.getpid(), signal.SIGKILL)
if how == "sigterm":
    print("ready", flush=True)
    time.sleep(60)
if how == "exit":
    sys.exit(3)
if how == "raise":
    raise RuntimeError("unhandled")
"""


@pytest.mark.parametrize("how", ["normal", "exit", "raise", "sigterm", "sigkill"])
def test_spans_ended_before_the_process_ends_are_stored(tmp_path: Path, how: str) -> None:
    path = tmp_path / "end.db"
    process = subprocess.Popen([sys.executable, "-c", ENDINGS, str(path), how], stdout=subprocess.PIPE, text=True)
    if how == "sigterm":
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        process.send_signal(signal.SIGTERM)
    process.communicate(timeout=60)
    code = process.returncode
    expected = {"normal": 0, "exit": 3, "raise": 1, "sigterm": -signal.SIGTERM, "sigkill": -signal.SIGKILL}[how]
    assert code == expected
    with TraceStore(path) as store:
        assert [t.name for t in store.search_traces()] == [f"before-{how}"]
        assert store.rows("PRAGMA integrity_check")[0]["integrity_check"] == "ok"


LOAD = """
import sys, threading, time, spanlite
spanlite.configure(db=sys.argv[1])
stop = time.monotonic() + float(sys.argv[2])
counts = []
def worker():
    n = 0
    while time.monotonic() < stop:
        with spanlite.start_span("load", inputs={"n": n, "prompt": "p" * 2000}) as span:
            with spanlite.start_span("child", kind="TOOL"):
                n += 2
            span.set_outputs({"n": n})
    counts.append(n)
threads = [threading.Thread(target=worker) for _ in range(int(sys.argv[3]))]
for t in threads: t.start()
for t in threads: t.join()
print(sum(counts), flush=True)
if sys.argv[4] == "flush":
    spanlite.flush()
"""

READER = """
import sys, time
from spanlite.store import TraceStore
stop = time.monotonic() + float(sys.argv[2])
while time.monotonic() < stop:
    try:
        with TraceStore(sys.argv[1]) as store:
            store.search_traces(limit=50)
            store.stats()
    except Exception:  # the store may not exist yet
        pass
    time.sleep(0.05)
"""


def test_threads_and_processes_under_load_account_for_every_span(tmp_path: Path) -> None:
    """Five apps write one store at full speed for 10 s while a viewer-like reader reads it: writer processes and
    in-process writers side by side, and half of the apps leave with a backlog for the exit to store or count."""
    import os

    path = tmp_path / "load.db"
    seconds = "10"
    apps = [("process", "flush"), ("process", "exit"), ("auto", "flush"), ("auto", "exit"), ("thread", "exit")]
    processes = [
        subprocess.Popen([sys.executable, "-c", LOAD, str(path), seconds, "2", end], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "SPANLITE_STRICT": "0", "SPANLITE_WRITER": writer})
        for writer, end in apps
    ]  # fmt: skip
    reader = subprocess.Popen([sys.executable, "-c", READER, str(path), seconds])
    outputs = [p.communicate(timeout=120) for p in processes]
    assert reader.wait(timeout=60) == 0
    assert [p.returncode for p in processes] == [0] * len(apps), [err for _, err in outputs]
    produced = sum(int(out) for out, _ in outputs)
    # Drops the exit could not write into a store that other apps kept busy are counted in the app's warning instead.
    unrecorded = re.compile(r"(\d+) of them are not counted in `spanlite stats`")
    warned = sum(int(n) for _, err in outputs for n in unrecorded.findall(err))
    with TraceStore(path) as store:
        stats = store.stats()
    assert produced > 10_000
    # Every span is stored or counted. A batch still being written at an app's exit deadline is counted as dropped,
    # and stored as well if its write finishes: at most one batch (512) over per app, never one under.
    accounted = stats["spans"] + stats["dropped_spans"] + warned
    assert produced <= accounted <= produced + 512 * len(apps), (accounted - produced, [err for _, err in outputs])


def test_span_names_and_attributes_of_any_type() -> None:
    class Weird:
        def __repr__(self) -> str:
            raise ValueError("no")

    weird_attributes = {1: Weird(), "list": [1, "a", None], "none": None, "b": b"\x00"}
    with spanlite.start_span(12345, attributes=weird_attributes) as span:  # type: ignore[arg-type]
        span.set_attribute(("tuple", "key"), {1, 2})  # type: ignore[arg-type]
        span.add_event(None, {"x": float("inf")})  # type: ignore[arg-type]
    assert spanlite.flush()
    (trace,) = spanlite.search_traces()
    record = spanlite.get_trace(trace.trace_id).spans[0]  # type: ignore[union-attr]
    assert record.name == "12345"
    assert record.attributes["1"] == '"<unrepresentable Weird>"'


SQL_METACHARACTERS = ["'", '"', "';--", "%", "_", "\\", "*", ")", "OR 1=1", "\x00", "é", "NEAR(", "a:b", "^"]


@pytest.mark.parametrize("text", SQL_METACHARACTERS)
def test_sql_and_fts_metacharacters_in_every_search_field(text: str, db_path: Path) -> None:
    double(1)
    spanlite.flush()
    with TraceStore(db_path) as store:
        for filters in ({"name": text}, {"tags": [text]}, {"session_id": text}, {"user_id": text}, {"text": text},
                        {"metadata": {text: text}}, {"model": text}, {"feedback": (text, "=", text)}):  # fmt: skip
            if "\x00" in text:
                with pytest.raises(ValueError, match="NUL"):
                    store.search_traces(**filters)
            else:
                assert store.search_traces(**filters) == []
        assert store.stats()["spans"] == 1


def test_secrets_never_reach_the_store(db_path: Path) -> None:
    from spanlite.tracing.redaction import emails

    spanlite.configure(db=db_path, redact=emails)
    inputs = {
        "headers": {"Authorization": "Bearer abcdefghijklmnopqrstuvwxyz"},
        "api_key": "plain-secret",
        "note": "key sk-ant-abcdefghijklmnopqrstuvwxyz0123",
        "contact": "ada@example.com",
    }
    with spanlite.start_span("call", inputs=inputs) as span:
        span.set_attribute("aws", "AKIAABCDEFGHIJKLMNOP")
    spanlite.flush()
    with TraceStore(db_path) as store:
        dump = json.dumps(store.rows("SELECT * FROM spans"))
    for secret in ("abcdefghijklmnopqrstuvwxyz", "plain-secret", "sk-ant-", "AKIAABCDEFGHIJKLMNOP", "ada@example.com"):
        assert secret not in dump
    assert "[REDACTED]" in dump and "[EMAIL]" in dump


def test_redaction_hints_never_skip_a_credential() -> None:
    """``secrets`` runs some patterns only when a cheap substring hint is present, and finds named values in the
    lower-cased text; the result must be the same as running every pattern on every text, case-insensitively."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from spanlite.tracing import _secret_names, redaction

    def every_pattern(text: str) -> str:
        text = _secret_names._redact(text, text, _secret_names._PATTERNS_ANY_CASE)
        for _, form, replacement in redaction._FORMS:
            text = form.sub(replacement, text)
        return text

    names = ["authorization", "Proxy-Authorization", "API_KEY", "api-key", "apikey", "X-Api-Key", "access_token",
             "Access-Token", "accesstoken", "password", "SECRET", "client_secret", "prompt_tokens", "token",
             "db_password", "api_token", "aws_secret_access_key", "private_key", "secret_key", "auth_token", "auth",
             "eos_token", "max_tokens", "token_count", "key", "cache_key", "Cookie", "credentials",
             "İ_api_key"]  # fmt: skip
    quotes = ['"', "'", '\\"', "", '\\\\\\"']
    fields = st.builds(lambda q, name, sep, vq, value: f"{q}{name}{q}{sep}{vq}{value}{vq}", st.sampled_from(quotes),
                       st.sampled_from(names), st.sampled_from([": ", "=", ":"]), st.sampled_from(quotes),
                       st.text(max_size=12))  # fmt: skip
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----"
    tokens = st.sampled_from(["sk-proj-" + "a" * 24, "AKIA" + "B" * 16, "ghp_" + "c" * 30, "xoxb-" + "d" * 10,
                              "AIza" + "e" * 35, "eyJ" + "f" * 8 + "." + "g" * 8 + "." + "h" * 8, "Bearer abcdefghij",
                              "basic QWxhZGRpbjpvcGVu", "Slovakia", "task-list", "sk_live_" + "i" * 24,
                              "rk_test_" + "j" * 12, "github_pat_" + "k" * 30, pem, pem[:40], "AKIAZ7XQ4MLP2RN8TVWE",
                              "u7Kq2+Xv9Lm/Rt4Wp8Zs3Nc6Yb1Hd5Fg0Jk2Qe7A", "3f786850e387550fdab836ed7e6dc881de23001b",
                              "postgres://u:p@h/db", "https://x@y.z", "\x00", "İ"])  # fmt: skip
    texts = st.lists(fields | tokens | st.text(max_size=8), max_size=6).map(" ".join)

    @settings(max_examples=300, deadline=None)
    @given(texts)
    def same(text: str) -> None:
        assert redaction.secrets(text) == every_pattern(text)

    same()


def test_exporter_from_a_dying_store_never_raises_into_the_app(db_path: Path) -> None:
    exporter = _config._pipeline.processors[0].exporter  # type: ignore[union-attr]
    exporter._writer._conn.close()  # the connection is gone under the exporter
    results = []
    threads = [threading.Thread(target=lambda: results.append(double(3))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [6, 6, 6, 6]
    time.sleep(0.3)


def test_search_filters_accept_any_text(db_path: Path) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    double(1)
    spanlite.flush()
    store = TraceStore(db_path)
    words = st.text(max_size=30)

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(name=words, tag=words, session=words, text=words, key=words, value=words | st.integers() | st.booleans())
    def search(name: str, tag: str, session: str, text: str, key: str, value: object) -> None:
        try:
            store.search_traces(name=name, tags=[tag], session_id=session, text=text, metadata={key: value})
            store.search_traces(text=text, feedback=(key, "<", value))
        except ValueError:
            pass  # a clear refusal (NUL characters) is fine; anything else is a bug
        assert store.stats()["spans"] == 1

    search()
    store.close()


def test_hundred_megabyte_and_odd_inputs_are_stored_bounded(db_path: Path) -> None:
    deep: Any = "bottom"
    for _ in range(1_000):
        deep = {"next": deep}

    @spanlite.trace
    def ingest(document: str, raw: bytes, broken: str, numbers: list[float], nested: Any) -> int:
        return len(document)

    result = ingest("x" * 100_000_000, b"\xff\xfe" * 1000, "bad \udcff text", [float("nan"), float("inf")], deep)
    assert result == 100_000_000
    spanlite.flush()
    span = spanlite.get_trace(spanlite.search_traces()[0].trace_id).spans[0]  # type: ignore[union-attr]
    assert span.inputs["document"]["original_bytes"] == 100_000_000
    assert span.inputs["raw"]["bytes"] == 2000
    assert "\udcff" not in json.dumps(span.inputs["broken"])
    with TraceStore(db_path) as store:
        assert store.rows("SELECT length(inputs) AS n FROM spans")[0]["n"] < 300_000


def test_viewer_binds_to_this_machine_only_by_default(tmp_path: Path) -> None:
    from spanlite.viewer.launch import viewer_command

    argv, _ = viewer_command(tmp_path / "t.db", port=8501)
    assert argv[argv.index("--server.address") + 1] == "127.0.0.1"
    ui_help = [sys.executable, "-m", "spanlite.cli", "ui", "--help"]
    help_text = subprocess.run(ui_help, capture_output=True, text=True).stdout
    assert "127.0.0.1" in help_text


def test_redaction_of_a_row_falls_back_per_column_when_text_holds_nul() -> None:
    from spanlite.store._rows import redact_row
    from spanlite.tracing.redaction import secrets

    row = {"inputs": '{"api_key":"k1"}', "outputs": None, "attributes": "{}", "events": None,
           "status_message": "bad\x00Bearer abcdefghijklmnop", "name": "Bearer abcdefghijklmnop"}  # fmt: skip
    redacted = redact_row(row, secrets)
    assert redacted["inputs"] == '{"api_key":"[REDACTED]"}'
    assert redacted["status_message"] == "bad\x00Bearer [REDACTED]"
    assert redacted["name"] == "Bearer [REDACTED]" and redacted["outputs"] is None


@pytest.mark.parametrize("writer", ["thread", "process"])
def test_a_span_that_cannot_be_stored_costs_only_itself(
    db_path: Path, writer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPANLITE_WRITER", writer)
    spanlite.configure(db=db_path)
    too_deep = '{"a":' * 300 + "1" + "}" * 300  # valid JSON, but beyond what the store's JSON writer nests
    for i in range(5):
        with spanlite.start_span(f"span {i}") as span:
            if i == 2:
                span.set_attribute("spanlite.trace.metadata", too_deep)
    spanlite.flush()  # the five end in one batch
    with TraceStore(db_path) as store:
        stats = store.stats()
        names = {t.name for t in store.search_traces()}
    assert names == {"span 0", "span 1", "span 3", "span 4"}
    assert stats["dropped_spans"] == 1


def test_spans_that_can_never_be_stored_are_dropped_at_once_not_retried(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    too_deep = '{"a":' * 300 + "1" + "}" * 300
    with spanlite.start_span("cannot be stored") as span:
        span.set_attribute("spanlite.trace.metadata", too_deep)
    spanlite.flush()
    with spanlite.start_span("stored"):
        pass
    spanlite.flush()
    with TraceStore(db_path) as store:
        assert [t.name for t in store.search_traces()] == ["stored"]
        assert store.stats()["dropped_spans"] == 1
    assert not [r for r in caplog.records if "retrying" in r.getMessage()]
