"""autolog for Pydantic AI: real agents on OpenAIChatModel over real HTTP to the fake model server.

Pydantic AI's own OpenTelemetry spans, pointed at spanlite, must land as one tree with spanlite's kinds, inputs and
outputs, and a model request must stay one model span whether or not the OpenAI SDK is autologged too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from openai import AsyncOpenAI
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel
from pydantic_ai import Agent, ModelHTTPError, ModelRetry, NativeOutput, RunContext
from pydantic_ai.models.fallback import FallbackModel
from pydantic_ai.models.instrumented import InstrumentationSettings
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

import spanlite
from _helpers import app, cli, open_page, span_tree_rows
from fake_llm_server import OPENAI_USAGE, TEXT, FakeLLMServer
from spanlite.store import SpanRecord, TraceStore

KEY = "sk-proj-pydanticaiTESTkey0123456789abcdefghijklmnop"
PARIS = {"city": "Paris", "country": "France"}


class City(BaseModel):
    city: str
    country: str


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    srv = FakeLLMServer().start()
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def _autolog() -> Iterator[None]:
    spanlite.autolog("pydantic_ai")
    yield
    spanlite.autolog("pydantic_ai", "openai", disable=True)


@pytest.fixture(autouse=True)
def _event_loop() -> Iterator[None]:
    """``run_sync`` runs on the thread's current event loop, which it would make and leave open: one closed after."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    asyncio.set_event_loop(None)
    loop.close()


def model(server: FakeLLMServer, name: str) -> OpenAIChatModel:
    # No kept-alive connections: each run_sync has an event loop of its own, and a socket left open in a closed loop
    # is a ResourceWarning (an error here) when it is collected. No retries: an HTTP 500 is meant to fail at once.
    http = httpx2.AsyncClient(limits=httpx2.Limits(max_keepalive_connections=0))
    client = AsyncOpenAI(base_url=server.url + "/v1", api_key=KEY, http_client=http, max_retries=0)
    return OpenAIChatModel(name, provider=OpenAIProvider(openai_client=client))


def weather_agent(server: FakeLLMServer, name: str, **kwargs: Any) -> Agent[Any, Any]:
    """An agent with one plain tool; ``name`` is its model's name too, so each test scripts turns of its own."""
    agent: Agent[Any, Any] = Agent(model(server, name), name="geo", **kwargs)

    @agent.tool_plain
    def weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    return agent


def trace_of(run: Any) -> tuple[Any, SpanRecord, list[SpanRecord]]:
    """Run under a user span; return the result, the user span and the spans beneath it."""
    with spanlite.start_span("user") as root:
        result = run()
    spanlite.flush()
    trace = spanlite.get_trace(root.trace_id)
    assert trace is not None
    top = next(s for s in trace.spans if s.span_id == root.span_id)
    return result, top, [s for s in trace.spans if s.span_id != root.span_id]


def tree(spans: list[SpanRecord], top: SpanRecord) -> list[str]:
    """``depth name [KIND]`` lines in start order: names, kinds and parents at a glance."""
    by_id = {s.span_id: s for s in spans}

    def depth(span: SpanRecord) -> int:
        return 0 if span.parent_id == top.span_id else 1 + depth(by_id[span.parent_id])

    return [f"{depth(s)} {s.name} [{s.kind}]" for s in sorted(spans, key=lambda s: s.start_ns)]


def named(spans: list[SpanRecord], name: str) -> list[SpanRecord]:
    return sorted((s for s in spans if s.name == name), key=lambda s: s.start_ns)


def stored_bytes(db_path: Path) -> str:
    """Every byte of the store (database, WAL, shared memory) as text to search."""
    return b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*")).decode("latin-1")


def tool_then_city(server: FakeLLMServer, name: str) -> None:
    server.script(name, [[("weather", {"city": "Paris"})], [("final_result", PARIS)]])


