"""autolog for MCP: a real client and a real server (``tests/mcp_server.py``, a subprocess over stdio and over
streamable HTTP on 127.0.0.1), each tracing into the same store: one trace, the server's spans under the client's.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import mcp_types
import pytest
from mcp import ClientSession
from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError

import spanlite
from _helpers import cli
from spanlite.store import SpanRecord, TraceStore
from spanlite.tracing import attributes as attr

HERE = Path(__file__).parent
SERVER_SCRIPT = HERE / "mcp_server.py"
SECRET = "sk-proj-mcpTestSecretValue0123456789abcdefABCDEF"


@pytest.fixture(autouse=True)
def _autolog() -> Iterator[None]:
    spanlite.autolog("mcp")
    yield
    spanlite.autolog("mcp", disable=True)


def stdio_params(db: Path) -> StdioServerParameters:
    # The client hands a server only a few variables of its own (PATH, HOME...): the store is passed on explicitly.
    env = {"SPANLITE_DB": str(db), "SPANLITE_STRICT": "0"}
    return StdioServerParameters(command=sys.executable, args=[str(SERVER_SCRIPT), "--stdio"], env=env)


def run(session_work: Callable[[ClientSession], Awaitable[Any]], db: Path) -> Any:
    """Run ``session_work`` in a fresh session with the stdio server; the server has exited when this returns."""

    log = db.with_name(f"server-{time.monotonic_ns()}.log")

    async def main() -> Any:
        with log.open("w") as errors:  # MCPServer logs the tool's crash there: expected, not for the test output
            async with stdio_client(stdio_params(db), errlog=errors) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    return await session_work(session)

    result = asyncio.run(main())
    # The server runs with SPANLITE_STRICT=0, so an internal error of ours is logged there, not raised: none may be.
    assert "spanlite internal error" not in log.read_text()
    return result


def spans_of(trace_id: str, count: int) -> list[SpanRecord]:
    """The trace's spans once ``count`` have landed: the server process writes its own (bounded wait)."""
    assert spanlite.flush()
    deadline = time.monotonic() + 60
    while True:
        trace = spanlite.get_trace(trace_id)
        spans = trace.spans if trace is not None else []
        if len(spans) >= count or time.monotonic() > deadline:
            return spans
        time.sleep(0.1)


def tree(spans: list[SpanRecord]) -> list[tuple[int, str, str]]:
    """(depth, kind, name) in start order under each parent, as ``traces show`` prints them."""
    children: dict[str | None, list[SpanRecord]] = {}
    ids = {s.span_id for s in spans}
    for span in sorted(spans, key=lambda s: s.start_ns):
        children.setdefault(span.parent_id if span.parent_id in ids else None, []).append(span)
    lines: list[tuple[int, str, str]] = []

    def walk(parent: str | None, depth: int) -> None:
        for span in children.get(parent, []):
            lines.append((depth, span.kind, span.name))
            walk(span.span_id, depth + 1)

    walk(None, 0)
    return lines


def by_name(spans: list[SpanRecord], name: str) -> tuple[SpanRecord, SpanRecord]:
    """The client's and the server's span of that name (the client's is the parent)."""
    client, server = sorted((s for s in spans if s.name == name), key=lambda s: s.start_ns)
    assert server.parent_id == client.span_id
    return client, server


async def scenario(session: ClientSession) -> dict[str, Any]:
    results: dict[str, Any] = {
        "weather": await session.call_tool("get_weather", {"city": "Paris"}),
        "refused": await session.call_tool("check_city", {"city": "Atlantis"}),
        "broken": await session.call_tool("broken_forecast", {"city": "Lyon"}),
        "cities": await session.read_resource("weather://cities"),
        "prompt": await session.get_prompt("forecast", {"city": "Lyon"}),
        "tools": await session.list_tools(),
    }
    with pytest.raises(MCPError) as raised:
        await session.read_resource("weather://atlantis")
    results["unknown"] = raised.value
    return results


