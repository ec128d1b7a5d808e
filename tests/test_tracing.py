"""The @trace decorator and start_span, read back from the real SQLite store."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import spanlite
from spanlite.store import SpanRecord, Trace


def only_trace() -> Trace:
    page = spanlite.search_traces()
    assert len(page) == 1, page
    trace = spanlite.get_trace(page[0].trace_id)
    assert trace is not None
    return trace


def by_name(trace: Trace) -> dict[str, SpanRecord]:
    return {s.name: s for s in trace.spans}


def test_sync_function_records_inputs_outputs_and_kind() -> None:
    @spanlite.trace(kind="tool", attributes={"team": "search", "weights": [1.0, 2.0], "cfg": {"k": 1}})
    def add(a: int, b: int = 10, *rest: int, scale: int = 1, **extra: Any) -> int:
        return (a + b + sum(rest)) * scale

    assert add(1, 2, 3, scale=2, note="x") == 12
    trace = only_trace()
    (span,) = trace.spans
    assert span.name == "add"
    assert span.kind == "TOOL"
    assert span.status == "OK"
    assert span.inputs == {"a": 1, "b": 2, "rest": [3], "scale": 2, "extra": {"note": "x"}}
    assert span.outputs == 12
    assert span.attributes["team"] == "search"
    assert span.attributes["weights"] == [1.0, 2.0]
    assert span.attributes["cfg"] == '{"k":1}'
    assert trace.info.name == "add" and trace.info.status == "OK" and trace.info.span_count == 1


def test_defaults_are_captured_and_options_respected() -> None:
    @spanlite.trace(name="custom", capture_outputs=False)
    def f(x: int, y: str = "d") -> str:
        return "secret"

    @spanlite.trace(capture_inputs=False)
    def g(password: str) -> int:
        return 1

    f(1)
    g("hunter2")
    spans = {s.name: s for t in spanlite.search_traces() for s in spanlite.get_trace(t.trace_id).spans}  # type: ignore[union-attr]
    assert spans["custom"].inputs == {"x": 1, "y": "d"}
    assert spans["custom"].outputs is None
    assert spans["g"].inputs is None and spans["g"].outputs == 1


def test_methods_classmethods_staticmethods_drop_self_and_cls() -> None:
    class Agent:
        factor = 3

        @spanlite.trace
        def run(self, q: str) -> str:
            return q * 2

        @spanlite.trace
        @classmethod
        def build(cls, n: int) -> int:
            return n * cls.factor

        @spanlite.trace
        @staticmethod
        def helper(n: int) -> int:
            return n + 1

    assert Agent().run("a") == "aa"
    assert Agent.build(2) == 6
    assert Agent.helper(1) == 2
    spans = [s for t in spanlite.search_traces() for s in spanlite.get_trace(t.trace_id).spans]  # type: ignore[union-attr]
    inputs = {s.name: s.inputs for s in spans}
    assert inputs == {"Agent.run": {"q": "a"}, "Agent.build": {"n": 2}, "Agent.helper": {"n": 1}}


def test_nested_spans_and_exception_inside_nested_spans() -> None:
    class Boom(Exception):
        pass

    @spanlite.trace(kind="TOOL")
    def inner() -> None:
        raise Boom("inner failed")

    @spanlite.trace(kind="AGENT")
    def outer() -> None:
        with spanlite.start_span("step", kind="CHAIN", inputs={"n": 1}):
            inner()

    with pytest.raises(Boom, match="inner failed") as caught:
        outer()
    assert type(caught.value) is Boom
    trace = only_trace()
    spans = by_name(trace)
    assert spans["step"].parent_id == spans["outer"].span_id
    assert spans["inner"].parent_id == spans["step"].span_id
    assert all(s.status == "ERROR" for s in trace.spans)
    assert spans["inner"].status_message == "Boom: inner failed"
    (event,) = spans["inner"].events
    assert event["name"] == "exception"
    assert event["attributes"]["exception.type"].endswith("Boom")
    assert "inner failed" in event["attributes"]["exception.stacktrace"]
    assert trace.info.status == "ERROR" and trace.info.error_count == 3


def test_caught_exception_leaves_outer_span_ok() -> None:
    @spanlite.trace
    def flaky() -> None:
        raise KeyError("x")

    @spanlite.trace
    def safe() -> str:
        try:
            flaky()
        except KeyError:
            return "recovered"
        return "no"

    assert safe() == "recovered"
    trace = only_trace()
    assert trace.info.status == "OK" and trace.info.error_count == 1


def test_generator_exhausted_records_items() -> None:
    @spanlite.trace
    def count(n: int) -> Iterator[int]:
        yield from range(n)

    assert list(count(3)) == [0, 1, 2]
    (span,) = only_trace().spans
    assert span.outputs == [0, 1, 2] and span.status == "OK"


def test_generator_broken_early_ends_span_and_closes_generator() -> None:
    closed = []

    @spanlite.trace(output_reducer=lambda items: "".join(items))
    def tokens() -> Iterator[str]:
        try:
            yield from ["a", "b", "c", "d"]
        finally:
            closed.append(True)

    for token in tokens():
        if token == "b":
            break
    gc.collect()
    assert closed == [True]
    (span,) = only_trace().spans
    assert span.outputs == "ab"
    assert span.status == "OK"


def test_generator_abandoned_to_garbage_collection_ends_span() -> None:
    @spanlite.trace
    def numbers() -> Iterator[int]:
        yield from range(100)

    it = numbers()
    next(it)
    del it
    gc.collect()
    (span,) = only_trace().spans
    assert span.outputs == [0]


def test_generator_send_and_throw_pass_through() -> None:
    @spanlite.trace
    def echo() -> Iterator[Any]:
        received = yield "ready"
        while True:
            try:
                received = yield f"got {received}"
            except ValueError:
                received = yield "handled"

    gen = echo()
    assert next(gen) == "ready"
    assert gen.send(1) == "got 1"
    assert gen.throw(ValueError("x")) == "handled"
    gen.close()
    (span,) = only_trace().spans
    assert span.outputs == ["ready", "got 1", "handled"]


def test_spans_inside_generator_nest_under_it_and_not_under_the_consumer() -> None:
    @spanlite.trace
    def step(i: int) -> int:
        return i

    @spanlite.trace
    def producer() -> Iterator[int]:
        for i in range(2):
            yield step(i)

    @spanlite.trace
    def consumer() -> list[int]:
        return [spanlite.current_span().span_id and i for i in producer()]

    consumer()
    spans = only_trace().spans
    names = {s.span_id: s.name for s in spans}
    parents = sorted((s.name, names.get(s.parent_id or "")) for s in spans)
    assert parents == [("consumer", None), ("producer", "consumer"), ("step", "producer"), ("step", "producer")]


def test_generator_error_marks_span() -> None:
    @spanlite.trace
    def bad() -> Iterator[int]:
        yield 1
        raise RuntimeError("mid-stream")

    with pytest.raises(RuntimeError, match="mid-stream"):
        list(bad())
    (span,) = only_trace().spans
    assert span.status == "ERROR" and span.outputs is None


def test_async_function_and_async_generator() -> None:
    @spanlite.trace
    async def fetch(x: int) -> int:
        await asyncio.sleep(0)
        return x * 2

    @spanlite.trace
    async def stream(n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield await fetch(i)

    @spanlite.trace(kind="AGENT")
    async def main() -> list[int]:
        out = []
        async for value in stream(5):
            out.append(value)
            if value == 4:
                break
        return out

    assert asyncio.run(main()) == [0, 2, 4]
    spans = only_trace().spans
    names = {s.span_id: s.name for s in spans}
    tree = sorted((s.name, names.get(s.parent_id or "")) for s in spans)
    assert tree == [("fetch", "stream")] * 3 + [("main", None), ("stream", "main")]
    assert by_name(only_trace())["stream"].outputs == [0, 2, 4]


def test_async_generator_cancelled_at_a_yield_is_an_early_close() -> None:
    """A loop shutting down cancels the task closing an abandoned async generator: the consumer stopped, the
    generator did not fail."""
    closed = []

    @spanlite.trace
    async def stream(n: int) -> AsyncIterator[int]:
        try:
            for i in range(n):
                yield i
        finally:
            closed.append(True)

    async def main() -> None:
        gen = stream(5)
        assert await gen.__anext__() == 0
        with pytest.raises(GeneratorExit):
            await gen.athrow(asyncio.CancelledError())

    asyncio.run(main())
    assert closed == [True]
    (span,) = only_trace().spans
    assert span.status == "OK" and span.outputs == [0]


def test_nesting_across_concurrent_async_tasks() -> None:
    @spanlite.trace
    async def leaf(i: int) -> int:
        await asyncio.sleep(0.001 * (3 - i))
        return i

    @spanlite.trace
    async def branch(i: int) -> int:
        return await leaf(i)

    @spanlite.trace
    async def root() -> list[int]:
        return list(await asyncio.gather(*(branch(i) for i in range(3))))

    assert asyncio.run(root()) == [0, 1, 2]
    spans = only_trace().spans
    branch_ids = {s.inputs["i"]: s.span_id for s in spans if s.name == "branch"}
    for leaf_span in (s for s in spans if s.name == "leaf"):
        assert leaf_span.parent_id == branch_ids[leaf_span.inputs["i"]]


def test_threads_start_their_own_traces_and_nest_within_them() -> None:
    @spanlite.trace
    def work(i: int) -> int:
        with spanlite.start_span(f"inner-{i}"):
            return i

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    traces = spanlite.search_traces()
    assert len(traces) == 8
    for summary in traces:
        trace = spanlite.get_trace(summary.trace_id)
        assert trace is not None
        spans = by_name(trace)
        i = spans["work"].inputs["i"]
        assert spans[f"inner-{i}"].parent_id == spans["work"].span_id


def test_non_json_inputs_and_huge_inputs_are_bounded_and_never_fail() -> None:
    class Opaque:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    cyclic: list[Any] = []
    cyclic.append(cyclic)

    @spanlite.trace
    def odd(obj: Any, data: bytes, cyc: list[Any], big: str, nums: set[int]) -> Any:
        return {"nan": float("nan"), (1, 2): "tuple key"}

    result = odd(Opaque(), b"\x00\xff", cyclic, "x" * 2_000_000, {3})
    assert result[(1, 2)] == "tuple key"
    (span,) = only_trace().spans
    assert span.inputs["obj"] == "<unrepresentable Opaque>"
    assert span.inputs["data"] == {"bytes": 2, "base64": "AP8=", "truncated": False}
    assert span.inputs["cyc"] == ["<cycle>"]
    assert span.inputs["nums"] == [3]
    big = span.inputs["big"]
    assert big["_spanlite_truncated"] is True and big["original_bytes"] == 2_000_000
    assert 1_000 < len(big["preview"]) < 300_000
    assert span.outputs == {"nan": "nan", "(1, 2)": "tuple key"}


def test_start_span_api_and_current_span() -> None:
    with spanlite.start_span("retrieve", kind="RETRIEVER", inputs={"query": "q"}) as span:
        assert spanlite.current_span().span_id == span.span_id
        span.set_outputs([{"doc": 1}])
        span.set_attributes({"k": 5, "filters": {"lang": "en"}})
        span.add_event("cache_miss", {"key": "q"})
    assert not spanlite.current_span().otel_span.is_recording()
    (record,) = only_trace().spans
    assert record.kind == "RETRIEVER"
    assert record.inputs == {"query": "q"} and record.outputs == [{"doc": 1}]
    assert record.attributes["k"] == 5 and record.attributes["filters"] == '{"lang":"en"}'
    assert record.events[0]["name"] == "cache_miss"


def test_unknown_kind_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown span kind 'ROBOT'"):
        spanlite.trace(kind="ROBOT")


def test_update_current_trace_merges_onto_the_trace() -> None:
    @spanlite.trace
    def inner() -> None:
        spanlite.update_current_trace(tags=["b"], metadata={"v": 2, "w": 1}, user_id="ada")

    @spanlite.trace
    def outer() -> None:
        spanlite.update_current_trace(tags=["a", "b"], metadata={"v": 1}, session_id="s-1")
        inner()
        spanlite.update_current_trace(tags={"env": "prod"})

    outer()
    info = only_trace().info
    assert sorted(info.tags) == ["a", "b", "env=prod"]
    assert info.metadata == {"v": 2, "w": 1}
    assert (info.session_id, info.user_id) == ("s-1", "ada")
    assert spanlite.search_traces(tags=["a", "env=prod"])[0].trace_id == info.trace_id
    assert spanlite.search_traces(session_id="s-1", metadata={"w": 1})[0].trace_id == info.trace_id
    assert len(spanlite.search_traces(tags=["a", "zzz"])) == 0


def test_spans_nest_under_the_users_own_otel_span() -> None:
    from opentelemetry.sdk.trace import TracerProvider

    their_tracer = TracerProvider().get_tracer("their-app")

    @spanlite.trace
    def ours() -> int:
        return 1

    with their_tracer.start_as_current_span("their-request") as theirs:
        ours()
    (span,) = only_trace().spans
    assert span.trace_id == format(theirs.get_span_context().trace_id, "032x")
    assert span.parent_id == format(theirs.get_span_context().span_id, "016x")


def test_use_global_provider_adds_our_processor_to_theirs(db_path: Any) -> None:
    from opentelemetry import trace as otel_trace
    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider()
    otel_trace._TRACER_PROVIDER = None  # type: ignore[attr-defined]  # reset the once-only global for this test
    otel_trace._TRACER_PROVIDER_SET_ONCE._done = False  # type: ignore[attr-defined]
    otel_trace.set_tracer_provider(provider)
    spanlite.configure(db=db_path, use_global_provider=True)
    with otel_trace.get_tracer("theirs").start_as_current_span("their-span"):
        spanlite.trace(lambda: 1)()
    names = sorted(s.name for s in only_trace().spans)
    assert names == ["<lambda>", "their-span"]


def test_sampling_keeps_whole_traces(db_path: Any) -> None:
    spanlite.configure(db=db_path, sample_rate=0.0)

    @spanlite.trace
    def f() -> int:
        return 1

    assert f() == 1
    assert len(spanlite.search_traces()) == 0
    with pytest.raises(ValueError, match="sample_rate"):
        spanlite.configure(db=db_path, sample_rate=2)


def test_a_trace_continued_from_elsewhere_is_summarised_from_its_local_root() -> None:
    from opentelemetry.sdk.trace import TracerProvider

    from spanlite.tracing import extract_traceparent

    their_tracer = TracerProvider().get_tracer("their-app")  # spans that never reach our store
    with their_tracer.start_as_current_span("their-request"):
        with spanlite.start_span("ours", inputs="hello") as span:
            spanlite.trace(lambda: 1)()
    with extract_traceparent({"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}):
        with spanlite.start_span("handler") as remote_child:
            pass
    spanlite.flush()
    local = spanlite.get_trace(span.trace_id).info  # type: ignore[union-attr]
    assert (local.name, local.status, local.root_span_id, local.input_preview) == ("ours", "OK", span.span_id, "hello")
    remote = spanlite.get_trace(remote_child.trace_id).info  # type: ignore[union-attr]
    assert (remote.name, remote.status) == ("handler", "OK")