@pytest.mark.parametrize("with_openai", [False, True], ids=["alone", "with-openai-autolog"])
def test_agent_with_a_tool_and_structured_output_is_one_tree(
    server: FakeLLMServer, db_path: Path, with_openai: bool
) -> None:
    if with_openai:
        spanlite.autolog("openai")
    name = f"pa-tree-{with_openai}"
    tool_then_city(server, name)
    result, top, spans = trace_of(lambda: weather_agent(server, name, output_type=City).run_sync("Where is it?"))
    assert result.output == City(**PARIS)
    assert tree(spans, top) == [
        "0 invoke_agent geo [AGENT]",
        f"1 chat {name} [CHAT_MODEL]",
        "1 execute_tool weather [TOOL]",
        f"1 chat {name} [CHAT_MODEL]",
    ]  # one model span per request: the OpenAI SDK's patched call beneath stands aside
    agent_span, first, tool, second = sorted(spans, key=lambda s: s.start_ns)
    assert agent_span.attributes["gen_ai.agent.name"] == "geo"
    assert agent_span.inputs == {"messages": [{"role": "user", "content": "Where is it?"}]}
    assert agent_span.outputs == PARIS
    assert first.model == f"{name}-2024" and first.attributes["gen_ai.request.model"] == name
    assert first.inputs == [{"role": "user", "content": "Where is it?"}]
    assert first.outputs[0]["tool_calls"] == [{"id": "call_0", "name": "weather", "arguments": {"city": "Paris"}}]
    assert {t["name"] for t in json.loads(first.attributes["gen_ai.tool.definitions"])} == {"weather", "final_result"}
    assert tool.inputs == {"city": "Paris"} and tool.outputs == "sunny in Paris"
    assert tool.attributes["gen_ai.tool.name"] == "weather" and tool.attributes["gen_ai.tool.call.id"] == "call_0"
    assert second.inputs[-1] == {"role": "user", "content": "sunny in Paris", "tool_call_id": "call_0"}
    assert (first.input_tokens, first.output_tokens) == (OPENAI_USAGE["prompt_tokens"], 5)
    with TraceStore(db_path) as store:
        summary = store.get_trace(top.trace_id)
    assert summary is not None
    assert (summary.info.input_tokens, summary.info.output_tokens) == (2 * OPENAI_USAGE["prompt_tokens"], 2 * 5)  # once
    assert KEY not in stored_bytes(db_path)


def test_the_tree_reads_well_in_traces_show(server: FakeLLMServer, db_path: Path) -> None:
    tool_then_city(server, "pa-cli")
    _, top, _ = trace_of(lambda: weather_agent(server, "pa-cli", output_type=City).run_sync("Where is it?"))
    shown = cli("traces", "show", top.trace_id, db=db_path)
    assert shown.returncode == 0, shown.stderr
    rows = [re.match(r"( *)([A-Z_]+) +(\S+ ?\S*)  ", line) for line in shown.stdout.splitlines()]
    assert [(len(m[1]), m[2], m[3]) for m in rows if m] == [
        (0, "CHAIN", "user"),
        (2, "AGENT", "invoke_agent geo"),
        (4, "CHAT_MODEL", "chat pa-cli"),
        (4, "TOOL", "execute_tool weather"),
        (4, "CHAT_MODEL", "chat pa-cli"),
    ], shown.stdout


def test_run_async_and_iter(server: FakeLLMServer) -> None:
    async def both() -> tuple[Any, Any]:
        agent = weather_agent(server, "pa-async")
        server.script("pa-async", [[("weather", {"city": "Paris"})], "Sunny."])
        first = await agent.run("Weather?")
        server.script("pa-async", ["Still sunny."])
        async with agent.iter("Again?") as run:
            nodes = [type(node).__name__ async for node in run]
        assert run.result is not None
        return first.output, (nodes, run.result.output)

    (first, (nodes, second)), top, spans = trace_of(lambda: asyncio.run(both()))
    assert (first, second) == ("Sunny.", "Still sunny.") and "CallToolsNode" in nodes
    assert tree(spans, top) == [
        "0 invoke_agent geo [AGENT]",
        "1 chat pa-async [CHAT_MODEL]",
        "1 execute_tool weather [TOOL]",
        "1 chat pa-async [CHAT_MODEL]",
        "0 invoke_agent geo [AGENT]",
        "1 chat pa-async [CHAT_MODEL]",
    ]
    runs = named(spans, "invoke_agent geo")
    assert [r.outputs for r in runs] == ["Sunny.", "Still sunny."]
    assert runs[1].inputs == {"messages": [{"role": "user", "content": "Again?"}]}


