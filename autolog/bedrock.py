"""What to record for boto3's Bedrock Runtime client: ``converse``, ``converse_stream``, ``invoke_model`` and
``invoke_model_with_response_stream`` (boto3 is sync only).

botocore builds a new class for every client it makes (``ClientCreator.create_client``), so these methods live on no
class we could import. We wrap ``create_client`` and patch the class of each ``bedrock-runtime`` client it returns;
the classes of ``bedrock-runtime`` clients made before ``autolog()`` are found among ``BaseClient``'s subclasses and
patched too. Nothing else changes: an s3, sts or ``bedrock`` (control plane) client, its class and ``BaseClient``
are exactly as they were, and ``disable`` puts every patched method back.

Converse messages are read here; ``invoke_model`` bodies, per model family, in ``_bedrock_invoke``. AWS credentials
and signatures are in no argument or result we record (nor are the response's HTTP headers).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from spanlite.tracing import attributes as attr
from spanlite.tracing._guard import guard
from spanlite.tracing.kinds import SpanKind

from . import _record as rec
from ._bedrock_invoke import InvokeStream, invoke_request, invoke_response, settle_body
from ._bedrock_shapes import ConverseStream, base_attributes, chat_attributes, chat_response
from ._patch import Endpoint, Request, call_sync

_SERVICE = "bedrock-runtime"
_CLASS_NAME = "BedrockRuntime"  # botocore's name for a bedrock-runtime client's class (from the service's name)
_patched: weakref.WeakSet[type] = weakref.WeakSet()  # client classes we patched; a dropped client's goes with it


# Converse ------------------------------------------------------------------------------------------------------


def _converse_request(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], content: bool) -> Request:
    model = kwargs.get("modelId")
    return Request(
        name=rec.span_name("chat", model),
        kind=SpanKind.CHAT_MODEL,
        attributes={**base_attributes("chat", model), **chat_attributes(kwargs, content)},
        inputs=rec.inputs(kwargs, ("messages", "system"), content),
        kwargs=kwargs,
        content=content,
    )


def _converse_response(request: Request, result: Any) -> dict[str, Any]:
    if not isinstance(result, dict):
        return {}
    data = {k: v for k, v in result.items() if k != "ResponseMetadata"}  # HTTP headers: transport, not the answer
    return chat_response(request, data, rec.get(result, "ResponseMetadata", "RequestId"))


def _error(exc: BaseException) -> dict[str, Any]:
    """botocore's ``ClientError`` keeps the HTTP status in its parsed response (an error event mid-stream has none)."""
    status = rec.get(getattr(exc, "response", None), "ResponseMetadata", "HTTPStatusCode")
    return {attr.HTTP_RESPONSE_STATUS_CODE: status} if isinstance(status, int) else {}


def _holds_stream(key: str) -> Callable[[Any], bool]:
    def is_stream(result: Any) -> bool:
        from botocore.eventstream import EventStream

        return isinstance(result, dict) and isinstance(result.get(key), EventStream)

    return is_stream


_MODULE = "botocore.client"  # not imported from: each client's class is patched where botocore makes it (below)
ENDPOINTS: list[Endpoint] = [
    Endpoint(_MODULE, "converse", _converse_request, _converse_response, error=_error),
    Endpoint(
        _MODULE,
        "converse_stream",
        _converse_request,
        _converse_response,
        ConverseStream,
        _holds_stream("stream"),
        stream_key="stream",
        error=_error,
    ),
    Endpoint(_MODULE, "invoke_model", invoke_request, invoke_response, settle=settle_body, error=_error),
    Endpoint(
        _MODULE,
        "invoke_model_with_response_stream",
        invoke_request,
        invoke_response,
        InvokeStream,
        _holds_stream("body"),
        stream_key="body",
        error=_error,
    ),
]


# Patching the classes botocore makes ----------------------------------------------------------------------------


def _method_wrapper(endpoint: Endpoint) -> Callable[..., Any]:
    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return call_sync(endpoint, instance, args, kwargs, wrapped)

    return wrapper


def _patch_class(cls: type) -> None:
    import wrapt

    if cls in _patched:
        return
    for endpoint in ENDPOINTS:
        if endpoint.attribute in cls.__dict__:  # an operation this botocore release lacks is skipped
            wrapt.wrap_function_wrapper(cls, endpoint.attribute, _method_wrapper(endpoint))
    _patched.add(cls)


def _unpatch_class(cls: type) -> None:
    import wrapt

    for endpoint in ENDPOINTS:
        method = cls.__dict__.get(endpoint.attribute)
        if isinstance(method, wrapt.FunctionWrapper):
            setattr(cls, endpoint.attribute, method.__wrapped__)
    _patched.discard(cls)


def _is_runtime_class(cls: type) -> bool:
    names = getattr(cls, "_PY_TO_OP_NAME", None)
    return cls.__name__ == _CLASS_NAME and isinstance(names, dict) and names.get("converse") == "Converse"


def _created(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    client = wrapped(*args, **kwargs)  # the user's call: once, outside our guard
    guard(_patch_client, client)
    return client


def _patch_client(client: Any) -> None:
    if client.meta.service_model.service_name == _SERVICE:
        _patch_class(type(client))


def patch() -> Callable[[], None]:
    """Patch bedrock-runtime clients, those made from now on and those already made; the function returned takes
    every patch off again."""
    import wrapt
    from botocore.client import BaseClient, ClientCreator

    wrapt.wrap_function_wrapper(ClientCreator, "create_client", _created)
    for cls in BaseClient.__subclasses__():
        if _is_runtime_class(cls):
            guard(_patch_class, cls)

    def undo() -> None:
        method = ClientCreator.__dict__.get("create_client")
        if isinstance(method, wrapt.FunctionWrapper):
            ClientCreator.create_client = method.__wrapped__
        for cls in list(_patched):
            guard(_unpatch_class, cls)

    return undo
