"""No secret is ever stored or exported: realistic fake keys planted in every field, then every byte grepped.

Every byte of the store (the db, -wal and -shm files, while the app runs and after it closed the store), of a
receiver's store, and of what an OTLP backend receives, is searched for each planted secret. Ordinary text that
looks a little like a secret (token counts, hashes, URLs without credentials) must come back unchanged.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

import spanlite
from spanlite import _config
from spanlite.otlp import start_receiver
from spanlite.store import TraceStore
from spanlite.tracing import redaction
from spanlite.tracing.serialize import to_json

# Fake credentials in each provider's real format (none of them is valid anywhere).
AWS_KEY_ID = "AKIAZ7XQ4MLP2RN8TVWE"
AWS_SECRET = "u7Kq2+Xv9Lm/Rt4Wp8Zs3Nc6Yb1Hd5Fg0Jk2Qe7A"
FORMATS = {
    "openai": "sk-proj-Rk3vT9qLm2Xw8ZpA4sNc7YbD1fGh6JuE0iKo5Wq",
    "anthropic": "sk-ant-api03-Vb7Nq2Lx9Tz4Rw1Kp8Mc3Jd6Fh0Gs5Ya-Qe2Wu7Io4",
    "aws key id": AWS_KEY_ID,
    "aws secret": AWS_SECRET,
    "github fine-grained": "github_pat_11AXQ3K7Y0aB3cD5eF7gH9_kL2mN4pQ6rS8tU0vW2xY4zA6bC8dE0fG2hJ4kL6mN8pQ0rS2tU4vW6"
    "xY8zA0bC2",
    "github classic": "ghp_Tq8Lx2Vz7Rk4Wm9Ys3Nb6Hc1Jd5Fg0Ke2Pa",
    "stripe live": "sk_live_51HxQ8LkT2vRzM9wYpA3sNc7Db",
    "stripe restricted": "rk_live_51HxQ8LkT2vRzM9wYpA3sNc7Dc",
    "stripe test": "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
    "slack": "xoxb-2048-4096-AbCdEfGhIjKlMnOp",
    "google": "AIzaSyD3vT9qLm2Xw8ZpA4sNc7YbD1fGh6JuE0iQ",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ",
    "bearer": "d8Fq2Lx7Tz4Rw9Kp1Mc6Jd",
    "url password": "Tr0ub4dor-and-3",
    "pem body": "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj",
    "key=value": "kv-pass-Qz81",
    "key: value": "kv-tok-Wm27",
}
PEM = f"-----BEGIN PRIVATE KEY-----\n{FORMATS['pem body']}\nMwIDAQABAoIBAFhx2Gq7r3zLkP9==\n-----END PRIVATE KEY-----"
# One text holding every format, as a log line or a model's echo of a pasted config would.
TEXT = (
    f"openai {FORMATS['openai']} anthropic {FORMATS['anthropic']} aws {AWS_KEY_ID} {AWS_SECRET} "
    f"gh {FORMATS['github fine-grained']} {FORMATS['github classic']} stripe {FORMATS['stripe live']} "
    f"{FORMATS['stripe restricted']} {FORMATS['stripe test']} slack {FORMATS['slack']} google {FORMATS['google']} "
    f"jwt {FORMATS['jwt']} header Authorization: Bearer {FORMATS['bearer']} "
    f"db postgres://app_user:{FORMATS['url password']}@db.internal:5432/orders "
    f"env DB_PASSWORD={FORMATS['key=value']} yaml api_token: {FORMATS['key: value']} key {PEM}"
)
# Values whose only sign of being secret is the name they are given.
NAMED = {
    "db_password": "pw-7Hq2Lx9Vz",
    "api_token": "tok-3Jf8Kd2Qm",
    "aws_secret_access_key": "Zr5Tq8Wv2Xn7/Lk4Mp9Yb3Hc6Jd1Fg0Ks2Qe5Ua8",
    "client_secret": "cs-9Wx4Rt7Yp",
    "private_key": "pk-5Nb2Vc8Lm",
    "secret_key": "sk2-4Gh7Jk1Df",
    "auth_token": "at-6Qw3Er9Ty",
}
DICT_PASSWORD = "dict-pw-Lq38"  # {"password": ...} inside a dict attribute
JSON_PASSWORD = "json-pw-Vx52"  # the same inside a string attribute that holds JSON
REPR_PASSWORD = "repr-pw-Kc94"  # {'password': ...} in an exception message
AUTH_TUPLE = "tuple-pw-Hn61"  # auth=("user", ...), a list under a secret name
NESTED = "otp-8812-Rb4"  # credentials={...}, a dict under a secret name
NUMERIC_PIN = 4729183  # {"password": <an int>}
ATTRIBUTE_PASSWORD = "attr-pw-Jd73"  # span.set_attribute("db.password", ...): the name is the key
HEADER_KEYS = ("hdr-key-Tp40", "hdr-key-Ws19")  # an attribute array, as OTel records HTTP headers
SECRETS = [*FORMATS.values(), *NAMED.values(), DICT_PASSWORD, JSON_PASSWORD, REPR_PASSWORD, AUTH_TUPLE, NESTED,
           str(NUMERIC_PIN), ATTRIBUTE_PASSWORD, *HEADER_KEYS]  # fmt: skip

# Ordinary text that must come back as it went in.
ANSWER = (
    "The capital of France is Paris. Build 3f786850e387550fdab836ed7e6dc881de23001b passed; see "
    "https://docs.example.com/v1/guide?page=2 and checksum q5Xz2Lk9Vw3Rt7Yp1Mn4Bc8Df6Gh0Js2Ka5Qe9W."
)
QUESTION = "What is the capital of France?"
DETAILS = {
    "max_tokens": 256,
    "usage": {"prompt_tokens": 12, "completion_tokens": 7, "token_count": 19, "input_tokens": 12, "max_tokens": 64},
    "logprobs": [{"token": "Paris", "logprob": -0.01}],
    "tokenizer": {"eos_token": "</s>", "pad_token": "<pad>"},
    "timing": {"time_to_first_token": 0.25},
    "key": "cache-entry-7",
    "author": "Ada Lovelace",
    "passage": "She passed the key to the author.",
}


def test_the_planted_secrets_are_what_they_claim() -> None:
    assert len(AWS_SECRET) == len(NAMED["aws_secret_access_key"]) == 40


def leaks(data: bytes) -> list[str]:
    """The planted secrets found in ``data``: as text, and as JSON would escape them (PEM lines, quotes)."""
    found = []
    for secret in SECRETS:
        forms = {secret.encode(), json.dumps(secret)[1:-1].encode()}
        if any(form in data for form in forms):
            found.append(secret)
    return found


def store_leaks(path: Path) -> dict[str, list[str]]:
    """Planted secrets found in each file of the store at ``path`` (db, -wal, -shm), byte for byte."""
    found = {}
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists() and (hits := leaks(file.read_bytes())):
            found[file.name] = hits
    return found


@spanlite.trace(name=f"connect {TEXT}")
def connect(dsn: str, options: dict[str, Any], **secret_kwargs: Any) -> None:
    """A traced function that meets secrets everywhere a span can hold one, then fails with one in its message."""
    spanlite.update_current_trace(
        tags=[f"tag {TEXT}", "env=prod"],
        metadata={"note": TEXT, "api_key": NAMED["api_token"], "nested": {"password": DICT_PASSWORD}},
        session_id=f"session {TEXT}",
        user_id=f"user {TEXT}",
    )
    span = spanlite.current_span()
    span.add_event(f"retry {TEXT}", {"detail": TEXT, "config": {"password": DICT_PASSWORD, "pin": 3},
                                     "password": ATTRIBUTE_PASSWORD})  # fmt: skip
    span.set_attribute("db.password", ATTRIBUTE_PASSWORD)
    span.set_attribute("http.request.header.x-api-key", HEADER_KEYS)
    span.set_attribute("config", {"db": {"password": DICT_PASSWORD, "port": 5432}, "secret": NUMERIC_PIN})
    span.set_attribute("raw_config", json.dumps({"password": JSON_PASSWORD, "host": "db.internal"}))
    span.set_attribute("note", TEXT)
    span.set_attribute("commit", "3f786850e387550fdab836ed7e6dc881de23001b")
    with spanlite.start_span(f"child {TEXT}", inputs={"text": TEXT}) as child:
        child.set_outputs(TEXT)
        child.otel_span.add_link(span.otel_span.get_span_context(), {"note": TEXT, "password": ATTRIBUTE_PASSWORD})
        child.otel_span.set_status(Status(StatusCode.ERROR, f"upstream said {TEXT}"))
    raise ValueError(f"cannot connect with {{'password': '{REPR_PASSWORD}', 'user': 'ada'}} via {TEXT}")


@spanlite.trace
def answer(question: str, details: dict[str, Any]) -> str:
    return ANSWER


def plant_everywhere() -> str:
    """Trace a call that meets every kind of secret; returns the trace id."""
    with spanlite.start_span(f"request {TEXT}") as root:
        with pytest.raises(ValueError):
            connect(
                f"postgres://app_user:{FORMATS['url password']}@db.internal:5432/orders",
                {"retries": 3, "password": DICT_PASSWORD},
                auth=("svc-user", AUTH_TUPLE),
                credentials={"user": "ada", "otp": NESTED},
                **NAMED,
            )
        answer(QUESTION, DETAILS)
    return root.trace_id


def assert_ordinary_text_kept(path: Path, trace_id: str) -> None:
    with TraceStore(path) as store:
        trace = store.get_trace(trace_id)
    assert trace is not None
    [span] = [s for s in trace.spans if s.name == "answer"]
    assert span.inputs == {"question": QUESTION, "details": DETAILS} and span.outputs == ANSWER
    [connect_span] = [s for s in trace.spans if s.name.startswith("connect")]
    assert connect_span.attributes["commit"] == "3f786850e387550fdab836ed7e6dc881de23001b"
    assert connect_span.inputs["dsn"] == "postgres://app_user:[REDACTED]@db.internal:5432/orders"
    assert connect_span.inputs["options"] == {"retries": 3, "password": "[REDACTED]"}


@pytest.mark.parametrize("writer", ["thread", "process"])
def test_no_secret_reaches_any_byte_of_the_store(writer: str, db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPANLITE_WRITER", writer)
    spanlite.configure(db=db_path)
    trace_id = plant_everywhere()
    assert spanlite.flush()
    assert store_leaks(db_path) == {}  # while the app runs: the WAL holds the newest pages
    assert_ordinary_text_kept(db_path, trace_id)
    with TraceStore(db_path) as store:
        [summary] = store.search_traces()
    assert (summary.span_count, summary.error_count) == (4, 2) and summary.name.startswith("request openai [REDACTED]")
    _config._shutdown()  # checkpoints the WAL into the db
    assert store_leaks(db_path) == {}


def foreign_spans() -> list[Any]:
    """Spans from a plain OTel SDK (another app, another instrumentor) holding secrets in every field."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout", "deploy.note": TEXT}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("other.instrumentor")
    with tracer.start_as_current_span(f"agent {TEXT}") as root:
        root.set_attributes({
            "openinference.span.kind": "AGENT",
            "input.value": json.dumps({"query": TEXT, "password": DICT_PASSWORD, "nested": json.dumps(NAMED)}),
            "output.value": TEXT,
            "session.id": f"session {TEXT}",
            "user.id": f"user {TEXT}",
            "tag.tags": [f"tag {TEXT}"],
            "metadata": json.dumps({"note": TEXT, "client_secret": NAMED["client_secret"]}),
            "db.password": ATTRIBUTE_PASSWORD,
            "http.request.header.x-api-key": HEADER_KEYS,
        })  # fmt: skip
        with tracer.start_as_current_span(f"tool {TEXT}") as child:
            child.add_event(f"event {TEXT}", {"detail": TEXT})
            child.record_exception(ValueError(f"bad config {{'password': '{REPR_PASSWORD}'}} {TEXT}"))
            child.set_status(Status(StatusCode.ERROR, f"failed: {TEXT}"))
    provider.shutdown()
    return list(exporter.get_finished_spans())