@pytest.mark.parametrize("with_openai", [False, True], ids=["alone", "with-openai-autolog"])
def test_run_stream_consumed(server: FakeLLMServer, with_openai: bool) -> None:
    if with_openai:
        spanlite.autolog("openai")
    name = f"pa-stream-{with_openai}"

    async def stream() -> str:
        server.script(name, [[("weather", {"city": "Paris"})], TEXT])
        async with weather_agent(server, name).run_stream("Weather?") as result:
            return "".join([piece async for piece in result.stream_text(delta=True)])

    text, top, spans = trace_of(lambda: asyncio.run(stream()))
    assert text == TEXT
    assert tree(spans, top) == [
        "0 invoke_agent geo [AGENT]",
        f"1 chat {name} [CHAT_MODEL]",
        "1 execute_tool weather [TOOL]",
        f"1 chat {name} [CHAT_MODEL]",
    ]
    chats = named(spans, f"chat {name}")
    assert [c.input_tokens for c in chats] == [OPENAI_USAGE["prompt_tokens"]] * 2
    assert chats[-1].outputs == [{"role": "assistant", "content": TEXT, "finish_reason": "stop"}]
    assert all(s.status == "OK" for s in spans) and all(s.end_ns for s in spans)


def test_run_stream_abandoned_early_ends_every_span(server: FakeLLMServer) -> None:
    async def abandon() -> str:
        server.script("pa-abandon", [TEXT])
        async with weather_agent(server, "pa-abandon").run_stream("Weather?") as result:
            async for piece in result.stream_text(delta=True):
                return piece
        raise AssertionError("the stream gave nothing")

    piece, top, spans = trace_of(lambda: asyncio.run(abandon()))
    assert piece and TEXT.startswith(piece)
    assert tree(spans, top) == ["0 invoke_agent geo [AGENT]", "1 chat pa-abandon [CHAT_MODEL]"]
    assert all(s.end_ns for s in spans)


@dataclasses.dataclass
class Deps:
    """What a real app hands its tools: a client, a secret; neither belongs in a trace."""

    http: httpx.Client
    api_key: str


def test_tool_with_run_context_and_deps_that_must_not_be_stored(server: FakeLLMServer, db_path: Path) -> None:
    agent: Agent[Deps, str] = Agent(model(server, "pa-deps"), name="geo", deps_type=Deps)

    @agent.tool
    def weather(ctx: RunContext[Deps], city: str) -> str:
        """The weather in a city."""
        assert ctx.deps.api_key == KEY
        return f"rainy in {city}"

    server.script("pa-deps", [[("weather", {"city": "Oslo"})], "Rainy."])
    with httpx.Client() as http:
        result, _, spans = trace_of(lambda: agent.run_sync("Weather?", deps=Deps(http, KEY)))
    assert result.output == "Rainy."
    tool = named(spans, "execute_tool weather")[0]
    assert tool.inputs == {"city": "Oslo"} and tool.outputs == "rainy in Oslo"
    stored = stored_bytes(db_path)
    assert named(spans, "invoke_agent geo")[0].inputs == {"messages": [{"role": "user", "content": "Weather?"}]}
    assert KEY not in stored and "httpx" not in stored and "Deps(" not in stored


@dataclasses.dataclass
class Account:
    """Deps that are plain data: recorded with the run, the secret among them redacted as everywhere."""

    user_id: str
    plan: str
    api_key: str


