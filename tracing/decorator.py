"""The ``@trace`` decorator: one span per call of a function, method, coroutine or generator."""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from typing import Any, TypeVar, overload

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace

from . import _depth
from ._capture import set_json_later
from ._guard import guard, internal_error
from ._sdk_attributes import set_valid_attributes
from .attributes import INPUTS, OUTPUTS, SPAN_KIND
from .kinds import SpanKind
from .serialize import plain_json
from .span import Span, close_span, otel_values, start_otel_span

F = TypeVar("F", bound=Callable[..., Any])
STEP = _depth.STEP
_MAX_CAPTURED_ITEMS = 1_000  # items of a generator kept for its outputs when no reducer is given


@overload
def trace(func: F) -> F: ...
@overload
def trace(
    func: None = None,
    *,
    name: str | None = None,
    kind: str | SpanKind = SpanKind.CHAIN,
    attributes: Mapping[str, Any] | None = None,
    capture_inputs: bool = True,
    capture_outputs: bool = True,
    output_reducer: Callable[[list[Any]], Any] | None = None,
) -> Callable[[F], F]: ...


def trace(
    func: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    kind: str | SpanKind = SpanKind.CHAIN,
    attributes: Mapping[str, Any] | None = None,
    capture_inputs: bool = True,
    capture_outputs: bool = True,
    output_reducer: Callable[[list[Any]], Any] | None = None,
) -> Any:
    """Record every call of a function as a span, with its arguments, result and any exception.

    Works on plain and async functions, generators and async generators, methods, classmethods and
    staticmethods. Inputs are the bound arguments with defaults, without ``self``/``cls``. A generator's output
    is the list of what it yielded (or ``output_reducer(items)``); its span ends when it is exhausted, closed,
    broken out of or garbage collected. The function's result and exceptions are never changed.

    Plain data (dicts, lists, strings, numbers, dataclasses: what JSON takes) is recorded as it is when the call
    begins (arguments) or returns (result). An object whose rendering runs your code (a ``__repr__``, a pydantic
    ``model_dump``) is rendered after the span ends, on spanlite's export thread, so that a slow one never holds
    the call up: it shows its state then, a fraction of a second later. Traced recursion goes as deep as plain
    recursion.

    >>> @trace(kind="TOOL")
    ... def add(a: int, b: int = 1) -> int:
    ...     return a + b
    >>> add(2)
    3
    """
    options = _Options(name, SpanKind.parse(kind), attributes, capture_inputs, capture_outputs, output_reducer)
    if func is None:
        return lambda f: _decorate(f, options)
    return _decorate(func, options)


class _Options:
    __slots__ = ("name", "kind", "values", "capture_inputs", "capture_outputs", "output_reducer")

    def __init__(
        self,
        name: str | None,
        kind: SpanKind,
        attributes: Mapping[str, Any] | None,
        capture_inputs: bool,
        capture_outputs: bool,
        output_reducer: Callable[[list[Any]], Any] | None,
    ) -> None:
        self.name = name
        self.kind = kind
        self.capture_inputs = capture_inputs
        self.capture_outputs = capture_outputs
        self.output_reducer = output_reducer
        # What every span of the function starts with, converted once here instead of on every call.
        self.values = {SPAN_KIND: kind.value, **otel_values(attributes or {})}


def _decorate(func: Any, options: _Options) -> Any:
    if isinstance(func, (classmethod, staticmethod)):
        return type(func)(_decorate(func.__func__, options))
    if not callable(func):
        raise TypeError(f"@trace needs a function, got {type(func).__name__}")
    call = _Call(func, options)
    if inspect.isasyncgenfunction(func):
        wrapper: Callable[..., Any] = _async_generator_wrapper(func, call)
    elif inspect.isgeneratorfunction(func):
        wrapper = _generator_wrapper(func, call)
    elif inspect.iscoroutinefunction(func):
        wrapper = _async_wrapper(func, call)
    else:
        wrapper = _sync_wrapper(func, call)
    return functools.wraps(func)(wrapper)