def post(port: int, body: bytes, content_type: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/v1/traces", body=body, headers={"Content-Type": content_type})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def otlp_json(request: Any) -> bytes:
    """OTLP/JSON for a protobuf request: protobuf's JSON mapping, with ids as hex as OTLP/JSON wants them."""
    data = json_format.MessageToDict(request)
    for resource_spans in data["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            for span in scope_spans["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return json.dumps(data).encode()


@pytest.mark.parametrize("content_type", ["application/x-protobuf", "application/json"])
def test_no_secret_received_over_otlp_is_stored(content_type: str, tmp_path: Path) -> None:
    request = encode_spans(foreign_spans())
    body = request.SerializeToString() if content_type == "application/x-protobuf" else otlp_json(request)
    assert leaks(body)  # the request itself is full of them
    path = tmp_path / "received.db"
    with start_receiver(path) as receiver:
        assert post(receiver.port, body, content_type) == 200
        assert store_leaks(path) == {}
        with TraceStore(path) as store:
            [summary] = store.search_traces()
        assert summary.span_count == 2 and summary.session_id is not None
    assert store_leaks(path) == {}


class _Capture(BaseHTTPRequestHandler):
    """An OTLP/HTTP backend that keeps every body it receives, as it arrived (decompressed)."""

    bodies: list[bytes]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        encoding = self.headers.get("Content-Encoding")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        self.bodies.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def raw_backend() -> Iterator[tuple[str, list[bytes]]]:
    """Not ``otlp_backend``: our receiver redacts what it stores, which would hide an export that leaks."""
    bodies: list[bytes] = []
    handler = type("Capture", (_Capture,), {"bodies": bodies})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", bodies
    finally:
        server.shutdown()
        server.server_close()


def test_no_secret_is_exported_over_otlp(
    raw_backend: tuple[str, list[bytes]], db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint, bodies = raw_backend
    # The resource every span carries: an app's own attributes, from its environment.
    dsn = f"postgres://app_user:{FORMATS['url password']}@db.internal/orders"
    resource = f"deploy.dsn={dsn},api_key={NAMED['auth_token']}"
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", resource)
    spanlite.configure(db=db_path, otlp_endpoint=endpoint)
    plant_everywhere()
    assert spanlite.flush()
    sent = b"".join(bodies)
    assert b"ORDINARY" not in sent and b"Paris" in sent  # the spans did reach the backend
    assert b"deploy.dsn" in sent and leaks(sent) == []
    spanlite.configure(db=db_path)


@pytest.mark.parametrize(
    "name",
    ["db_password", "api_token", "aws_secret_access_key", "client_secret", "private_key", "secret_key", "auth_token",
     "password", "Authorization", "x-api-key", "apiKey", "accessToken", "refresh_token", "credentials", "cookie",
     "passphrase", "auth", "openai_api_key", "api_keys"],
)  # fmt: skip
def test_names_of_secrets(name: str) -> None:
    assert redaction.is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    ["prompt_tokens", "max_tokens", "token_count", "input_tokens", "tokens", "token", "tokenizer", "eos_token",
     "pad_token", "time_to_first_token", "key", "cache_key", "primary_key", "aws_access_key_id", "author",
     "passage", "session_id", "keyword", "monkey"],
)  # fmt: skip
def test_ordinary_names(name: str) -> None:
    assert not redaction.is_secret_name(name)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"password": "hunter2"}', '{"password": "[REDACTED]"}'),
        ('{"password": 4729183, "n": 1}', '{"password": "[REDACTED]", "n": 1}'),
        ('{"attr": "{\\"password\\": \\"hunter2\\"}"}', '{"attr": "{\\"password\\": \\"[REDACTED]\\"}"}'),
        ('{"a": "{\\"b\\": \\"{\\\\\\"api_key\\\\\\": \\\\\\"k1\\\\\\"}\\"}"}',
         '{"a": "{\\"b\\": \\"{\\\\\\"api_key\\\\\\": \\\\\\"[REDACTED]\\\\\\"}\\"}"}'),
        ("ValueError: {'password': 'hunter2', 'user': 'ada'}", "ValueError: {'password': '[REDACTED]', 'user': 'ada'}"),
        ("connect(db_password='hunter2', port=5432)", "connect(db_password='[REDACTED]', port=5432)"),
        ("DB_PASSWORD=hunter2 HOST=db", "DB_PASSWORD=[REDACTED] HOST=db"),
        ("client_secret: abc123\nport: 1", "client_secret: [REDACTED]\nport: 1"),
        ("GET /x?api_key=abc123&page=2", "GET /x?api_key=[REDACTED]&page=2"),
        ("Authorization: Bearer abcdefghij12", "Authorization: [REDACTED]"),
        ("postgres://app:s3cr3t@db:5432/x", "postgres://app:[REDACTED]@db:5432/x"),
        ("redis://:s3cr3t@cache:6379", "redis://:[REDACTED]@cache:6379"),
        (f"key {PEM} end", f"key {redaction.REDACTED} end"),
        (json.dumps({"k": PEM}), json.dumps({"k": redaction.REDACTED})),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow", redaction.REDACTED),
        (f"pair {AWS_KEY_ID} {AWS_SECRET}", f"pair {redaction.REDACTED} {redaction.REDACTED}"),
        ('{"api_key": null, "password": true}', '{"api_key": null, "password": true}'),
        ('{"x-api-key":["k1","k2"],"n":1}', '{"x-api-key":"[REDACTED]","n":1}'),
        ("connect(auth=('svc', 'pw1'), retries=3)", "connect(auth=[REDACTED], retries=3)"),
    ],
)  # fmt: skip
def test_text_forms(text: str, expected: str) -> None:
    assert redaction.secrets(text) == expected
    assert redaction.secrets(expected) == expected  # idempotent