def test_plain_deps_are_recorded_with_the_run(server: FakeLLMServer, db_path: Path) -> None:
    agent: Agent[Account, str] = Agent(model(server, "pa-plain-deps"), name="geo", deps_type=Account)

    @agent.tool
    def plan(ctx: RunContext[Account]) -> str:
        """The user's plan."""
        return ctx.deps.plan

    server.script("pa-plain-deps", [[("plan", {})], "Pro."])
    result, _, spans = trace_of(lambda: agent.run_sync("My plan?", deps=Account("u-42", "pro", KEY)))
    assert result.output == "Pro."
    run = named(spans, "invoke_agent geo")[0]
    assert run.inputs["messages"] == [{"role": "user", "content": "My plan?"}]
    assert run.inputs["deps"]["user_id"] == "u-42" and run.inputs["deps"]["plan"] == "pro"
    assert KEY not in stored_bytes(db_path)


def test_native_structured_output(server: FakeLLMServer) -> None:
    server.script("pa-native", [json.dumps(PARIS)])
    agent: Agent[None, City] = Agent(model(server, "pa-native"), name="geo", output_type=NativeOutput(City))
    result, top, spans = trace_of(lambda: agent.run_sync("Where?"))
    assert result.output == City(**PARIS)
    assert tree(spans, top) == ["0 invoke_agent geo [AGENT]", "1 chat pa-native [CHAT_MODEL]"]
    assert named(spans, "invoke_agent geo")[0].outputs == PARIS


def test_model_retry_and_bad_tool_arguments_show_each_attempt(server: FakeLLMServer) -> None:
    agent: Agent[None, str] = Agent(model(server, "pa-retry"), name="geo")

    @agent.tool_plain(retries=2)
    def weather(city: str) -> str:
        """The weather in a city."""
        if city == "Atlantis":
            raise ModelRetry("no such city, try a real one")
        return f"sunny in {city}"

    server.script(
        "pa-retry",
        [
            [("weather", {"town": "Paris"})],
            [("weather", {"city": "Atlantis"})],
            [("weather", {"city": "Paris"})],
            "Ok.",
        ],
    )
    result, top, spans = trace_of(lambda: agent.run_sync("Weather?"))
    assert result.output == "Ok."
    lines = tree(spans, top)
    assert lines.count("1 chat pa-retry [CHAT_MODEL]") == 4  # asked again after each failed attempt
    tools = named(spans, "execute_tool weather")  # arguments that fail validation are an attempt too
    assert [t.inputs for t in tools] == [{"town": "Paris"}, {"city": "Atlantis"}, {"city": "Paris"}]
    assert [t.status for t in tools] == ["ERROR", "ERROR", "OK"]
    assert "Field required" in json.dumps(tools[0].outputs) and tools[1].outputs == "no such city, try a real one"
    assert tools[-1].outputs == "sunny in Paris"
    retried = named(spans, "chat pa-retry")
    assert "no such city" in json.dumps(retried[3].inputs)  # the model saw why


def test_fallback_model_shows_the_failed_attempt(server: FakeLLMServer) -> None:
    server.script("pa-fallback", ["From the fallback."])
    fallback = FallbackModel(model(server, "error-500"), model(server, "pa-fallback"))
    agent: Agent[None, str] = Agent(fallback, name="geo")
    result, top, spans = trace_of(lambda: agent.run_sync("Hi"))
    assert result.output == "From the fallback."
    lines = tree(spans, top)
    assert lines[0] == "0 invoke_agent geo [AGENT]" and len([ln for ln in lines if ln.startswith("1 ")]) == 1
    chat = next(
        s for s in spans if s.kind == "CHAT_MODEL" and s.parent_id == named(spans, "invoke_agent geo")[0].span_id
    )
    (failed,) = [s for s in spans if s.parent_id == chat.span_id]
    assert (failed.name, failed.kind, failed.status) == ("model request attempt error-500", "CHAT_MODEL", "ERROR")
    assert "500" in (failed.status_message or "") and failed.events[0]["name"] == "exception"
    assert chat.status == "OK" and chat.outputs[0]["content"] == "From the fallback."


