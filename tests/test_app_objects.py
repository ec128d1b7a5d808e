"""The app is never slowed by its own objects: slow reprs, slow ``__str__``s, deep recursion."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import pytest

import spanlite
from spanlite.store import SpanRecord

SLEEP_S = 1.0


class SlowRepr:
    """An argument whose rendering, run by tracing, would hold the caller up."""

    def __init__(self, label: str) -> None:
        self.label = label

    def __repr__(self) -> str:
        time.sleep(SLEEP_S)
        return f"SlowRepr({self.label})"


class SlowModel:
    """Looks like a pydantic model to spanlite."""

    def __init__(self) -> None:
        self.answer = 42

    def model_dump(self, mode: str = "python") -> dict[str, Any]:
        time.sleep(SLEEP_S)
        return {"answer": self.answer}


def spans() -> dict[str, SpanRecord]:
    assert spanlite.flush()
    traces = [spanlite.get_trace(t.trace_id) for t in spanlite.search_traces()]
    return {s.name: s for t in traces if t is not None for s in t.spans}


def test_slow_reprs_and_model_dumps_do_not_hold_the_caller_up_and_are_still_recorded() -> None:
    @spanlite.trace
    def answer(question: str, context: SlowRepr, history: list[str]) -> SlowModel:
        history.append("answered")  # a plain argument is recorded as it was when the call began
        return SlowModel()

    @spanlite.trace
    async def answer_async(context: SlowRepr) -> SlowModel:
        return SlowModel()

    started = time.monotonic()
    history = ["asked"]
    assert answer("why?", SlowRepr("docs"), history).answer == 42
    assert asyncio.run(answer_async(SlowRepr("async"))).answer == 42
    with spanlite.start_span("block", inputs=SlowRepr("block")) as span:
        span.set_outputs(SlowModel())
    assert time.monotonic() - started < SLEEP_S  # four slow renderings, none of them on the caller's thread
    recorded = spans()
    assert recorded["answer"].inputs == {"question": "why?", "context": "SlowRepr(docs)", "history": ["asked"]}
    assert recorded["answer"].outputs == {"answer": 42}
    assert recorded["answer_async"].inputs == {"context": "SlowRepr(async)"}
    assert recorded["answer_async"].outputs == {"answer": 42}
    assert (recorded["block"].inputs, recorded["block"].outputs) == ("SlowRepr(block)", {"answer": 42})


def test_an_exception_s_str_is_called_once_however_many_spans_it_fails() -> None:
    class Counted(Exception):
        calls = 0

        def __str__(self) -> str:
            Counted.calls += 1
            return "counted"

    @spanlite.trace
    def inner() -> None:
        try:
            raise KeyError("cause")
        except KeyError as exc:
            raise Counted() from exc

    @spanlite.trace
    def outer() -> None:
        with spanlite.start_span("block"):
            inner()

    with pytest.raises(Counted):
        outer()
    assert Counted.calls == 1
    recorded = spans()
    for name in ("inner", "block", "outer"):
        span = recorded[name]
        assert span.status_message == "Counted: counted"
        (event,) = span.events
        stacktrace = event["attributes"]["exception.stacktrace"]
        assert event["attributes"]["exception.message"] == "counted"
        assert "KeyError: 'cause'" in stacktrace and "direct cause" in stacktrace
        assert stacktrace.endswith("Counted: counted\n") and "in inner" in stacktrace
    assert "in outer" in recorded["outer"].events[0]["attributes"]["exception.stacktrace"]
    assert "in outer" not in recorded["inner"].events[0]["attributes"]["exception.stacktrace"]


def plain_depth() -> int:
    """How deep a plain function can recurse from here."""
    deepest = 0

    def down(n: int) -> None:
        nonlocal deepest
        deepest = n
        down(n + 1)

    try:
        down(1)
    except RecursionError:
        pass
    return deepest


async def plain_depth_async() -> int:
    deepest = 0

    async def down(n: int) -> None:
        nonlocal deepest
        deepest = n
        await down(n + 1)

    try:
        await down(1)
    except RecursionError:
        pass
    return deepest


def test_traced_recursion_reaches_the_depth_plain_recursion_does() -> None:
    @spanlite.trace
    def down(n: int) -> int:
        return 0 if n == 1 else down(n - 1) + 1

    depth = plain_depth()
    limit = sys.getrecursionlimit()
    assert down(depth) == depth - 1  # was a RecursionError at half the depth
    assert sys.getrecursionlimit() == limit  # raised while it was needed only
    assert spanlite.flush()
    (trace,) = spanlite.search_traces()
    assert trace.span_count == depth


def test_an_exception_from_the_bottom_of_a_deep_traced_recursion_fails_every_span_with_its_trace() -> None:
    class Bottom(Exception):
        calls = 0

        def __str__(self) -> str:
            Bottom.calls += 1
            return "bottom"

    @spanlite.trace
    def down(n: int) -> int:
        if n == 1:
            raise Bottom()
        return down(n - 1) + 1

    depth = plain_depth()
    with pytest.raises(Bottom):
        down(depth)
    assert Bottom.calls == 1
    assert spanlite.flush()
    (summary,) = spanlite.search_traces()
    trace = spanlite.get_trace(summary.trace_id)
    assert trace is not None and len(trace.spans) == depth == summary.error_count
    for span in trace.spans:
        stacktrace = span.events[0]["attributes"]["exception.stacktrace"]
        assert stacktrace.startswith("Traceback") and stacktrace.endswith("Bottom: bottom\n")
        assert stacktrace.count("in down") <= depth


def test_traced_async_recursion_reaches_the_depth_plain_recursion_does() -> None:
    @spanlite.trace
    async def down(n: int) -> int:
        return 0 if n == 1 else await down(n - 1) + 1

    async def both() -> tuple[int, int]:
        depth = await plain_depth_async()
        return depth, await down(depth)

    limit = sys.getrecursionlimit()
    depth, result = asyncio.run(both())
    assert result == depth - 1
    assert sys.getrecursionlimit() == limit
    assert spanlite.flush()
    (trace,) = spanlite.search_traces()
    assert trace.span_count == depth
