"""autolog for the OpenAI Agents SDK: the real SDK, its model calls over real HTTP to the fake model server.

The SDK's own exporter would post every trace to OpenAI's backend; the module fixture replaces the SDK's processors
(``set_trace_processors([])``, what the README tells users who want traces kept local) before autolog adds ours.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import agents
import pytest
from agents import (
    Agent,
    GuardrailFunctionOutput,
    InputGuardrailTripwireTriggered,
    MaxTurnsExceeded,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    Runner,
    UserError,
    function_tool,
    input_guardrail,
)
from openai import AsyncOpenAI
from pydantic import BaseModel

import spanlite
from _helpers import cli
from fake_llm_server import JSON_ANSWER, FakeLLMServer
from spanlite.store import SpanRecord, TraceStore, TraceSummary
from spanlite.tracing import attributes as attr

ANSWER = "Sunny and noon in Paris."


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    srv = FakeLLMServer().start()
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def _autolog(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    spanlite.autolog("openai_agents", disable=True)
    agents.set_trace_processors([])  # no trace may leave for OpenAI's backend
    spanlite.autolog("openai_agents")
    caplog.set_level(logging.ERROR)
    yield
    spanlite.autolog("openai_agents", "openai", disable=True)
    # A detach in the wrong context (OTel logs it), or our error inside a processor call (the SDK logs it: under
    # SPANLITE_STRICT=1 we raise into the SDK, which swallows it), fails the test.
    records = caplog.get_records("call")
    failures = [
        r.getMessage()
        for r in records
        if r.name.startswith("opentelemetry") or (r.name == "openai.agents" and "processor" in r.getMessage())
    ]
    assert failures == []


@pytest.fixture
def client(server: FakeLLMServer) -> Iterator[AsyncOpenAI]:
    # No connection kept alive: each run has an event loop of its own, which closes with the run.
    headers = {"connection": "close"}
    c = AsyncOpenAI(base_url=server.url + "/v1", api_key="test", max_retries=0, default_headers=headers)
    yield c
    asyncio.run(c.close())


@spanlite.trace
def shout(city: str) -> str:
    return city.upper()


@function_tool
def weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {shout(city)}"


@function_tool
def clock(city: str) -> str:
    """The time in a city."""
    return f"noon in {city}"


@function_tool
def broken(city: str) -> str:
    """A tool that fails."""
    raise KeyError(city)


def team(server: FakeLLMServer, client: AsyncOpenAI, prefix: str, chat: bool = False, **triage: Any) -> Agent[Any]:
    """A triage agent that hands off to a specialist with two tools, which it calls in parallel."""
    model = OpenAIChatCompletionsModel if chat else OpenAIResponsesModel
    specialist = Agent(
        name="specialist",
        instructions="Answer with the tools.",
        tools=[weather, clock],
        model=model(model=f"{prefix}-spec", openai_client=client),
    )
    server.script(f"{prefix}-triage", [[("transfer_to_specialist", {}, "call_t")]])
    calls = [("weather", {"city": "Paris"}, "call_w"), ("clock", {"city": "Paris"}, "call_c")]
    server.script(f"{prefix}-spec", [calls, ANSWER])
    return Agent(
        name="triage",
        instructions="Route the question.",
        handoffs=[specialist],
        model=model(model=f"{prefix}-triage", openai_client=client),
        **triage,
    )


TEAM_TREE = [
    "0 Agent workflow [CHAIN]",
    "1 invoke_agent triage [AGENT]",
    "2 chat {p}-triage{v} [CHAT_MODEL]",
    "2 handoff triage -> specialist [CHAIN]",
    "1 invoke_agent specialist [AGENT]",
    "2 chat {p}-spec{v} [CHAT_MODEL]",
    "2 execute_tool clock [TOOL]",
    "2 execute_tool weather [TOOL]",
    "3 shout [CHAIN]",
    "2 chat {p}-spec{v} [CHAT_MODEL]",
]


def team_tree(prefix: str, chat: bool = False) -> list[str]:
    return [line.format(p=prefix, v="" if chat else "-2024") for line in TEAM_TREE]


def traced(run: Callable[[], Any]) -> tuple[Any, list[tuple[TraceSummary, list[SpanRecord]]]]:
    """What ``run`` returned or raised, and every trace it left with its spans."""
    try:
        result: Any = run()
    except Exception as exc:
        result = exc
    spanlite.flush()
    found = []
    for summary in spanlite.search_traces():
        trace = spanlite.get_trace(summary.trace_id)
        assert trace is not None
        found.append((summary, trace.spans))
    return result, found


def only_tree(found: list[tuple[TraceSummary, list[SpanRecord]]]) -> tuple[TraceSummary, list[SpanRecord]]:
    assert len(found) == 1, [t.name for t, _ in found]
    return found[0]


def tree(spans: list[SpanRecord]) -> list[str]:
    """``depth name [KIND]`` lines, depth first, children in start order: the shape at a glance. Tools called in
    parallel start in any order: a run of TOOL siblings is listed by name."""
    ids = {s.span_id for s in spans}
    children: dict[str | None, list[SpanRecord]] = {}
    for span in sorted(spans, key=lambda s: s.start_ns):
        children.setdefault(span.parent_id if span.parent_id in ids else None, []).append(span)
    lines: list[str] = []

    def walk(parent: str | None, depth: int) -> None:
        below = children.get(parent, [])
        i = 0
        while i < len(below):
            j = i
            while j < len(below) and below[j].kind == "TOOL" == below[i].kind:
                j += 1
            for span in sorted(below[i:j], key=lambda s: s.name) if j > i + 1 else below[i : i + 1]:
                lines.append(f"{depth} {span.name} [{span.kind}]")
                walk(span.span_id, depth + 1)
            i = max(j, i + 1)

    walk(None, 0)
    return lines


def named(spans: list[SpanRecord], name: str) -> list[SpanRecord]:
    return sorted((s for s in spans if s.name == name), key=lambda s: s.start_ns)


def value(span: SpanRecord, key: str) -> Any:
    raw = span.attributes[key]
    return json.loads(raw) if isinstance(raw, str) and raw[:1] in "[{" else raw


def outcome(result: Any) -> Any:
    """What the caller can compare: the final output and the items, or the exception's type and text."""
    if isinstance(result, Exception):
        return type(result), str(result)
    return result.final_output, result.to_input_list()