def _failing_agent(server: FakeLLMServer) -> Agent[None, str]:
    agent: Agent[None, str] = Agent(model(server, "pa-boom"), name="geo")

    @agent.tool_plain
    def weather(city: str) -> str:
        """The weather in a city."""
        raise KeyError(city)

    return agent


def test_an_exception_in_a_tool_reaches_the_caller_unchanged(server: FakeLLMServer) -> None:
    def run() -> BaseException:
        server.script("pa-boom", [[("weather", {"city": "Paris"})]])
        with pytest.raises(KeyError) as caught:
            _failing_agent(server).run_sync("Weather?")
        return caught.value

    spanlite.autolog("pydantic_ai", disable=True)
    plain = run()
    spanlite.autolog("pydantic_ai")
    traced, top, spans = trace_of(run)
    assert (type(traced), traced.args) == (type(plain), plain.args) == (KeyError, ("Paris",))
    assert tree(spans, top) == [
        "0 invoke_agent geo [AGENT]",
        "1 chat pa-boom [CHAT_MODEL]",
        "1 execute_tool weather [TOOL]",
    ]
    for span in spans:
        if span.kind != "CHAT_MODEL":
            assert span.status == "ERROR" and "KeyError" in json.dumps(span.events), span.name


def test_the_result_is_the_same_with_and_without_autolog(server: FakeLLMServer) -> None:
    def run() -> tuple[Any, Any]:
        tool_then_city(server, "pa-same")
        result = weather_agent(server, "pa-same", output_type=City).run_sync("Where?")
        return result.output, result.usage

    traced = run()
    spanlite.autolog("pydantic_ai", disable=True)
    assert run() == traced


def test_capture_content_false_keeps_prompts_and_answers_out(server: FakeLLMServer, db_path: Path) -> None:
    spanlite.configure(db=db_path, capture_content=False)
    server.script("pa-quiet", [[("weather", {"city": "Reykjavik"})], "Secretly sunny."])
    result, _, spans = trace_of(
        lambda: weather_agent(server, "pa-quiet").run_sync("Whisper the weather", deps={"note": "Quiet deps"})
    )
    assert result.output == "Secretly sunny."
    assert [s.kind for s in sorted(spans, key=lambda s: s.start_ns)] == ["AGENT", "CHAT_MODEL", "TOOL", "CHAT_MODEL"]
    assert named(spans, "chat pa-quiet")[0].input_tokens == OPENAI_USAGE["prompt_tokens"]
    stored = stored_bytes(db_path)
    for text in ("Whisper the weather", "Reykjavik", "Secretly sunny", "sunny in", "Quiet deps"):
        assert text not in stored, text


def test_disable_restores_pydantic_ais_own_setting(server: FakeLLMServer) -> None:
    assert isinstance(Agent._instrument_default, InstrumentationSettings)
    spanlite.autolog("pydantic-ai", disable=True)  # the name people know it by works too
    assert Agent._instrument_default is False
    server.script("pa-off", ["Off."])
    result, _, spans = trace_of(lambda: weather_agent(server, "pa-off").run_sync("Hi"))
    assert result.output == "Off." and spans == []


def test_the_users_own_instrumentation_is_left_alone(server: FakeLLMServer) -> None:
    spanlite.autolog("pydantic_ai", disable=True)
    theirs = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(theirs))
    settings = InstrumentationSettings(tracer_provider=provider)
    Agent.instrument_all(settings)
    try:
        spanlite.autolog("pydantic_ai")
        assert Agent._instrument_default is settings
        server.script("pa-theirs", ["Theirs."])
        weather_agent(server, "pa-theirs").run_sync("Hi")
        assert {s.name for s in theirs.get_finished_spans()} == {"invoke_agent geo", "chat pa-theirs"}
        spanlite.autolog("pydantic_ai", disable=True)
        assert Agent._instrument_default is settings
    finally:
        Agent.instrument_all(False)
        provider.shutdown()