def test_stdio_client_and_server_make_one_trace(db_path: Path) -> None:
    with spanlite.start_span("plan trip", kind="AGENT") as root:
        results = run(scenario, db_path)
    spans = spans_of(root.trace_id, 18)

    assert tree(spans) == [
        (0, "AGENT", "plan trip"),
        (1, "CHAIN", "initialize"),
        (1, "TOOL", "tools/call get_weather"),
        (2, "TOOL", "tools/call get_weather"),
        (2, "CHAIN", "tools/list"),  # ClientSession fetches the tools' output schemas before its first result
        (3, "CHAIN", "tools/list"),
        (1, "TOOL", "tools/call check_city"),
        (2, "TOOL", "tools/call check_city"),
        (1, "TOOL", "tools/call broken_forecast"),
        (2, "TOOL", "tools/call broken_forecast"),
        (1, "CHAIN", "resources/read weather://cities"),
        (2, "CHAIN", "resources/read weather://cities"),
        (1, "CHAIN", "prompts/get forecast"),
        (2, "CHAIN", "prompts/get forecast"),
        (1, "CHAIN", "tools/list"),
        (2, "CHAIN", "tools/list"),
        (1, "CHAIN", "resources/read weather://atlantis"),
        (2, "CHAIN", "resources/read weather://atlantis"),
    ]
    assert {s.trace_id for s in spans} == {root.trace_id}

    initialize = next(s for s in spans if s.name == "initialize")
    assert initialize.attributes[attr.MCP_SERVER_NAME] == "weather"
    assert initialize.attributes[attr.MCP_SERVER_VERSION] == "1.2.0"

    client, server = by_name(spans, "tools/call get_weather")
    for span in client, server:
        assert span.inputs == {"city": "Paris"}
        assert span.outputs["content"] == [{"type": "text", "text": "Sunny in Paris, 21 °C"}]
        assert span.outputs["isError"] is False
        assert span.status in ("OK", "UNSET")
        assert span.attributes[attr.GEN_AI_TOOL_NAME] == "get_weather"
        assert span.attributes[attr.GEN_AI_OPERATION_NAME] == "execute_tool"
        assert span.attributes[attr.MCP_METHOD_NAME] == "tools/call"
        assert span.attributes[attr.MCP_SERVER_NAME] == "weather"  # the client's later spans keep the server's name
    # mcp's dispatcher took the client's span for the request it sent (its own would be recorded nowhere): the id
    # it gave the request is on both ends.
    assert client.attributes[attr.JSONRPC_REQUEST_ID] == server.attributes[attr.JSONRPC_REQUEST_ID]
    assert server.attributes[attr.MCP_PROTOCOL_VERSION] == client.attributes[attr.MCP_PROTOCOL_VERSION]
    assert client.attributes[attr.MCP_PROTOCOL_VERSION] == initialize.attributes[attr.MCP_PROTOCOL_VERSION]

    for span in by_name(spans, "tools/call check_city"):  # an error result (isError), not an exception
        assert span.status == "ERROR"
        assert span.status_message == "Error executing tool check_city: unknown city: Atlantis"
        assert not span.events  # a refusal the tool meant (ToolError): no exception to keep
        assert span.attributes[attr.ERROR_TYPE] == "tool_error"
        assert span.outputs["isError"] is True

    client, server = by_name(spans, "tools/call broken_forecast")  # an exception inside the server's tool
    assert (client.status, client.status_message) == ("ERROR", "Error executing tool broken_forecast")
    assert not client.events  # the client only got the error result
    assert server.status == "ERROR"
    (event,) = server.events
    assert event["name"] == "exception"
    assert "ZeroDivisionError: no forecast model for Lyon" in event["attributes"]["exception.stacktrace"]

    for span in by_name(spans, "resources/read weather://cities"):
        assert span.inputs == {"uri": "weather://cities"}
        assert span.outputs["contents"][0]["text"] == "Paris, Lyon"
        assert span.attributes[attr.MCP_RESOURCE_URI] == "weather://cities"
    for span in by_name(spans, "prompts/get forecast"):
        assert span.inputs == {"city": "Lyon"}
        assert span.outputs["messages"][0]["content"]["text"] == "Write a short weather forecast for Lyon."
        assert span.attributes[attr.GEN_AI_PROMPT_NAME] == "forecast"
    listing = next(s for s in spans if s.name == "tools/list" and s.parent_id == root.span_id)
    assert {t["name"] for t in listing.outputs["tools"]} == {"get_weather", "check_city", "broken_forecast"}

    client, server = by_name(spans, "resources/read weather://atlantis")  # a protocol error: raised to the caller
    assert str(results["unknown"]) == "Unknown resource: weather://atlantis"
    for span in client, server:
        assert span.status == "ERROR" and span.events[0]["attributes"]["exception.type"].endswith("MCPError")

    shown = cli("traces", "show", root.trace_id)
    assert shown.returncode == 0, shown.stderr
    lines = [line.rstrip() for line in shown.stdout.splitlines()]
    assert any(line.startswith("  TOOL       tools/call get_weather") for line in lines)
    assert any(line.startswith("    TOOL       tools/call get_weather") for line in lines)
    refused = next(line for line in lines if line.startswith("    TOOL       tools/call check_city"))
    assert refused.endswith("ERROR: Error executing tool check_city: unknown city: Atlantis")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class HttpServer:
    def __init__(self, url: str, db: Path) -> None:
        self.url, self.db = url, db