class _Call:
    """What the wrappers share: how to open the span of one call and how to record its result."""

    __slots__ = ("options", "name", "signature", "drop_first", "positional", "defaults")

    def __init__(self, func: Callable[..., Any], options: _Options) -> None:
        self.options = options
        self.name = options.name or func.__qualname__.rsplit(".<locals>.", 1)[-1]
        try:
            self.signature: inspect.Signature | None = inspect.signature(func)
        except (TypeError, ValueError):
            self.signature = None
        params = list(self.signature.parameters.values()) if self.signature else []
        self.drop_first = bool(params) and params[0].name in ("self", "cls")
        # Most functions take plain named parameters: bind those without inspect.Signature.bind, which is slow.
        plain = all(p.kind is p.POSITIONAL_OR_KEYWORD for p in params)
        self.positional: tuple[str, ...] | None = tuple(p.name for p in params) if plain else None
        self.defaults = {p.name: p.default for p in params if p.default is not p.empty}

    def start(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Span, object]:
        """Open the call's span; its inputs are set now if they are plain data, else once it has ended
        (``_capture``: an argument's ``__repr__`` or ``model_dump`` must not hold the caller up)."""
        values = self.options.values.copy()
        later = None
        if self.options.capture_inputs:
            inputs = self.inputs(args, kwargs)
            text = plain_json(inputs)
            if text is None:
                later = inputs
            else:
                values[INPUTS] = text
        otel_span = start_otel_span(self.name, values)
        if later is not None:
            set_json_later(otel_span, INPUTS, later)
        return Span(otel_span), otel_context.attach(otel_trace.set_span_in_context(otel_span))

    def inputs(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        names = self.positional
        if names is not None and len(args) <= len(names) and (not kwargs or kwargs.keys() <= set(names)):
            values = dict(zip(names, args))
            if kwargs:
                values.update(kwargs)
            for name, default in self.defaults.items():
                values.setdefault(name, default)
            if kwargs or self.defaults:
                values = {n: values[n] for n in names if n in values}  # signature order, as bind() gives
            if self.drop_first and names[0] in values:
                del values[names[0]]
            return values
        if self.signature is None:
            return {"args": list(args), "kwargs": kwargs}
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError:  # the call itself will fail with the user's own TypeError
            return {"args": list(args), "kwargs": kwargs}
        bound.apply_defaults()
        values = bound.arguments
        if self.drop_first:
            values = dict(values)
            del values[next(iter(values))]
        return values

    def finish(self, span: Span, token: object, result: Any) -> None:
        if self.options.capture_outputs:
            text = plain_json(result)  # set_json, inline: this runs for every traced call
            if text is None:
                set_json_later(span.otel_span, OUTPUTS, result)
            else:
                set_valid_attributes(span.otel_span, {OUTPUTS: text})
        close_span(span.otel_span, token, None)

    def fail(self, span: Span, token: object, exc: BaseException) -> None:
        close_span(span.otel_span, token, exc)

    def finish_items(self, span: Span, items: list[Any]) -> None:
        """End a generator's span; its output is what it yielded, reduced if a reducer was given."""
        reducer = self.options.output_reducer
        if reducer is None:
            self.finish(span, None, items)
            return
        try:
            outputs = reducer(items)
        except Exception:
            close_span(span.otel_span, None, None)  # a failing reducer still ends the span
            raise
        self.finish(span, None, outputs)


def _sync_wrapper(func: Callable[..., Any], call: _Call) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            span, token = call.start(args, kwargs)
        except Exception:
            internal_error(call.start)
            return func(*args, **kwargs)
        level = getattr(span.otel_span, "_spanlite_depth", 1)  # its wrapper frames on the stack, at most (``_depth``)
        if not level % STEP:
            guard(_depth.entered, level)
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            guard(call.fail, span, token, exc)
            raise
        finally:
            if not level % STEP:
                guard(_depth.left, level)
        try:
            call.finish(span, token, result)
        except Exception:
            internal_error(call.finish)
        return result

    return wrapper


def _async_wrapper(func: Callable[..., Any], call: _Call) -> Callable[..., Any]:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            span, token = call.start(args, kwargs)
        except Exception:
            internal_error(call.start)
            return await func(*args, **kwargs)
        level = getattr(span.otel_span, "_spanlite_depth", 1)
        if not level % STEP:
            guard(_depth.entered, level)
        try:
            result = await func(*args, **kwargs)
        except BaseException as exc:
            guard(call.fail, span, token, exc)
            raise
        finally:
            if not level % STEP:
                guard(_depth.left, level)
        try:
            call.finish(span, token, result)
        except Exception:
            internal_error(call.finish)
        return result

    return wrapper


def _generator_wrapper(func: Callable[..., Any], call: _Call) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        started = guard(call.start, args, kwargs)
        if started is None:
            return (yield from func(*args, **kwargs))
        span, token = started
        guard(otel_context.detach, token)  # the span is active only while the generator body runs
        span_context = otel_trace.set_span_in_context(span.otel_span)
        items: list[Any] = []
        keep_all = call.options.output_reducer is not None
        gen = func(*args, **kwargs)
        to_send: Any = None
        to_throw: BaseException | None = None
        try:
            while True:
                step_token = otel_context.attach(span_context)
                try:
                    item = gen.throw(to_throw) if to_throw is not None else gen.send(to_send)
                finally:
                    otel_context.detach(step_token)
                if keep_all or len(items) < _MAX_CAPTURED_ITEMS:
                    items.append(item)
                to_send, to_throw = None, None
                try:
                    to_send = yield item
                except GeneratorExit:
                    raise
                except BaseException as exc:  # thrown in by the caller: pass it on to the generator
                    to_throw = exc
        except StopIteration as stop:
            guard(call.finish_items, span, items)
            return stop.value
        except GeneratorExit:  # closed early: break, close() or garbage collection
            gen.close()
            guard(call.finish_items, span, items)
            raise
        except BaseException as exc:
            guard(call.fail, span, None, exc)
            raise

    return wrapper


def _async_generator_wrapper(func: Callable[..., Any], call: _Call) -> Callable[..., Any]:
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        started = guard(call.start, args, kwargs)
        gen = func(*args, **kwargs)
        if started is None:
            async for item in gen:
                yield item
            return
        span, token = started
        guard(otel_context.detach, token)
        span_context = otel_trace.set_span_in_context(span.otel_span)
        items: list[Any] = []
        keep_all = call.options.output_reducer is not None
        to_send: Any = None
        to_throw: BaseException | None = None
        try:
            while True:
                step_token = otel_context.attach(span_context)
                try:
                    if to_throw is not None:
                        item = await gen.athrow(to_throw)
                    else:
                        item = await gen.asend(to_send)
                finally:
                    otel_context.detach(step_token)
                if keep_all or len(items) < _MAX_CAPTURED_ITEMS:
                    items.append(item)
                to_send, to_throw = None, None
                try:
                    to_send = yield item
                except (GeneratorExit, _cancelled_error()):
                    # An abandoned async generator is closed by a task the loop may cancel at shutdown: either way
                    # the consumer has stopped, which is an early close, not a failure of the generator.
                    raise GeneratorExit from None
                except BaseException as exc:
                    to_throw = exc
        except StopAsyncIteration:
            guard(call.finish_items, span, items)
        except GeneratorExit:
            await gen.aclose()
            guard(call.finish_items, span, items)
            raise
        except BaseException as exc:
            guard(call.fail, span, None, exc)
            raise

    return wrapper


def _cancelled_error() -> type[BaseException]:
    """``asyncio.CancelledError``, imported when first needed: an async generator runs under an event loop, so
    asyncio is loaded by then, and ``import spanlite`` need not pay for it (a sixth of its import time)."""
    import asyncio

    return asyncio.CancelledError
