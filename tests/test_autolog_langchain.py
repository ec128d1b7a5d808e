"""autolog for LangChain and LangGraph: real langchain-core / langgraph / ChatOpenAI over the fake model server.

The OpenAI SDK is autologged too, as users would have it: a model call through ChatOpenAI must still be one span.
"""

from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

import spanlite
from _reroute import ToFake
from fake_llm_server import OPENAI_USAGE, TEXT, TEXT_PIECES, FakeLLMServer
from spanlite.store import SpanRecord
from spanlite.tracing import attributes as attr

with warnings.catch_warnings():  # moved to langchain.agents in LangGraph 1.0; still the prebuilt ReAct graph
    warnings.simplefilter("ignore")
    from langgraph.prebuilt import create_react_agent

QUESTION = {"messages": [("user", "Weather and time in Paris?")]}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    srv = FakeLLMServer().start()
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def _autolog() -> Iterator[None]:
    spanlite.autolog("langchain_core", "openai")
    yield
    spanlite.autolog("langchain_core", "openai", disable=True)


def llm(server: FakeLLMServer) -> ChatOpenAI:
    return ChatOpenAI(model="gpt-4o-mini", base_url=server.url, api_key="test", max_retries=0, stream_usage=True)


@tool
def weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


@tool
def time(city: str) -> str:
    """The time in a city."""
    return f"noon in {city}"


@tool
def broken(city: str) -> str:
    """A tool that fails."""
    raise KeyError(city)


def agent(server: FakeLLMServer, tools: list[Any] | None = None) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return create_react_agent(llm(server), tools or [weather, time])


class Shelf(BaseRetriever):
    """A tiny in-memory retriever: documents that mention the query's last word."""

    docs: list[Document]

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        word = query.split()[-1].lower()
        return [d for d in self.docs if word in d.page_content.lower().split()]


def rag(server: FakeLLMServer) -> Any:
    shelf = Shelf(docs=[Document(page_content="Paris is in France"), Document(page_content="Rome is in Italy")])
    prompt = ChatPromptTemplate.from_messages([("system", "Context: {context}"), ("user", "{question}")])
    context = RunnableLambda(lambda q: {"context": shelf.invoke(q), "question": q})
    return context | prompt | llm(server) | StrOutputParser()


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


def decoded(span: SpanRecord, key: str) -> Any:
    value = span.attributes[key]
    return json.loads(value) if isinstance(value, str) else value


AGENT_ROUND = [
    "1 agent [CHAIN]",
    "2 call_model [CHAIN]",
    "2 RunnableSequence [CHAIN]",
    "3 Prompt [CHAIN]",
    "3 chat gpt-4o-mini [CHAT_MODEL]",
    "2 should_continue [CHAIN]",
]