@pytest.fixture(scope="module")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    """``mcp_server.py --http`` in a subprocess, tracing into a store of the module's (the tests point theirs at it)."""
    db = tmp_path_factory.mktemp("mcp_http") / "traces.db"
    port = free_port()
    env = {**os.environ, "SPANLITE_DB": str(db), "SPANLITE_STRICT": "0"}
    log = db.with_name("server.log")
    with log.open("w") as errors:
        process = subprocess.Popen(
            [sys.executable, str(SERVER_SCRIPT), "--http", str(port)],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:  # until it listens (bounded)
            assert process.poll() is None, "the MCP server exited at start"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the MCP server never listened"
                time.sleep(0.1)
        yield HttpServer(f"http://127.0.0.1:{port}/mcp", db)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
    assert "spanlite internal error" not in log.read_text()  # SPANLITE_STRICT=0 there: logged, not raised


def test_streamable_http_client_and_server_make_one_trace(http_server: HttpServer) -> None:
    spanlite.configure(db=http_server.db)  # the server's store: both ends write to one file

    async def main() -> Any:
        # An auth header the server never needs: it must not reach the store from either end.
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {SECRET}"}) as http:
            async with streamable_http_client(http_server.url, http_client=http) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    return await session.call_tool("get_weather", {"city": "Paris"})

    with spanlite.start_span("plan trip", kind="AGENT") as root:
        result = asyncio.run(main())
    assert result.content[0].text == "Sunny in Paris, 21 °C"
    spans = spans_of(root.trace_id, 6)
    assert tree(spans) == [
        (0, "AGENT", "plan trip"),
        (1, "CHAIN", "initialize"),
        (1, "TOOL", "tools/call get_weather"),
        (2, "TOOL", "tools/call get_weather"),
        (2, "CHAIN", "tools/list"),
        (3, "CHAIN", "tools/list"),
    ]
    client, server = by_name(spans, "tools/call get_weather")
    assert server.inputs == client.inputs == {"city": "Paris"}
    assert server.outputs["content"] == [{"type": "text", "text": "Sunny in Paris, 21 °C"}]
    assert server.attributes[attr.MCP_SESSION_ID]  # the transport's session, from its header
    assert server.resource["service.instance.id"] != client.resource["service.instance.id"]  # two processes

    for file in http_server.db.parent.iterdir():
        assert SECRET.encode() not in file.read_bytes(), file.name


def test_capture_content_false_keeps_the_shape_without_arguments_or_results(db_path: Path) -> None:
    spanlite.configure(db=db_path, capture_content=False)

    async def work(session: ClientSession) -> Any:
        return await session.call_tool("check_city", {"city": "Atlantis"})

    with spanlite.start_span("plan trip") as root:
        result = run(work, db_path)
    assert result.is_error
    spans = spans_of(root.trace_id, 4)
    names = [name for _, _, name in tree(spans)]
    assert names == ["plan trip", "initialize", "tools/call check_city", "tools/call check_city"]
    client, server = by_name(spans, "tools/call check_city")
    assert (client.inputs, client.outputs) == (None, None)
    assert (client.status, client.status_message) == ("ERROR", "tool error")  # the error text is the tool's output
    assert client.attributes[attr.GEN_AI_TOOL_NAME] == "check_city"
    assert server.outputs is not None  # the server process has a set-up of its own, which records contents


def dumped(results: dict[str, Any]) -> dict[str, Any]:
    return {k: (type(v), str(v)) if isinstance(v, Exception) else v.model_dump() for k, v in results.items()}


def test_disabled_records_nothing_on_the_client_and_results_are_the_same(db_path: Path) -> None:
    with spanlite.start_span("traced") as traced_root:
        traced = run(scenario, db_path)
    spanlite.autolog("mcp", disable=True)
    with spanlite.start_span("untraced") as root:
        untraced = run(scenario, db_path)

    assert dumped(untraced) == dumped(traced)
    spans = spans_of(root.trace_id, 9)
    # Only the server's 8 spans (mcp itself still carries the caller's context to the server): none of this process.
    here = next(s for s in spans if s.span_id == root.span_id).resource["service.instance.id"]
    assert [s.name for s in spans if s.resource["service.instance.id"] == here] == ["untraced"]
    assert len(spans) == 9
    assert len(spans_of(traced_root.trace_id, 18)) == 18


async def calculate(ctx: Any, params: mcp_types.CallToolRequestParams) -> mcp_types.CallToolResult:
    arguments = params.arguments or {}
    if params.name == "divide":
        quotient = arguments["a"] / arguments["b"]  # b=0: an exception inside a low-level handler
        return mcp_types.CallToolResult(content=[mcp_types.TextContent(type="text", text=str(quotient))])
    return mcp_types.CallToolResult(content=[mcp_types.TextContent(type="text", text="no such tool")], is_error=True)


async def list_calculator(ctx: Any, params: Any) -> mcp_types.ListToolsResult:
    schema = {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}}
    return mcp_types.ListToolsResult(tools=[mcp_types.Tool(name="divide", input_schema=schema)])