# -- the runs -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("with_openai", [False, True], ids=["alone", "with-openai-autolog"])
def test_run_handoff_and_parallel_tools_one_tree_tokens_once(
    server: FakeLLMServer, client: AsyncOpenAI, with_openai: bool
) -> None:
    if with_openai:
        spanlite.autolog("openai")  # the SDK's model span stands for the call: the patched call stands aside
    result, found = traced(lambda: asyncio.run(Runner.run(team(server, client, "run"), "Weather in Paris?")))
    assert result.final_output == ANSWER
    trace, spans = only_tree(found)
    assert tree(spans) == team_tree("run")
    assert trace.name == "Agent workflow" and trace.status == "OK"
    assert (trace.input_tokens, trace.output_tokens) == (36, 15)  # three model calls of 12 and 5, each once
    assert trace.input_preview == "Weather in Paris?" and trace.output_preview == ANSWER

    root = named(spans, "Agent workflow")[0]
    triage, specialist = named(spans, "invoke_agent triage")[0], named(spans, "invoke_agent specialist")[0]
    assert {s.parent_id for s in (triage, specialist)} == {root.span_id}
    assert triage.attributes[attr.GEN_AI_OPERATION_NAME] == "invoke_agent"
    assert value(triage, attr.OPENAI_AGENTS_HANDOFFS) == ["specialist"]
    assert value(specialist, attr.OPENAI_AGENTS_TOOLS) == ["weather", "clock"]
    assert specialist.attributes[attr.OPENAI_AGENTS_OUTPUT_TYPE] == "str"
    assert triage.inputs == "Weather in Paris?" and triage.outputs is None  # it handed off
    assert specialist.outputs == ANSWER and root.outputs == ANSWER

    first, _, last = named(spans, "chat run-spec-2024")[0], None, named(spans, "chat run-spec-2024")[1]
    assert first.parent_id == specialist.span_id and first.model == "run-spec-2024"
    assert value(first, attr.GEN_AI_SYSTEM_INSTRUCTIONS) == [{"type": "text", "content": "Answer with the tools."}]
    assert [t["name"] for t in value(first, attr.GEN_AI_TOOL_DEFINITIONS)] == ["weather", "clock"]
    calls = value(first, attr.GEN_AI_OUTPUT_MESSAGES)[0]["parts"]
    assert [(c["type"], c["name"], c["id"]) for c in calls] == [
        ("tool_call", "weather", "call_w"),
        ("tool_call", "clock", "call_c"),
    ]
    assert value(last, attr.GEN_AI_INPUT_MESSAGES)[-1]["parts"][0]["type"] == "tool_call_response"
    assert value(last, attr.GEN_AI_OUTPUT_MESSAGES)[0]["parts"] == [{"type": "text", "content": ANSWER}]
    assert last.attributes[attr.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 2

    tool = named(spans, "execute_tool weather")[0]
    assert tool.parent_id == specialist.span_id and tool.attributes[attr.GEN_AI_TOOL_NAME] == "weather"
    assert tool.inputs == {"city": "Paris"} and tool.outputs == "sunny in PARIS"
    assert tool.attributes[attr.GEN_AI_TOOL_CALL_ID] == "call_w"  # the model's call it answers
    assert named(spans, "execute_tool clock")[0].attributes[attr.GEN_AI_TOOL_CALL_ID] == "call_c"
    assert named(spans, "shout")[0].parent_id == tool.span_id  # a traced helper in a tool nests under the tool
    handoff = named(spans, "handoff triage -> specialist")[0]
    assert handoff.attributes[attr.OPENAI_AGENTS_HANDOFF_TO] == "specialist"


@pytest.mark.parametrize("streamed", [False, True], ids=["run", "run_streamed"])
def test_chat_completions_model(server: FakeLLMServer, client: AsyncOpenAI, streamed: bool) -> None:
    spanlite.autolog("openai")
    agent = team(server, client, "chat", chat=True)

    async def run() -> Any:
        if not streamed:
            return await Runner.run(agent, "Weather?")
        result = Runner.run_streamed(agent, "Weather?")
        async for _ in result.stream_events():
            pass
        return result

    result, found = traced(lambda: asyncio.run(run()))
    assert result.final_output == ANSWER
    trace, spans = only_tree(found)
    assert tree(spans) == team_tree("chat", chat=True)
    # streamed, the SDK asks for no usage (its ModelSettings.include_usage), and the patch beneath stands aside
    assert (trace.input_tokens, trace.output_tokens) == ((None, None) if streamed else (36, 15))
    assert named(spans, "invoke_agent specialist")[0].outputs == ANSWER
    assert named(spans, "execute_tool weather")[0].attributes[attr.GEN_AI_TOOL_CALL_ID] == "call_w"
    last = named(spans, "chat chat-spec")[1]
    assert last.attributes[attr.GEN_AI_PROVIDER_NAME] == "openai_compatible"
    assert last.attributes[attr.GEN_AI_REQUEST_MODEL] == "chat-spec"
    assert value(last, attr.GEN_AI_INPUT_MESSAGES)[0] == {
        "role": "system",
        "parts": [{"type": "text", "content": "Answer with the tools."}],
    }
    assert value(last, attr.GEN_AI_OUTPUT_MESSAGES)[0]["parts"] == [{"type": "text", "content": ANSWER}]


def test_run_sync_under_a_user_span_with_group_and_metadata(server: FakeLLMServer, client: AsyncOpenAI) -> None:
    config = agents.RunConfig(workflow_name="support", group_id="chat-7", trace_metadata={"tier": "gold"})

    def run() -> Any:
        with spanlite.start_span("request"):
            try:
                return Runner.run_sync(team(server, client, "sync"), "Weather?", run_config=config)
            finally:  # run_sync leaves the thread's default loop open, for the next run: closed here
                policy = asyncio.get_event_loop_policy()
                policy.get_event_loop().close()
                policy.set_event_loop(None)

    result, found = traced(run)
    assert result.final_output == ANSWER
    trace, spans = only_tree(found)
    below = [f"{int(line[0]) + 1}{line[1:]}" for line in team_tree("sync")[1:]]
    assert tree(spans) == ["0 request [CHAIN]", "1 support [CHAIN]", *below]
    assert trace.name == "request" and trace.session_id == "chat-7" and trace.metadata == {"tier": "gold"}


def test_two_runs_in_one_sdk_trace(server: FakeLLMServer, client: AsyncOpenAI) -> None:
    """``agents.trace`` around two runs: one workflow span, both runs' agents under it."""

    async def run() -> None:
        with agents.trace("conversation", group_id="chat-9"):
            await Runner.run(team(server, client, "first"), "Weather?")
            await Runner.run(team(server, client, "second"), "And now?")

    _, found = traced(lambda: asyncio.run(run()))
    trace, spans = only_tree(found)
    assert [line for line in tree(spans) if line[0] in "01"] == [
        "0 conversation [CHAIN]",
        "1 invoke_agent triage [AGENT]",
        "1 invoke_agent specialist [AGENT]",
        "1 invoke_agent triage [AGENT]",
        "1 invoke_agent specialist [AGENT]",
    ]
    assert trace.session_id == "chat-9" and trace.input_tokens == 72


@pytest.mark.parametrize("how", ["consumed", "cancelled", "abandoned"])
def test_run_streamed(server: FakeLLMServer, client: AsyncOpenAI, how: str) -> None:
    spanlite.autolog("openai")

    events: list[str] = []

    async def run() -> Any:
        result = Runner.run_streamed(team(server, client, f"stream-{how}"), "Weather?")
        seen = 0
        async for event in result.stream_events():
            seen += 1
            events.append(getattr(event, "name", None) or getattr(getattr(event, "data", None), "type", event.type))
            if how == "cancelled" and event.type == "agent_updated_stream_event" and seen > 1:
                result.cancel()  # then keep consuming, as the SDK asks
            if how == "abandoned" and event.type == "raw_response_event" and seen > 3:
                break  # and drop the result: the loop's end cancels the run
        return result

    result, found = traced(lambda: asyncio.run(run()))
    trace, spans = only_tree(found)
    lines = tree(spans)
    expected = team_tree(f"stream-{how}")
    if how == "consumed":
        assert result.final_output == ANSWER and lines == expected
        assert (trace.input_tokens, trace.output_tokens) == (36, 15)
        logged = list(events)
        spanlite.autolog("openai_agents", "openai", disable=True)
        events.clear()
        plain = asyncio.run(run())
        assert (events, plain.final_output, plain.to_input_list()) == (logged, ANSWER, result.to_input_list())
    else:  # a prefix of the run, every span of it ended and stored under the one root
        # A model call cut short before its response came names no model: the SDK's span learns it from the response.
        cut = [re.sub(r"^(\d+ chat) \S+ (\[CHAT_MODEL\])$", r"\1 \2", line) for line in expected[: len(lines)]]
        assert len(lines) >= 3 and all(got in (full, short) for got, full, short in zip(lines, expected, cut)), lines
    assert sum(s.parent_id is None for s in spans) == 1


def test_span_ended_in_another_task() -> None:
    """A span started in one task and ended in another (the SDK's own manual ``start()`` / ``finish()``): the attach
    made where it started is not undone from the other context, which OTel would log as an error."""

    async def run() -> None:
        with agents.trace("handover"):
            span = agents.custom_span("step", {"n": 1})
            await asyncio.create_task(asyncio.to_thread(span.start))
            await asyncio.create_task(asyncio.sleep(0))
            await asyncio.create_task(asyncio.to_thread(span.finish))
            shout("after")  # in the trace's own context: under the workflow, not under the step

    _, found = traced(lambda: asyncio.run(run()))
    _, spans = only_tree(found)
    assert tree(spans) == ["0 handover [CHAIN]", "1 step [CHAIN]", "1 shout [CHAIN]"]
    assert named(spans, "step")[0].inputs == {"n": 1}


def test_sdk_call_in_a_tool_nests_under_it(server: FakeLLMServer, client: AsyncOpenAI) -> None:
    """An autologged OpenAI call the tool makes itself is a model span of its own, under the tool's span."""
    spanlite.autolog("openai")

    @function_tool
    async def summarize(text: str) -> str:
        """Summarize a text."""
        reply = await client.chat.completions.create(model="summarizer", messages=[{"role": "user", "content": text}])
        return reply.choices[0].message.content or ""

    server.script("nest", [[("summarize", {"text": "long"}, "call_s")], "Short."])
    agent = Agent(name="a", tools=[summarize], model=OpenAIResponsesModel(model="nest", openai_client=client))
    result, found = traced(lambda: asyncio.run(Runner.run(agent, "Summarize")))
    assert result.final_output == "Short."
    trace, spans = only_tree(found)
    assert tree(spans) == [
        "0 Agent workflow [CHAIN]",
        "1 invoke_agent a [AGENT]",
        "2 chat nest-2024 [CHAT_MODEL]",
        "2 execute_tool summarize [TOOL]",
        "3 chat summarizer [CHAT_MODEL]",
        "2 chat nest-2024 [CHAT_MODEL]",
    ]
    assert trace.input_tokens == 36


def test_model_error_reaches_the_caller_unchanged(server: FakeLLMServer, client: AsyncOpenAI) -> None:
    agent = Agent(name="a", model=OpenAIResponsesModel(model="error-500", openai_client=client))
    spanlite.autolog("openai_agents", disable=True)
    plain, _ = traced(lambda: asyncio.run(Runner.run(agent, "Hi")))
    spanlite.autolog("openai_agents")
    spanlite.configure(db=Path(os.environ["SPANLITE_DB"]).with_name("logged.db"))
    logged, found = traced(lambda: asyncio.run(Runner.run(agent, "Hi")))
    assert type(logged).__name__ == "InternalServerError" and outcome(logged) == outcome(plain)
    trace, spans = only_tree(found)
    assert tree(spans) == ["0 Agent workflow [CHAIN]", "1 invoke_agent a [AGENT]", "2 chat [CHAT_MODEL]"]
    assert trace.status == "ERROR" and all(s.status == "ERROR" for s in spans)
    model = named(spans, "chat")[0]
    assert model.status_message == "Error getting response" and "fake 500" in str(model.events)


def test_mcp_server_tools(server: FakeLLMServer, client: AsyncOpenAI) -> None:
    """An agent with an MCP server: the SDK lists its tools (a span of its own) and calls one like any tool."""
    import mcp.types
    from agents.mcp import MCPServer

    class Catalog(MCPServer):
        """An MCP server in-process, as the SDK sees one: its tools listed, one called."""

        @property
        def name(self) -> str:
            return "catalog"

        async def connect(self) -> None:
            pass

        async def cleanup(self) -> None:
            pass

        async def list_tools(self, run_context: Any = None, agent: Any = None) -> list[mcp.types.Tool]:
            return [mcp.types.Tool(name="price", input_schema={"type": "object", "properties": {}})]

        async def call_tool(self, tool_name: str, arguments: Any, meta: Any = None) -> mcp.types.CallToolResult:
            return mcp.types.CallToolResult(content=[mcp.types.TextContent(type="text", text="12 EUR")])

        async def list_prompts(self) -> Any:
            raise NotImplementedError

        async def get_prompt(self, name: str, arguments: Any = None) -> Any:
            raise NotImplementedError

    server.script("mcp", [[("price", {}, "call_p")], "It costs 12 EUR."])
    model = OpenAIResponsesModel(model="mcp", openai_client=client)
    agent = Agent(name="shop", mcp_servers=[Catalog()], model=model)
    result, found = traced(lambda: asyncio.run(Runner.run(agent, "Price?")))
    assert result.final_output == "It costs 12 EUR."
    _, spans = only_tree(found)
    assert tree(spans) == [
        "0 Agent workflow [CHAIN]",
        "1 invoke_agent shop [AGENT]",
        "2 list_tools catalog [CHAIN]",
        "2 chat mcp-2024 [CHAT_MODEL]",
        "2 execute_tool price [TOOL]",
        "2 list_tools catalog [CHAIN]",  # listed again for the next turn
        "2 chat mcp-2024 [CHAT_MODEL]",
    ]
    assert named(spans, "list_tools catalog")[0].outputs == ["price"]
    assert "12 EUR" in str(named(spans, "execute_tool price")[0].outputs)


class City(BaseModel):
    city: str
    country: str


def test_structured_output(server: FakeLLMServer, client: AsyncOpenAI) -> None:
    agent = Agent(name="geo", output_type=City, model=OpenAIResponsesModel(model="structured", openai_client=client))
    result, found = traced(lambda: asyncio.run(Runner.run(agent, "Where is the Louvre?")))
    assert result.final_output == City(city="Paris", country="France")
    _, spans = only_tree(found)
    geo, model = named(spans, "invoke_agent geo")[0], named(spans, "chat structured-2024")[0]
    assert geo.attributes[attr.OPENAI_AGENTS_OUTPUT_TYPE] == "City"
    assert model.attributes[attr.GEN_AI_OUTPUT_TYPE] == "json"
    assert geo.outputs == JSON_ANSWER  # the model's answer, as it came


def test_agent_as_tool(server: FakeLLMServer, client: AsyncOpenAI) -> None:
    translator = Agent(
        name="translator",
        instructions="Translate.",
        model=OpenAIResponsesModel(model="tool-translator", openai_client=client),
    )
    server.script("tool-translator", ["Bonjour"])
    server.script("tool-lead", [[("translate", {"input": "Hello"}, "call_tr")], "Done: Bonjour"])
    lead = Agent(
        name="lead",
        instructions="Delegate.",
        tools=[translator.as_tool(tool_name="translate", tool_description="Translate to French.")],
        model=OpenAIResponsesModel(model="tool-lead", openai_client=client),
    )
    result, found = traced(lambda: asyncio.run(Runner.run(lead, "Say hello in French")))
    assert result.final_output == "Done: Bonjour"
    trace, spans = only_tree(found)
    assert tree(spans) == [
        "0 Agent workflow [CHAIN]",
        "1 invoke_agent lead [AGENT]",
        "2 chat tool-lead-2024 [CHAT_MODEL]",
        "2 execute_tool translate [TOOL]",
        "3 invoke_agent translator [AGENT]",
        "4 chat tool-translator-2024 [CHAT_MODEL]",
        "2 chat tool-lead-2024 [CHAT_MODEL]",
    ]
    assert named(spans, "execute_tool translate")[0].outputs == "Bonjour"
    assert named(spans, "invoke_agent translator")[0].outputs == "Bonjour"
    assert named(spans, "invoke_agent lead")[0].outputs == "Done: Bonjour"
    assert trace.input_tokens == 36


@input_guardrail
def no_homework(context: Any, agent: Agent[Any], text: Any) -> GuardrailFunctionOutput:
    return GuardrailFunctionOutput(
        output_info={"homework": "homework" in str(text)}, tripwire_triggered="homework" in str(text)
    )


def test_input_guardrail_trips(server: FakeLLMServer, client: AsyncOpenAI) -> None:
    def run() -> Any:
        return asyncio.run(Runner.run(team(server, client, "guard", input_guardrails=[no_homework]), "My homework?"))

    spanlite.autolog("openai_agents", disable=True)
    plain, _ = traced(run)
    spanlite.autolog("openai_agents")
    spanlite.configure(db=Path(os.environ["SPANLITE_DB"]).with_name("logged.db"))
    result, found = traced(run)
    assert isinstance(result, InputGuardrailTripwireTriggered) and outcome(result) == outcome(plain)
    trace, spans = only_tree(found)
    assert trace.status == "ERROR"
    guardrail = named(spans, "no_homework")[0]
    assert guardrail.kind == "GUARDRAIL" and guardrail.parent_id == named(spans, "invoke_agent triage")[0].span_id
    assert guardrail.attributes[attr.GUARDRAIL_TRIGGERED] is True and guardrail.outputs == {"triggered": True}
    triage = named(spans, "invoke_agent triage")[0]
    assert triage.status == "ERROR" and triage.status_message == "Guardrail tripwire triggered"


def test_max_turns_exceeded(server: FakeLLMServer, client: AsyncOpenAI) -> None:
    result, found = traced(lambda: asyncio.run(Runner.run(team(server, client, "turns"), "Weather?", max_turns=1)))
    assert isinstance(result, MaxTurnsExceeded)
    trace, spans = only_tree(found)
    assert trace.status == "ERROR"
    (agent,) = [s for s in spans if s.kind == "AGENT" and s.status == "ERROR"]
    assert agent.status_message == "Max turns exceeded"
    assert agent.events[0]["name"] == "exception"


def test_exception_in_a_tool(server: FakeLLMServer, client: AsyncOpenAI) -> None:
    """The SDK hands a tool's error back to the model by default: the TOOL span fails, the run goes on; without
    that handler the error reaches the caller as the SDK's own ``UserError``."""
    model = OpenAIResponsesModel(model="broken", openai_client=client)
    server.script("broken", [[("broken", {"city": "Paris"}, "call_b")], "Sorry."])
    result, found = traced(lambda: asyncio.run(Runner.run(Agent(name="a", tools=[broken], model=model), "Hi")))
    assert result.final_output == "Sorry."
    trace, spans = only_tree(found)
    tool = named(spans, "execute_tool broken")[0]
    assert tool.status == "ERROR" and trace.status == "OK"
    # what the SDK tells of it: its text is the SDK's to redact (trace_include_sensitive_data)
    assert tool.events[0]["attributes"][attr.EXCEPTION_MESSAGE].startswith("Error running tool")

    raising = function_tool(failure_error_function=None)(_raise)
    server.script("broken", [[("_raise", {"city": "Paris"}, "call_r")], "Sorry."])
    agent = Agent(name="b", tools=[raising], model=model)
    spanlite.configure(db=Path(os.environ["SPANLITE_DB"]).with_name("raising.db"))
    result, found = traced(lambda: asyncio.run(Runner.run(agent, "Hi")))
    assert isinstance(result, UserError) and "Paris" in str(result)
    trace, spans = only_tree(found)
    assert trace.status == "ERROR" or named(spans, "b")[0].status == "ERROR"
    assert named(spans, "execute_tool _raise")[0].status == "ERROR"


def _raise(city: str) -> str:
    """A tool that fails, its error not handed to the model."""
    raise KeyError(city)


def test_no_content_kept_when_capture_is_off(server: FakeLLMServer, client: AsyncOpenAI, db_path: Path) -> None:
    spanlite.configure(db=db_path, capture_content=False)
    result, found = traced(lambda: asyncio.run(Runner.run(team(server, client, "quiet"), "Secret question")))
    assert result.final_output == ANSWER
    trace, spans = only_tree(found)
    assert tree(spans) == team_tree("quiet") and trace.input_tokens == 36
    for span in spans:
        if span.kind == "CHAT_MODEL":  # the request's settings and tools, as the OpenAI integration keeps them
            assert not {"input", "instructions"} & set(span.inputs) and span.outputs is None
        elif span.name != "shout":  # the user's own traced function records what it was given
            assert span.inputs is None and span.outputs is None, span.name
        assert not {attr.GEN_AI_INPUT_MESSAGES, attr.GEN_AI_OUTPUT_MESSAGES} & set(span.attributes), span.name
        assert "Secret" not in json.dumps(span.attributes) and ANSWER not in json.dumps(span.attributes)


def test_disable_and_results_identical(server: FakeLLMServer, client: AsyncOpenAI) -> None:
    def run() -> Any:
        return asyncio.run(Runner.run(team(server, client, "same"), "Weather?"))

    logged, found = traced(run)
    assert len(found) == 1
    spanlite.autolog("openai_agents", disable=True)
    spanlite.configure(db=Path(os.environ["SPANLITE_DB"]).with_name("off.db"))
    plain, found = traced(run)
    assert [trace.name for trace, _ in found] == ["shout"]  # only the user's own traced helper, a trace alone
    assert outcome(plain) == outcome(logged)
    spanlite.autolog("openai_agents")  # on again: one processor at work, not two
    spanlite.configure(db=Path(os.environ["SPANLITE_DB"]).with_name("again.db"))
    again, found = traced(run)
    assert outcome(again) == outcome(logged) and tree(only_tree(found)[1]) == team_tree("same")


def test_set_trace_processors_after_autolog_keeps_ours(server: FakeLLMServer, client: AsyncOpenAI) -> None:
    agents.set_trace_processors([])
    _, found = traced(lambda: asyncio.run(Runner.run(team(server, client, "kept"), "Weather?")))
    assert tree(only_tree(found)[1]) == team_tree("kept")


def test_traces_show(server: FakeLLMServer, client: AsyncOpenAI, db_path: Path) -> None:
    """The issue's done-when run: triage hands off to a specialist with two tools, behind a guardrail that lets the
    question through: one tree, in the store and as ``spanlite traces show`` prints it."""
    agent = team(server, client, "show", input_guardrails=[no_homework])
    _, found = traced(lambda: asyncio.run(Runner.run(agent, "Weather in Paris?")))
    trace, _ = only_tree(found)
    shown = cli("traces", "show", trace.trace_id, db=db_path)
    assert shown.returncode == 0, shown.stderr
    rows = [line.strip().split(None, 1) for line in shown.stdout.splitlines()[2:]]  # kind, then name  duration …
    assert [kind + " " + re.split(r"\s{2,}", rest)[0] for kind, rest in rows] == [
        "CHAIN Agent workflow",
        "AGENT invoke_agent triage",
        "GUARDRAIL no_homework",
        "CHAT_MODEL chat show-triage-2024",
        "CHAIN handoff triage -> specialist",
        "AGENT invoke_agent specialist",
        "CHAT_MODEL chat show-spec-2024",
        "TOOL execute_tool weather",
        "CHAIN shout",
        "TOOL execute_tool clock",
        "CHAT_MODEL chat show-spec-2024",
    ]


def test_trace_page_reads_the_run(server: FakeLLMServer, client: AsyncOpenAI) -> None:
    """The viewer's Trace page shows the run's tree: agents, model calls, tools and the handoff by name."""
    from _helpers import app, open_page, span_tree_rows

    _, found = traced(lambda: asyncio.run(Runner.run(team(server, client, "view"), "Weather in Paris?")))
    trace, _ = only_tree(found)
    page = open_page(app(), "trace_page.py", trace=trace.trace_id)
    shown = [name for _, _, name, *_ in span_tree_rows(page)]
    assert sorted(shown) == sorted(line.split(" ", 1)[1].rsplit(" [", 1)[0] for line in team_tree("view"))
    assert "handoff triage -> specialist" in shown and "execute_tool clock" in shown


@pytest.mark.parametrize("layout", ["agents/__init__.py", "agents.py"])
def test_an_apps_own_agents_module_is_left_alone(tmp_path: Path, layout: str) -> None:
    """``agents`` is a common name for an app's own package: autolog must not mistake it for the SDK, nor complain."""
    (tmp_path / layout).parent.mkdir(exist_ok=True)
    (tmp_path / layout).write_text("NAME = 'mine'\n")
    script = "import spanlite; spanlite.autolog(); import agents; print(agents.NAME)"
    env = {**os.environ, "SPANLITE_STRICT": "1", "SPANLITE_DB": str(tmp_path / "t.db")}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "mine\n", "")


def test_example_app_writes_a_trace(tmp_path: Path) -> None:
    """``spanlite run -- python examples/openai_agents_app.py --fake``, as its docstring says, leaves one tree."""
    db = tmp_path / "example.db"
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "SPANLITE_DB": str(db), "SPANLITE_STRICT": "0"}
    command = [sys.executable, "-m", "spanlite.cli", "run", "--", sys.executable, "examples/openai_agents_app.py"]
    done = subprocess.run([*command, "--fake"], cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with TraceStore(db) as store:
        (trace,) = store.iter_traces()
        spans = store.get_trace(trace.trace_id).spans  # type: ignore[union-attr]
    kinds = sorted(s.kind for s in spans)
    assert kinds.count("AGENT") == 2 and kinds.count("TOOL") == 2 and kinds.count("GUARDRAIL") == 1
    assert trace.status == "OK" and trace.input_tokens and "handoff triage -> billing" in {s.name for s in spans}