def test_react_agent_tree_kinds_and_tokens_once(server: FakeLLMServer) -> None:
    result, top, spans = trace_of(lambda: agent(server).invoke(QUESTION))
    assert result["messages"][-1].content == TEXT
    lines = tree(spans, top)
    assert lines[0] == "0 LangGraph [AGENT]"
    assert lines[1:7] == AGENT_ROUND and lines[-6:] == AGENT_ROUND
    tool_lines = lines[7:-6]  # one "tools" node per tool call (LangGraph Sends them in parallel)
    assert sorted(tool_lines) == sorted(
        ["1 tools [CHAIN]", "1 tools [CHAIN]", "2 execute_tool weather [TOOL]", "2 execute_tool time [TOOL]"]
    )
    models = [s for s in spans if s.kind == "CHAT_MODEL"]
    assert len(models) == 2  # two model calls, two spans: ChatOpenAI's, not a second one from the OpenAI SDK
    assert not [s for s in spans if s.kind in ("LLM", "EMBEDDING")]
    trace = spanlite.get_trace(top.trace_id)
    assert trace is not None
    assert trace.info.input_tokens == 2 * OPENAI_USAGE["prompt_tokens"]
    assert trace.info.output_tokens == 2 * OPENAI_USAGE["completion_tokens"]

    first, second = sorted(models, key=lambda s: s.start_ns)
    a = first.attributes
    assert a[attr.GEN_AI_PROVIDER_NAME] == "openai_compatible"  # ChatOpenAI on the fake's base URL, not OpenAI's
    assert a[attr.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"
    assert a[attr.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini-2024" and a[attr.GEN_AI_RESPONSE_ID] == "chatcmpl-1"
    assert a[attr.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 2 and a[attr.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 1
    assert [d["name"] for d in decoded(first, attr.GEN_AI_TOOL_DEFINITIONS)] == ["weather", "time"]
    assert decoded(first, attr.GEN_AI_INPUT_MESSAGES) == [
        {"role": "user", "parts": [{"type": "text", "content": "Weather and time in Paris?"}]}
    ]
    assert decoded(first, attr.GEN_AI_OUTPUT_MESSAGES) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": "call_0", "name": "weather", "arguments": {"city": "Paris"}},
                {"type": "tool_call", "id": "call_1", "name": "time", "arguments": {"city": "Paris"}},
            ],
            "finish_reason": "tool_calls",
        }
    ]
    assert decoded(second, attr.GEN_AI_INPUT_MESSAGES)[-1] == {
        "role": "tool",
        "parts": [{"type": "tool_call_response", "id": "call_1", "response": "noon in Paris"}],
    }
    assert decoded(second, attr.GEN_AI_OUTPUT_MESSAGES)[0]["parts"] == [{"type": "text", "content": TEXT}]

    tools = {s.attributes[attr.GEN_AI_TOOL_NAME]: s for s in spans if s.kind == "TOOL"}
    assert tools["weather"].attributes[attr.GEN_AI_TOOL_CALL_ID] == "call_0"
    assert tools["weather"].inputs == {"city": "Paris"}
    assert tools["weather"].outputs["content"] == "sunny in Paris"
    nodes = [s for s in spans if attr.LANGGRAPH_NODE in s.attributes]
    assert [(s.attributes[attr.LANGGRAPH_NODE], s.attributes[attr.LANGGRAPH_STEP]) for s in nodes] == [
        ("agent", 1),
        ("tools", 2),
        ("tools", 2),
        ("agent", 3),
    ]
    graph = next(s for s in spans if s.kind == "AGENT")
    assert graph.inputs["messages"][0][1] == "Weather and time in Paris?"
    assert graph.outputs["messages"][-1]["content"] == TEXT


def _chunks(items: list[Any]) -> list[Any]:
    """Stream items as plain data; run ids and checkpoint ids differ from run to run, so they are left out."""
    out = []
    for item in items:
        message, meta = item if isinstance(item, tuple) else (item, {})
        dump = getattr(message, "model_dump", None)
        data = dump(exclude={"id"}) if dump else message
        out.append((data, {k: v for k, v in meta.items() if "checkpoint" not in k} if isinstance(meta, dict) else meta))
    return out


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_agent_streams_the_same_chunks(server: FakeLLMServer, mode: str) -> None:
    def run() -> list[Any]:
        graph = agent(server)
        if mode == "sync":
            return list(graph.stream(QUESTION, stream_mode="messages"))

        async def main() -> list[Any]:
            return [c async for c in graph.astream(QUESTION, stream_mode="messages")]

        return asyncio.run(main())

    spanlite.autolog("langchain_core", "openai", disable=True)
    plain = _chunks(run())
    spanlite.autolog("langchain_core", "openai")
    logged, top, spans = trace_of(run)
    # The two tools run concurrently (threads or tasks), so their messages may come in either order, with or
    # without autolog: compare the chunks as a multiset, and the streamed answer in order.
    assert sorted(map(repr, _chunks(logged))) == sorted(map(repr, plain))
    assert [c[0]["content"] for c in _chunks(logged) if c[0].get("content")][-3:] == TEXT_PIECES
    assert [c[0]["content"] for c in plain if c[0].get("content")][-3:] == TEXT_PIECES
    models = [s for s in spans if s.kind == "CHAT_MODEL"]
    assert len(models) == 2
    assert all(m.attributes[attr.STREAM] is True for m in models)
    assert all(attr.EVENT_FIRST_TOKEN in [e["name"] for e in m.events] for m in models)
    trace = spanlite.get_trace(top.trace_id)
    assert trace is not None and trace.info.input_tokens == 24  # the usage chunk ChatOpenAI asked for, once


RAG_TREE = [
    "0 RunnableSequence [CHAIN]",
    "1 RunnableLambda [CHAIN]",
    "2 Shelf [RETRIEVER]",
    "1 ChatPromptTemplate [CHAIN]",
    "1 chat gpt-4o-mini [CHAT_MODEL]",
    "1 StrOutputParser [PARSER]",
]


def test_rag_chain_sync_async_batch_stream(server: FakeLLMServer) -> None:
    chain = rag(server)
    result, top, spans = trace_of(lambda: chain.invoke("Where is Paris"))
    assert result == TEXT
    assert tree(spans, top) == RAG_TREE
    retriever = next(s for s in spans if s.kind == "RETRIEVER")
    assert retriever.inputs == {"query": "Where is Paris"}
    assert retriever.outputs == [{"page_content": "Paris is in France", "metadata": {}}]
    model = next(s for s in spans if s.kind == "CHAT_MODEL")
    assert decoded(model, attr.GEN_AI_INPUT_MESSAGES)[1] == {
        "role": "user",
        "parts": [{"type": "text", "content": "Where is Paris"}],
    }
    assert next(s for s in spans if s.kind == "PARSER").outputs == TEXT

    result, top, spans = trace_of(lambda: asyncio.run(chain.ainvoke("Where is Paris")))
    assert result == TEXT and tree(spans, top) == RAG_TREE

    result, top, spans = trace_of(lambda: chain.batch(["Where is Paris", "Where is Rome"]))
    assert result == [TEXT, TEXT]
    lines = tree(spans, top)
    assert sorted(lines) == sorted(RAG_TREE * 2)
    assert len([s for s in spans if s.kind == "CHAT_MODEL"]) == 2

    result, top, spans = trace_of(lambda: list(chain.stream("Where is Paris")))
    assert result == ["", *TEXT_PIECES, ""] or "".join(result) == TEXT
    assert tree(spans, top) == RAG_TREE
    sequence = next(s for s in spans if s.name == "RunnableSequence")
    assert sequence.inputs == "Where is Paris" and sequence.outputs == TEXT  # a stream learns both at its end
    trace = spanlite.get_trace(top.trace_id)
    assert trace is not None and trace.info.input_tokens == 12


def test_stream_chunks_unchanged(server: FakeLLMServer) -> None:
    spanlite.autolog("langchain_core", "openai", disable=True)
    plain = list(rag(server).stream("Where is Paris"))
    spanlite.autolog("langchain_core", "openai")
    assert list(rag(server).stream("Where is Paris")) == plain


def test_tool_error_recorded_and_reraised_unchanged(server: FakeLLMServer) -> None:
    graph = agent(server, [broken])
    with spanlite.start_span("user") as root:
        with pytest.raises(KeyError) as caught:
            broken.invoke({"city": "Paris"})
    assert caught.value.args == ("Paris",)
    spanlite.flush()
    trace = spanlite.get_trace(root.trace_id)
    assert trace is not None
    span = next(s for s in trace.spans if s.kind == "TOOL")
    assert span.status == "ERROR" and span.attributes[attr.ERROR_TYPE] == "KeyError"
    assert any(e["name"] == "exception" for e in span.events)
    # Inside an agent (ToolNode re-raises by default) the same error reaches the caller, and each run failed.
    with spanlite.start_span("user") as root:
        with pytest.raises(KeyError) as caught:
            graph.invoke(QUESTION)
    assert caught.value.args == ("Paris",)
    spanlite.flush()
    trace = spanlite.get_trace(root.trace_id)
    assert trace is not None
    failed = {(s.name, s.kind) for s in trace.spans if s.status == "ERROR"}
    assert {("execute_tool broken", "TOOL"), ("tools", "CHAIN"), ("LangGraph", "AGENT")} <= failed
    assert [s.status for s in trace.spans if s.kind == "CHAT_MODEL"] == ["OK"]


def test_chain_error_reraised_unchanged(server: FakeLLMServer) -> None:
    class Boom(Exception):
        pass

    def fail(_: Any) -> Any:
        raise Boom("no")

    chain = RunnableLambda(fail) | StrOutputParser()
    with spanlite.start_span("user") as root:
        with pytest.raises(Boom) as caught:
            chain.invoke("x")
    assert str(caught.value) == "no"
    spanlite.flush()
    trace = spanlite.get_trace(root.trace_id)
    assert trace is not None
    failed = {s.name: s.status for s in trace.spans}
    assert failed == {"user": "OK", "RunnableSequence": "ERROR", "fail": "ERROR"}


def test_user_spans_nest_both_ways(server: FakeLLMServer) -> None:
    """A tool calling the OpenAI SDK and a @trace helper: both nest under the tool, inside the user's span."""
    import openai

    client = openai.OpenAI(base_url=server.url, api_key="test", max_retries=0)

    @spanlite.trace
    def lookup(city: str) -> str:
        return client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": city}]).id

    @tool
    def research(city: str) -> str:
        """Research a city."""
        return lookup(city)

    @spanlite.trace(kind="AGENT")
    def app() -> Any:
        return agent(server, [research]).invoke(QUESTION)

    _, top, spans = trace_of(app)
    lines = tree(spans, top)
    at = lines.index("3 execute_tool research [TOOL]")
    assert lines[:2] == ["0 app [AGENT]", "1 LangGraph [AGENT]"]
    assert lines[at + 1 : at + 3] == ["4 lookup [CHAIN]", "5 chat gpt-4o [CHAT_MODEL]"]
    trace = spanlite.get_trace(top.trace_id)
    assert trace is not None and trace.info.input_tokens == 3 * 12  # two agent model calls and the tool's own
    client.close()


def test_interrupt_is_not_an_error(server: FakeLLMServer) -> None:
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.graph import END, START, StateGraph
    from langgraph.types import interrupt
    from typing_extensions import TypedDict

    class State(TypedDict):
        answer: str

    def ask(state: State) -> State:
        return {"answer": interrupt("approve?")}

    graph = StateGraph(State).add_node("ask", ask).add_edge(START, "ask").add_edge("ask", END)
    app = graph.compile(checkpointer=InMemorySaver())
    result, _top, spans = trace_of(lambda: app.invoke({"answer": ""}, {"configurable": {"thread_id": "1"}}))
    assert "__interrupt__" in result
    node = next(s for s in spans if s.name == "ask")
    assert node.status == "OK"
    event = next(e for e in node.events if e["name"] == attr.EVENT_INTERRUPT)
    assert "approve?" in json.dumps(event["attributes"])
    assert all(s.status == "OK" for s in spans)


def test_disable_idempotent_and_results_identical(server: FakeLLMServer) -> None:
    spanlite.autolog("langchain_core")  # a second time changes nothing
    _, _, spans = trace_of(lambda: rag(server).invoke("Where is Paris"))
    assert len(spans) == len(RAG_TREE)
    spanlite.autolog("langchain_core", "openai", disable=True)
    plain, _, spans = trace_of(lambda: agent(server).invoke(QUESTION))
    assert spans == []
    spanlite.autolog("langchain_core")  # LangChain alone: the model span is ChatOpenAI's
    logged, _, spans = trace_of(lambda: agent(server).invoke(QUESTION))
    strip = [m.model_dump(exclude={"id"}) for m in plain["messages"]]
    assert [m.model_dump(exclude={"id"}) for m in logged["messages"]] == strip
    assert len([s for s in spans if s.kind == "CHAT_MODEL"]) == 2


def test_chat_openai_on_another_providers_api_names_that_provider(server: FakeLLMServer) -> None:
    """ChatOpenAI says ``ls_provider="openai"`` whatever its ``base_url``; the span names the host's provider, as
    the OpenAI SDK's own span would."""
    client = httpx.Client(transport=ToFake(server.url))
    model = ChatOpenAI(model="deepseek-chat", base_url="https://api.deepseek.com", api_key="test", http_client=client)
    with spanlite.start_span("root") as top:
        model.invoke("Hi")
    trace = spanlite.get_trace(top.trace_id)
    assert trace is not None
    [span] = [s for s in trace.spans if s.kind == "CHAT_MODEL"]
    assert span.attributes[attr.GEN_AI_PROVIDER_NAME] == "deepseek"
    client.close()