def calculator_calls() -> list[Any]:
    server = Server("calculator", version="0.1", on_call_tool=calculate, on_list_tools=list_calculator)

    async def main() -> list[Any]:
        outcomes: list[Any] = []
        async with Client(server) as client:
            for arguments in ({"a": 6, "b": 3}, {"a": 1, "b": 0}):
                try:
                    outcomes.append((await client.call_tool("divide", arguments)).model_dump())
                except Exception as exc:
                    outcomes.append((type(exc), str(exc)))
            outcomes.append((await client.call_tool("sqrt", {"a": 4})).model_dump())
        return outcomes

    return asyncio.run(main())


def test_low_level_server_in_process_same_results_with_and_without_autolog() -> None:
    with spanlite.start_span("calc") as root:
        traced = calculator_calls()
    spanlite.autolog("mcp", disable=True)
    assert calculator_calls() == traced
    assert traced[0]["content"][0]["text"] == "2.0"

    spans = spans_of(root.trace_id, 1)
    assert [(d, k, n) for d, k, n in tree(spans) if "divide" in n or "sqrt" in n] == [
        (1, "TOOL", "tools/call divide"),
        (2, "TOOL", "tools/call divide"),
        (1, "TOOL", "tools/call divide"),
        (2, "TOOL", "tools/call divide"),
        (1, "TOOL", "tools/call sqrt"),
        (2, "TOOL", "tools/call sqrt"),
    ]
    failed = [s for s in spans if s.name == "tools/call divide" and s.status == "ERROR"]
    assert len(failed) == 2
    server_side = next(s for s in failed if s.attributes.get(attr.JSONRPC_REQUEST_ID))
    assert server_side.events[0]["attributes"]["exception.type"] == "ZeroDivisionError"
    assert server_side.attributes[attr.MCP_SERVER_NAME] == "calculator"