# the example app ---------------------------------------------------------------------------------------------------


def test_example_app_writes_one_tree(tmp_path: Path) -> None:
    """``spanlite run -- python examples/pydantic_ai_app.py --fake`` (what its docstring says to run) leaves one
    tree, though the app turns no autolog on itself; the OpenAI SDK is autologged too and adds no model span."""
    db = tmp_path / "example.db"
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "SPANLITE_DB": str(db), "SPANLITE_STRICT": "0"}
    done = subprocess.run(
        [sys.executable, "-m", "spanlite.cli", "run", "--", sys.executable, "examples/pydantic_ai_app.py", "--fake"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["city"] == "Paris"
    with TraceStore(db) as store:
        (trace,) = store.iter_traces()
        whole = store.get_trace(trace.trace_id)
    assert whole is not None
    spans = [(depth, s.name, s.kind) for depth, s in whole.walk()]
    assert spans == [
        (0, "invoke_agent trip_planner", "AGENT"),
        (1, "chat gpt-4o-mini", "CHAT_MODEL"),
        (1, "execute_tool get_weather", "TOOL"),
        (1, "chat gpt-4o-mini", "CHAT_MODEL"),
    ]
    assert whole.spans[0].outputs["advice"] == "Sunglasses, not an umbrella."
    assert (trace.input_tokens, trace.output_tokens) == (24, 10)


def test_a_failing_model_reaches_the_caller_unchanged(server: FakeLLMServer) -> None:
    def run() -> BaseException:
        with pytest.raises(ModelHTTPError) as caught:
            Agent(model(server, "error-500"), name="geo").run_sync("Hi")
        return caught.value

    spanlite.autolog("pydantic_ai", "openai", disable=True)
    plain = run()
    spanlite.autolog("pydantic_ai", "openai")
    traced, top, spans = trace_of(run)
    assert (type(traced), str(traced), traced.status_code) == (type(plain), str(plain), plain.status_code)
    assert plain.status_code == 500
    assert tree(spans, top) == ["0 invoke_agent geo [AGENT]", "1 chat error-500 [CHAT_MODEL]"]
    assert [s.status for s in spans] == ["ERROR", "ERROR"]


def test_the_trace_page_shows_the_run(server: FakeLLMServer) -> None:
    """The viewer's Trace page: the run's tree with tokens per model request, and a model request's conversation
    with the tool's call and result readable."""
    tool_then_city(server, "pa-viewer")
    with spanlite.start_span("user") as root:
        weather_agent(server, "pa-viewer", output_type=City).run_sync("Where is it?")
    spanlite.flush()
    at = open_page(app(), "trace_page.py", trace=root.trace_id)
    tree = span_tree_rows(at)
    assert [row[:3] for row in tree] == [
        (0, "CHAIN", "user"),
        (1, "AGENT", "invoke_agent geo"),
        (2, "CHAT_MODEL", "chat pa-viewer"),
        (2, "TOOL", "execute_tool weather"),
        (2, "CHAT_MODEL", "chat pa-viewer"),
    ]
    assert [row[3] for row in tree] == ["", "", "12→5", "", "12→5"]  # per model request, not summed
    trace = spanlite.get_trace(root.trace_id)
    assert trace is not None
    at.query_params["span"] = named(trace.spans, "chat pa-viewer")[-1].span_id
    at.run()
    assert not at.exception, at.exception
    assert [m.name for m in at.chat_message] == ["user", "assistant", "user", "assistant"]
    assert [t.value for t in at.text] == ["Where is it?", "sunny in Paris"]  # the question, the tool's result
    model, *calls = [c.value for c in at.code]
    assert model == "pa-viewer-2024"  # in the span's header
    assert [json.loads(c) for c in calls] == [{"city": "Paris"}, PARIS]  # the tool call, the output call