@pytest.mark.parametrize(
    "text",
    [
        ANSWER,
        "commit 3f786850e387550fdab836ed7e6dc881de23001b and base64 q5Xz2Lk9Vw3Rt7Yp1Mn4Bc8Df6Gh0Js2Ka5Qe9W",
        "see https://user@example.com/a and https://example.com:8443/path@v2",
        '{"usage": {"prompt_tokens": 12, "max_tokens": 64, "token_count": 3}, "token": "Paris", "key": "k"}',
        "The author passed the key: it opened the door.",
        "tokens: 12, max_tokens=256, eos_token: </s>",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redaction.secrets(text) == text


def test_a_dict_or_list_under_a_secret_name_is_redacted_whole_at_any_depth() -> None:
    value = {"user": "ada", "auth": ("svc", AUTH_TUPLE), "credentials": {"otp": NESTED, "n": [1, {"a": "]"}]},
             "api_token": None, "deep": [{"x": {"client_secret": {"v": 1}}}], "max_tokens": 5}  # fmt: skip
    expected = {"user": "ada", "auth": "[REDACTED]", "credentials": "[REDACTED]", "api_token": None,
                "deep": [{"x": {"client_secret": "[REDACTED]"}}], "max_tokens": 5}  # fmt: skip
    assert json.loads(redaction.secrets(to_json(value))) == expected  # as inputs and outputs are stored
    as_attribute = redaction.secrets(json.dumps({"config": to_json(value), "next": "]"}))  # JSON inside JSON
    assert json.loads(as_attribute) == {"config": json.dumps(expected, separators=(",", ":")), "next": "]"}
    deeper = redaction.secrets(json.dumps({"a": json.dumps({"b": json.dumps(value)})}))
    assert json.loads(json.loads(json.loads(deeper)["a"])["b"]) == expected
    assert leaks(redaction.secrets(repr(value)).encode()) == []  # a Python repr, as in an exception message
    cut_short = redaction.secrets(json.dumps({"preview": to_json(value)[:60]}))  # a value cut by the size bound
    assert leaks(cut_short.encode()) == [] and json.loads(cut_short)


def test_redacted_json_stays_json() -> None:
    """Whatever is under whatever name, in JSON or JSON inside JSON strings: the result parses, at every level, and
    redacting it again changes nothing."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    names = st.sampled_from(["password", "api_key", "auth", "x-api-key", "api_token", "credentials", "eos_token",
                             "max_tokens", "key", "note", "Authorization", "cookie"])  # fmt: skip
    pieces = [*'ab"\\\':=[]{}(), \n\x00İ', "password", "api_key", "api_token", "auth", "secret", "null",
              "Bearer abcdefghij", "postgres://u:p@h/d", "sk-proj-" + "a" * 24, PEM, "[REDACTED]"]  # fmt: skip
    text = st.lists(st.sampled_from(pieces), max_size=10).map("".join)
    leaves = st.none() | st.booleans() | st.integers() | text
    values = st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names | text, inner, max_size=3),
        max_leaves=8,
    )
    # "json" holds JSON text (no name or piece can spell it): it must still parse after redaction.
    nested = st.recursive(values, lambda inner: st.builds(lambda n, v: {n: json.dumps(v), "json": json.dumps(v)},
                                                          names, inner), max_leaves=3)  # fmt: skip

    def parses_at_every_level(value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                parses_at_every_level(json.loads(v) if k == "json" and isinstance(v, str) else v)
        elif isinstance(value, list):
            for v in value:
                parses_at_every_level(v)

    @settings(max_examples=500, deadline=None)
    @given(nested, st.booleans())
    def stays_json(value: Any, compact: bool) -> None:
        encoded = to_json(value) if compact else json.dumps(value)
        redacted = redaction.secrets(encoded)
        parses_at_every_level(json.loads(redacted))
        assert redaction.secrets(redacted) == redacted

    stays_json()


def test_many_names_in_one_text_take_time_in_proportion() -> None:
    """Names whose values never end (``password: [`` 8,000 times in one string) once took minutes each: every
    name re-read the text after it. A generous deadline, not a timing threshold: it now takes well under a second."""
    script = """
import json
from spanlite.tracing.redaction import secrets
for text in ("password: [" * 8000, "api_token: (" * 8000, 'password="' * 8000):
    secrets(json.dumps({"t": text}))
    secrets(json.dumps({"a": json.dumps({"t": text})}))
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)


def test_a_credential_cut_by_a_size_bound_leaves_none_of_itself(db_path: Path) -> None:
    """Values are bounded before they are redacted: a key the cut splits must go whole, or its start is stored."""
    from spanlite.tracing.serialize import MAX_FIELD_BYTES, MAX_NAME_BYTES

    key = "sk-proj-" + "Q7wErT9yUi" * 12
    for offset in range(0, 240, 9):
        with spanlite.start_span("x" * (MAX_NAME_BYTES - offset) + " " + key) as span:
            span.set_inputs({"document": "y" * (MAX_FIELD_BYTES - offset) + " " + key})
            span.set_attribute("note", "z" * (MAX_FIELD_BYTES - offset) + " " + key)
    assert spanlite.flush()
    _config._shutdown()
    data = b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*"))
    assert b"Q7wErT" not in data


def test_no_secret_in_feedback_expectations_datasets_or_runs_is_stored(tmp_path: Path) -> None:
    """What people, scorers and judges write (feedback, ground truth, dataset records, run results and rationales)
    meets the same built-in redaction as spans: a judge may echo a pasted key, a dataset may be built from logs."""
    path = tmp_path / "eval.db"
    with TraceStore(path) as store:
        store.log_feedback("t1", "thumbs", False, comment=f"leaked: {TEXT}", author="ada")
        store.log_feedback("t1", "note", f"see {FORMATS['openai']}", source="llm_judge")
        store.log_expectation("t1", "expected_response", {"answer": TEXT, **NAMED})
        store.create_dataset("qa", tags={"owner": "ada", "api_token": NAMED["api_token"]})
        store.add_records("qa", [{"inputs": {"q": TEXT, "password": DICT_PASSWORD}, "expectations": NAMED}])
        run_id = store.start_run(name="v1", tags={"client_secret": NAMED["client_secret"]}, scorers=["judge"])
        store.add_results(run_id, [{"example_index": 0, "trace_id": "t1", "inputs": {"q": TEXT}, "outputs": TEXT}])
        store.add_scores(run_id, [{"example_index": 0, "scorer": "judge", "value": None, "rationale": TEXT,
                                   "error": f"unreadable: {PEM}", "raw": TEXT}])  # fmt: skip
        store.finish_run(run_id, {"judge/mean": 1.0}, "finished")
        [feedback] = store.get_feedback("t1", name="thumbs")
        assert feedback.comment is not None and "The capital" not in feedback.comment  # the text is still there
        assert feedback.comment.startswith("leaked: openai [REDACTED]")
        [record] = store.records("qa")
        assert record.inputs["password"] == "[REDACTED]"
    assert store_leaks(path) == {}