def test_example_app_writes_one_trace_across_both_processes(tmp_path: Path) -> None:
    """``spanlite run -- python examples/mcp_app.py`` (what its docstring says to run): the app turns no autolog on
    itself, the server it starts does; both land in one trace."""
    db = tmp_path / "example.db"
    env = {**os.environ, "SPANLITE_DB": str(db), "SPANLITE_STRICT": "0"}
    done = subprocess.run(
        [sys.executable, "-m", "spanlite.cli", "run", "--", sys.executable, "examples/mcp_app.py"],
        cwd=HERE.parent, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Known cities: Paris, Lyon\nSunny in Paris, 21 °C\nSunny in Lyon, 21 °C\n"
    with TraceStore(db) as store:
        (trace,) = store.iter_traces()
        spans = store.get_trace(trace.trace_id).spans  # type: ignore[union-attr]
    assert tree(spans) == [
        (0, "AGENT", "plan trip"),
        (1, "CHAIN", "initialize"),
        (1, "CHAIN", "resources/read weather://cities"),
        (2, "CHAIN", "resources/read weather://cities"),
        (1, "TOOL", "tools/call get_weather"),
        (2, "TOOL", "tools/call get_weather"),
        (2, "CHAIN", "tools/list"),
        (3, "CHAIN", "tools/list"),
        (1, "TOOL", "tools/call get_weather"),
        (2, "TOOL", "tools/call get_weather"),
    ]


def test_initialize_again_sends_nothing_and_records_nothing(db_path: Path) -> None:
    async def work(session: ClientSession) -> Any:
        return await session.initialize()  # run() initialized it already: the session answers from memory

    with spanlite.start_span("twice") as root:
        run(work, db_path)
    assert [name for _, _, name in tree(spans_of(root.trace_id, 2))] == ["twice", "initialize"]


GLOBAL_PROVIDER_SCRIPT = """
import asyncio, sys
sys.path.insert(0, sys.argv[2])
import spanlite
spanlite.configure(db=sys.argv[1], use_global_provider=True)
spanlite.autolog("mcp")
from pathlib import Path
from test_autolog_mcp import calculator_calls, run
async def weather(session):
    return await session.call_tool("get_weather", {"city": "Paris"})
with spanlite.start_span("calc"):
    calculator_calls()
with spanlite.start_span("weather"):
    run(weather, Path(sys.argv[1]))
"""


def test_mcp_own_spans_recorded_by_spanlite_are_not_doubled(db_path: Path) -> None:
    """With ``configure(use_global_provider=True)`` mcp's own spans land in the store too: its CLIENT span is ours,
    and its server middleware's span gets our attributes, rather than each being a second span saying the same."""
    spanlite.configure(db=db_path)
    env = {**os.environ, "SPANLITE_STRICT": "0"}
    done = subprocess.run(
        [sys.executable, "-c", GLOBAL_PROVIDER_SCRIPT, str(db_path), str(HERE)],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with TraceStore(db_path) as store:
        traces = {t.name: t.trace_id for t in store.iter_traces()}
    calc = spans_of(traces["calc"], 1)
    assert [line for line in tree(calc) if line[2] != "server/discover"] == [  # mcp's span of a request not ours
        (0, "CHAIN", "calc"),
        (1, "TOOL", "tools/call divide"),
        (2, "TOOL", "tools/call divide"),
        (2, "CHAIN", "tools/list"),
        (3, "CHAIN", "tools/list"),
        (1, "TOOL", "tools/call divide"),
        (2, "TOOL", "tools/call divide"),
        (1, "TOOL", "tools/call sqrt"),
        (2, "TOOL", "tools/call sqrt"),
    ]
    assert all(s.inputs == {"a": 4} for s in calc if s.name == "tools/call sqrt")  # mcp's server span, with ours
    assert tree(spans_of(traces["weather"], 6)) == [
        (0, "CHAIN", "weather"),
        (1, "CHAIN", "initialize"),
        (1, "TOOL", "tools/call get_weather"),
        (2, "TOOL", "tools/call get_weather"),
        (2, "CHAIN", "tools/list"),
        (3, "CHAIN", "tools/list"),
    ]


OTHER_PROVIDER_SCRIPT = """
import sys
sys.path.insert(0, sys.argv[2])
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
elsewhere = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(elsewhere))
trace.set_tracer_provider(provider)  # the app's own OTel set-up, which mcp's own spans go to
import spanlite
spanlite.configure(db=sys.argv[1])
spanlite.autolog("mcp")
from pathlib import Path
from test_autolog_mcp import calculator_calls, run
async def weather(session):
    return await session.call_tool("get_weather", {"city": "Paris"})
with spanlite.start_span("weather"):
    run(weather, Path(sys.argv[1]))
with spanlite.start_span("calc"):
    calculator_calls()  # in process: mcp's server middleware's span, recorded elsewhere, is current in the handler
print(sorted(span.name for span in elsewhere.get_finished_spans()))
"""


def test_mcp_own_spans_recorded_elsewhere_stay_and_the_store_tree_has_no_gap(db_path: Path) -> None:
    """The app's own OTel set-up as the global provider gets mcp's spans as before; the traceparent names ours."""
    env = {**os.environ, "SPANLITE_STRICT": "0"}
    done = subprocess.run(
        [sys.executable, "-c", OTHER_PROVIDER_SCRIPT, str(db_path), str(HERE)],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "'MCP send tools/call get_weather'" in done.stdout
    assert "'tools/call divide'" in done.stdout
    with TraceStore(db_path) as store:
        traces = {t.name: t.trace_id for t in store.iter_traces()}
    assert tree(spans_of(traces["calc"], 1))[:3] == [
        (0, "CHAIN", "calc"),
        (1, "TOOL", "tools/call divide"),
        (2, "TOOL", "tools/call divide"),
    ]
    assert tree(spans_of(traces["weather"], 6)) == [
        (0, "CHAIN", "weather"),
        (1, "CHAIN", "initialize"),
        (1, "TOOL", "tools/call get_weather"),
        (2, "TOOL", "tools/call get_weather"),
        (2, "CHAIN", "tools/list"),
        (3, "CHAIN", "tools/list"),
    ]


def test_server_answers_a_client_that_sends_no_trace_context(db_path: Path) -> None:
    """A client that knows nothing of trace context (plain JSON-RPC lines, no ``_meta``) gets its answer, and the
    server's span starts a trace of its own."""
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "plain", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
         "params": {"name": "get_weather", "arguments": {"city": "Oslo"}}},
    ]  # fmt: skip
    env = {**os.environ, "SPANLITE_DB": str(db_path), "SPANLITE_STRICT": "0"}
    server = subprocess.Popen(
        [sys.executable, str(SERVER_SCRIPT), "--stdio"],
        env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    answers = []
    with server:
        assert server.stdin is not None and server.stdout is not None
        for message in messages:
            server.stdin.write(json.dumps(message) + "\n")
            server.stdin.flush()
            if "id" in message:
                answers.append(json.loads(server.stdout.readline()))
        _, errors = server.communicate(timeout=60)  # stdin closed: the server exits
    assert answers[1]["result"]["content"] == [{"type": "text", "text": "Sunny in Oslo, 21 °C"}]
    assert "spanlite internal error" not in errors
    (trace,) = spanlite.search_traces()
    (span,) = spanlite.get_trace(trace.trace_id).spans  # type: ignore[union-attr]
    assert (span.name, span.parent_id, span.kind) == ("tools/call get_weather", None, "TOOL")
    assert span.inputs == {"city": "Oslo"}
