"""autolog for boto3's Bedrock Runtime client: the real client over real (SigV4-signed) HTTP against a fake on
127.0.0.1. boto3 has no async client, so there is no async half to this matrix."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Before boto3 is imported: no profile, config or credentials file of the machine's, no instance metadata.
for _name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
    os.environ.pop(_name, None)
os.environ.update(
    AWS_CONFIG_FILE=os.devnull,
    AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    AWS_EC2_METADATA_DISABLED="true",
    AWS_DEFAULT_REGION="us-east-1",
)

import boto3  # noqa: E402
import wrapt  # noqa: E402
from botocore.client import BaseClient, ClientCreator  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402
from botocore.response import StreamingBody  # noqa: E402

import fake_llm_server as fake  # noqa: E402
import spanlite  # noqa: E402
from fake_bedrock import EMBEDDING, KEY_ID, FakeBedrock  # noqa: E402
from fake_llm_server import TEXT  # noqa: E402
from spanlite.store import SpanRecord  # noqa: E402
from spanlite.tracing import attributes as attr  # noqa: E402

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY"
CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
MESSAGES = [{"role": "user", "content": [{"text": "Hi"}]}]
TOOLS = {
    "tools": [{"toolSpec": {"name": "weather", "description": "Weather", "inputSchema": {"json": {"type": "object"}}}}]
}
THINKING = {"thinking": {"type": "enabled", "budget_tokens": 1024}}
_clients: dict[str, Any] = {}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeBedrock]:
    srv = FakeBedrock().start()
    yield srv
    _clients.clear()
    srv.stop()


@pytest.fixture(autouse=True)
def _autolog_off() -> Iterator[None]:
    yield
    spanlite.autolog("bedrock", disable=True)


def fresh_client(server: FakeBedrock, service: str = "bedrock-runtime") -> Any:
    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=server.url,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        config=Config(retries={"total_max_attempts": 1}),  # an error is answered at once, not retried with backoff
    )


def client(server: FakeBedrock) -> Any:
    """The module's one client: made before any autolog() here, so it also shows a client made before is traced."""
    if server.url not in _clients:
        _clients[server.url] = fresh_client(server)
    return _clients[server.url]


def both(scenario: Callable[[], Any]) -> tuple[Any, SpanRecord]:
    return fake.both("bedrock", scenario, ClientError)


def seen(result: dict[str, Any]) -> dict[str, Any]:
    """A result as data to compare: a body's type and bytes, a stream's events."""
    out = dict(result)
    if isinstance(out.get("body"), StreamingBody):
        out["body"] = (type(out["body"]).__name__, out["body"].read())
    for key in ("stream", "body"):
        if hasattr(out.get(key), "close") and not isinstance(out[key], tuple):
            out[key] = list(out[key])
    return out


def converse(server: FakeBedrock, stream: bool = False, modelId: str = CLAUDE, **kwargs: Any) -> Callable[[], Any]:  # noqa: N803 - boto3's name
    def run() -> Any:
        c = client(server)
        method = c.converse_stream if stream else c.converse
        return seen(method(modelId=modelId, messages=MESSAGES, **kwargs))

    return run


def invoke(server: FakeBedrock, model: str, body: dict[str, Any], stream: bool = False) -> Callable[[], Any]:
    def run() -> Any:
        c = client(server)
        method = c.invoke_model_with_response_stream if stream else c.invoke_model
        return seen(method(modelId=model, body=json.dumps(body)))

    return run


# Converse --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", [CLAUDE, "error-429", "error-500", "error-400"])
@pytest.mark.parametrize("stream", [False, True])
def test_converse_matrix(server: FakeBedrock, stream: bool, model: str) -> None:
    got, span = both(converse(server, stream=stream, modelId=model, system=[{"text": "Be brief."}]))
    a = span.attributes
    assert span.name == f"chat {model}" and span.kind == "CHAT_MODEL"
    assert a[attr.GEN_AI_PROVIDER_NAME] == "aws.bedrock" and a[attr.GEN_AI_REQUEST_MODEL] == model
    if model.startswith("error"):
        status = int(model.split("-")[1])
        assert got[0] == "error" and issubclass(got[1], ClientError) and span.status == "ERROR"
        assert a[attr.HTTP_RESPONSE_STATUS_CODE] == status
        assert [e["name"] for e in span.events] == ["exception"]
        return
    assert span.status == "OK"
    assert a[attr.GEN_AI_SYSTEM_INSTRUCTIONS] == [{"type": "text", "content": "Be brief."}]
    assert a[attr.GEN_AI_OUTPUT_MESSAGES] == [
        {"role": "assistant", "parts": [{"type": "text", "content": TEXT}], "finish_reason": "end_turn"}
    ]
    assert a[attr.GEN_AI_USAGE_INPUT_TOKENS] == 19  # 12 + 3 read from the cache + 4 written to it
    assert a[attr.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 3
    assert a[attr.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] == 4
    assert a[attr.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
    if stream:
        assert [e["name"] for e in span.events] == [attr.EVENT_FIRST_TOKEN]
        assert a[attr.STREAM] is True and a[attr.STREAM_CLOSED_EARLY] is False


def test_whole_converse_span_with_tools_and_reasoning(server: FakeBedrock) -> None:
    config = {"maxTokens": 100, "temperature": 0.5, "stopSequences": ["END"]}
    _, span = both(converse(server, toolConfig=TOOLS, inferenceConfig=config, additionalModelRequestFields=THINKING))
    assert span.attributes == {
        attr.GEN_AI_OPERATION_NAME: "chat",
        attr.GEN_AI_PROVIDER_NAME: "aws.bedrock",
        attr.GEN_AI_REQUEST_MODEL: CLAUDE,
        attr.GEN_AI_REQUEST_MAX_TOKENS: 100,
        attr.GEN_AI_REQUEST_TEMPERATURE: 0.5,
        attr.GEN_AI_REQUEST_STOP_SEQUENCES: ["END"],
        attr.GEN_AI_TOOL_DEFINITIONS: [
            {"type": "function", "name": "weather", "description": "Weather", "parameters": {"type": "object"}}
        ],
        attr.GEN_AI_INPUT_MESSAGES: [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}],
        attr.GEN_AI_RESPONSE_ID: "req-fake",
        attr.GEN_AI_RESPONSE_FINISH_REASONS: ["tool_use"],
        attr.GEN_AI_USAGE_INPUT_TOKENS: 19,
        attr.GEN_AI_USAGE_OUTPUT_TOKENS: 5,
        attr.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 3,
        attr.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: 4,
        attr.GEN_AI_OUTPUT_MESSAGES: [
            {
                "role": "assistant",
                "parts": [
                    {"type": "reasoning", "content": "Let me think."},
                    {"type": "text", "content": "Checking."},
                    {"type": "tool_call", "id": "tooluse_1", "name": "weather", "arguments": {"city": "Paris"}},
                ],
                "finish_reason": "tool_use",
            }
        ],
    }
    assert span.inputs == {
        "modelId": CLAUDE,
        "messages": MESSAGES,
        "toolConfig": TOOLS,
        "inferenceConfig": config,
        "additionalModelRequestFields": THINKING,
    }
    assert "ResponseMetadata" not in span.outputs and span.outputs["stopReason"] == "tool_use"


def test_streamed_converse_is_reassembled_as_whole(server: FakeBedrock) -> None:
    kwargs = {"toolConfig": TOOLS, "additionalModelRequestFields": THINKING}
    _, streamed = both(converse(server, stream=True, **kwargs))
    _, whole = both(converse(server, **kwargs))
    for key in (attr.GEN_AI_OUTPUT_MESSAGES, attr.GEN_AI_USAGE_INPUT_TOKENS, attr.GEN_AI_RESPONSE_FINISH_REASONS):
        assert streamed.attributes[key] == whole.attributes[key]
    assert streamed.outputs["output"]["message"]["content"][2]["toolUse"]["input"] == {"city": "Paris"}


def test_tool_result_goes_in(server: FakeBedrock) -> None:
    result = {"toolResult": {"toolUseId": "tooluse_1", "content": [{"json": {"temp": 21}}]}}
    use = {"toolUse": {"toolUseId": "tooluse_1", "name": "weather", "input": {"city": "Paris"}}}
    history = [*MESSAGES, {"role": "assistant", "content": [use]}, {"role": "user", "content": [result]}]

    def run() -> Any:
        return seen(client(server).converse(modelId=CLAUDE, messages=history, toolConfig=TOOLS))

    got, span = both(run)
    assert got[1]["stopReason"] == "end_turn"
    assert span.attributes[attr.GEN_AI_INPUT_MESSAGES][2] == {
        "role": "user",
        "parts": [{"type": "tool_call_response", "id": "tooluse_1", "response": [{"json": {"temp": 21}}]}],
    }


def test_stream_error_midway(server: FakeBedrock) -> None:
    got, span = both(converse(server, stream=True, modelId="stream-error"))
    assert got[0] == "error" and got[1].__name__ == "EventStreamError" and span.status == "ERROR"
    assert span.outputs["output"]["message"]["content"] == [{"text": "Hello"}]  # what arrived before the error
    assert span.attributes[attr.ERROR_TYPE] == "EventStreamError"


def _first_then(server: FakeBedrock, how: str, invoke_stream: bool) -> Callable[[], Any]:
    def run() -> Any:
        c = client(server)
        if invoke_stream:
            body = json.dumps({"prompt": "Hi"})
            response = c.invoke_model_with_response_stream(modelId="meta.llama3-8b-instruct-v1:0", body=body)
            key = "body"
        else:
            response, key = c.converse_stream(modelId=CLAUDE, messages=MESSAGES), "stream"
        stream = response[key]
        for first in stream:  # noqa: B007 - the first event is read after the loop
            break
        if how == "close":
            stream.close()
        else:
            raw = stream._raw_stream  # the HTTP body, kept to be closed after the stream is gone
            del stream, response
            with warnings.catch_warnings():  # a dropped stream's connection may go unclosed, autolog or not (3.13)
                warnings.simplefilter("ignore", ResourceWarning)
                gc.collect()
            raw.close()
        return first

    return run


@pytest.mark.parametrize("invoke_stream", [False, True], ids=["converse_stream", "invoke_stream"])
@pytest.mark.parametrize("how", ["close", "garbage"])
def test_early_close_ends_span_once(server: FakeBedrock, how: str, invoke_stream: bool) -> None:
    _, span = both(_first_then(server, how, invoke_stream))
    assert span.status == "OK" and span.attributes[attr.STREAM_CLOSED_EARLY] is True


def test_capture_content_false(server: FakeBedrock, db_path: Path) -> None:
    spanlite.configure(db=db_path, capture_content=False)
    _, span = both(converse(server, stream=True, system=[{"text": "secret"}], toolConfig=TOOLS))
    for key in (attr.GEN_AI_INPUT_MESSAGES, attr.GEN_AI_OUTPUT_MESSAGES, attr.GEN_AI_SYSTEM_INSTRUCTIONS):
        assert key not in span.attributes
    assert span.outputs is None and set(span.inputs) == {"modelId", "toolConfig"}
    assert span.attributes[attr.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
    _, span = both(invoke(server, CLAUDE, {"messages": [{"role": "user", "content": "secret"}], "max_tokens": 9}))
    assert span.outputs is None and set(span.inputs) == {"modelId"}
    assert attr.GEN_AI_INPUT_MESSAGES not in span.attributes and span.attributes[attr.GEN_AI_REQUEST_MAX_TOKENS] == 9


# InvokeModel -----------------------------------------------------------------------------------------------------

ANTHROPIC_BODY = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100, "system": "Be brief.",
                  "messages": [{"role": "user", "content": "Hi"}]}  # fmt: skip
NOVA_BODY = {"schemaVersion": "messages-v1", "messages": MESSAGES, "inferenceConfig": {"max_new_tokens": 100}}
TITAN_BODY = {"inputText": "Hi", "textGenerationConfig": {"maxTokenCount": 100}}
LLAMA_BODY = {"prompt": "Hi", "max_gen_len": 100}
# model id -> (body, span name's operation, kind, input tokens, finish reason)
FAMILIES = {
    CLAUDE: (ANTHROPIC_BODY, "chat", "CHAT_MODEL", 19, "end_turn"),
    "us.amazon.nova-lite-v1:0": (NOVA_BODY, "chat", "CHAT_MODEL", None, "end_turn"),
    "amazon.titan-text-express-v1": (TITAN_BODY, "text_completion", "LLM", 10, "FINISH"),
    "meta.llama3-8b-instruct-v1:0": (LLAMA_BODY, "text_completion", "LLM", 10, "stop"),
}


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("model", list(FAMILIES))
def test_invoke_model_families(server: FakeBedrock, model: str, stream: bool) -> None:
    body, operation, kind, input_tokens, finish = FAMILIES[model]
    got, span = both(invoke(server, model, body, stream=stream))
    a = span.attributes
    assert span.name == f"{operation} {model}" and span.kind == kind and span.status == "OK"
    assert a[attr.GEN_AI_PROVIDER_NAME] == "aws.bedrock" and a[attr.GEN_AI_REQUEST_MAX_TOKENS] == 100
    assert a[attr.GEN_AI_INPUT_MESSAGES][0]["parts"] == [{"type": "text", "content": "Hi"}]
    assert a[attr.GEN_AI_OUTPUT_MESSAGES] == [
        {"role": "assistant", "parts": [{"type": "text", "content": TEXT}], "finish_reason": finish}
    ]
    assert a[attr.GEN_AI_RESPONSE_FINISH_REASONS] == [finish] and a[attr.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
    if input_tokens is not None:
        assert a[attr.GEN_AI_USAGE_INPUT_TOKENS] == input_tokens
    if stream:
        assert [e["name"] for e in span.events] == [attr.EVENT_FIRST_TOKEN]
    else:
        assert got[1]["body"][0] == "StreamingBody"  # the caller's body: a StreamingBody, its bytes unchanged
    assert span.inputs == {"modelId": model, "body": body}


def test_nova_usage_counts_cache_reads_in(server: FakeBedrock) -> None:
    _, span = both(invoke(server, "amazon.nova-lite-v1:0", NOVA_BODY))
    assert span.attributes[attr.GEN_AI_USAGE_INPUT_TOKENS] == 15  # 12 + 3 read from the cache
    assert span.attributes[attr.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 3


def test_anthropic_tool_use_in_invoke_body(server: FakeBedrock) -> None:
    tools = [{"name": "weather", "description": "Weather", "input_schema": {"type": "object"}}]
    _, whole = both(invoke(server, CLAUDE, {**ANTHROPIC_BODY, "tools": tools}))
    _, streamed = both(invoke(server, CLAUDE, {**ANTHROPIC_BODY, "tools": tools}, stream=True))
    for span in (whole, streamed):
        assert span.attributes[attr.GEN_AI_TOOL_DEFINITIONS] == tools
        assert span.attributes[attr.GEN_AI_RESPONSE_ID] == "msg_bdrk_1"
        assert span.attributes[attr.GEN_AI_OUTPUT_MESSAGES][0]["parts"][1] == {
            "type": "tool_call", "id": "toolu_1", "name": "weather", "arguments": {"city": "Paris"}
        }  # fmt: skip


def test_titan_embeddings(server: FakeBedrock) -> None:
    got, span = both(invoke(server, "amazon.titan-embed-text-v2:0", {"inputText": "Hi", "dimensions": 3}))
    assert json.loads(got[1]["body"][1])["embedding"] == EMBEDDING
    assert span.name == "embeddings amazon.titan-embed-text-v2:0" and span.kind == "EMBEDDING"
    assert span.attributes[attr.GEN_AI_USAGE_INPUT_TOKENS] == 4
    assert span.outputs == {"inputTextTokenCount": 4, "dimensions": 3}


def test_unknown_family_uses_bedrock_header_counts(server: FakeBedrock) -> None:
    _, span = both(invoke(server, "mistral.mistral-7b-instruct-v0:2", {"prompt": "Hi"}))
    assert span.name == "generate_content mistral.mistral-7b-instruct-v0:2" and span.kind == "LLM"
    assert span.attributes[attr.GEN_AI_USAGE_INPUT_TOKENS] == 10  # x-amzn-bedrock-input-token-count
    assert span.attributes[attr.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
    assert span.outputs == {"answer": TEXT}


def test_body_read_in_pieces_is_unchanged(server: FakeBedrock) -> None:
    def run() -> Any:
        response = client(server).invoke_model(modelId=CLAUDE, body=json.dumps(ANTHROPIC_BODY))
        return [*response["body"].iter_chunks(chunk_size=7)], response["body"].read()

    got, span = both(run)
    assert b"".join(got[1][0]).startswith(b'{"id": "msg_bdrk_1"') and got[1][1] == b""
    assert span.attributes[attr.GEN_AI_RESPONSE_ID] == "msg_bdrk_1"


def test_body_that_fails_to_read_fails_the_callers_read(server: FakeBedrock) -> None:
    def run() -> Any:
        response = client(server).invoke_model(modelId="truncated", body=b"{}")
        try:
            response["body"].read()
        except Exception as exc:
            return type(exc).__name__
        return "read"

    got, span = both(run)
    assert got[1] in ("ResponseStreamingError", "IncompleteReadError") and span.status == "OK"


def test_file_body_is_not_read(server: FakeBedrock, tmp_path: Path) -> None:
    path = tmp_path / "body.json"
    path.write_text(json.dumps(LLAMA_BODY))

    def run() -> Any:
        with path.open("rb") as body:
            return seen(client(server).invoke_model(modelId="meta.llama3-8b-instruct-v1:0", body=body))

    _, span = both(run)
    assert span.inputs == {"modelId": "meta.llama3-8b-instruct-v1:0"}
    assert span.attributes[attr.GEN_AI_USAGE_OUTPUT_TOKENS] == 5


# Only bedrock-runtime is touched; disable restores; nothing secret is kept ----------------------------------------


def _class_shape(c: Any) -> dict[str, str]:
    return {name: type(value).__name__ for name, value in vars(type(c)).items()}


def test_other_aws_clients_are_left_as_they_were(server: FakeBedrock) -> None:
    services = ("s3", "sts", "bedrock", "bedrock-agent-runtime")
    before = {s: fresh_client(server, s) for s in services}
    spanlite.autolog("bedrock")
    after = {s: fresh_client(server, s) for s in services}
    for service in services:
        assert _class_shape(after[service]) == _class_shape(before[service])
        assert type(after[service]).__bases__ == type(before[service]).__bases__
        assert not any(isinstance(v, wrapt.ObjectProxy) for v in vars(type(after[service])).values())
        assert not any(isinstance(v, wrapt.ObjectProxy) for v in vars(type(before[service])).values())
    assert not any(isinstance(v, wrapt.ObjectProxy) for v in vars(BaseClient).values())
    runtime = fresh_client(server)
    assert isinstance(vars(type(runtime))["converse"], wrapt.FunctionWrapper)
    assert not isinstance(vars(type(runtime))["apply_guardrail"], wrapt.ObjectProxy)


def test_disable_restores_everything(server: FakeBedrock) -> None:
    early = fresh_client(server)
    originals = dict(vars(type(early)))
    create = vars(ClientCreator)["create_client"]
    spanlite.autolog("bedrock")
    spanlite.autolog("boto3")  # an alias: the same patches, applied once
    late = fresh_client(server)
    for c in (early, late):
        assert isinstance(vars(type(c))["invoke_model_with_response_stream"], wrapt.FunctionWrapper)
    assert vars(ClientCreator)["create_client"] is not create
    late_originals = {
        k: v.__wrapped__ if isinstance(v, wrapt.FunctionWrapper) else v for k, v in vars(type(late)).items()
    }
    spanlite.autolog("aws_bedrock", disable=True)
    assert vars(ClientCreator)["create_client"] is create
    assert dict(vars(type(early))) == originals
    assert dict(vars(type(late))) == late_originals


def test_the_fake_refuses_requests_not_signed_with_the_dummy_key(server: FakeBedrock) -> None:
    other = boto3.client(
        "bedrock-runtime", region_name="us-east-1", endpoint_url=server.url, aws_access_key_id="AKIOTHER",
        aws_secret_access_key=SECRET, config=Config(retries={"total_max_attempts": 1}),
    )  # fmt: skip
    with pytest.raises(ClientError) as caught:
        other.converse(modelId=CLAUDE, messages=MESSAGES)
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_no_credentials_in_the_store(server: FakeBedrock, db_path: Path) -> None:
    spanlite.autolog("bedrock")
    converse(server, stream=True, toolConfig=TOOLS)()
    invoke(server, CLAUDE, ANTHROPIC_BODY)()
    with pytest.raises(ClientError):
        converse(server, modelId="error-429")()
    spanlite.flush()
    assert server.authorizations[-1].startswith(f"AWS4-HMAC-SHA256 Credential={KEY_ID}/")
    stored = b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*"))
    assert b"chat " + CLAUDE.encode() in stored
    for secret in (SECRET.encode(), KEY_ID.encode(), b"AWS4-HMAC-SHA256", b"Signature=", b"x-amz-date"):
        assert secret not in stored


def test_autolog_before_boto3_is_imported(db_path: Path) -> None:
    """The patch goes on when botocore is imported; a client made then is traced (a fresh process, so that boto3
    is not imported yet)."""
    script = f"""if True:
        import sys
        import spanlite
        spanlite.autolog("bedrock")
        assert "botocore" not in sys.modules
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        import boto3
        from fake_bedrock import KEY_ID, FakeBedrock
        server = FakeBedrock().start()
        client = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=server.url,
                              aws_access_key_id=KEY_ID, aws_secret_access_key="dummy")
        client.converse(modelId="amazon.nova-lite-v1:0", messages=[{{"role": "user", "content": [{{"text": "Hi"}}]}}])
        spanlite.flush()
    """
    environment = {**os.environ, "SPANLITE_STRICT": "1", "SPANLITE_DB": str(db_path)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=environment)
    assert done.returncode == 0, done.stderr
    with spanlite.store.TraceStore(db_path) as store:
        names = [s.name for t in store.search_traces() for s in store.get_trace(t.trace_id).spans]  # type: ignore[union-attr]
    assert names == ["chat amazon.nova-lite-v1:0"]


# a failure inside our recording never changes what the caller gets ----------------------------------------------


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("spanlite bug")


@pytest.fixture
def lenient(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPANLITE_STRICT")


def test_failing_recorders_leave_results_alone(server: FakeBedrock, lenient: None, monkeypatch: Any) -> None:
    from spanlite.autolog import _bedrock_invoke, _bedrock_shapes, _record

    monkeypatch.setattr(_record, "usage_attributes", _boom)
    monkeypatch.setattr(_bedrock_shapes.ConverseStream, "add", _boom)
    monkeypatch.setattr(_bedrock_invoke, "invoke_request", _boom)
    spanlite.autolog("bedrock")
    assert converse(server)()["output"]["message"]["content"] == [{"text": TEXT}]
    assert converse(server, stream=True)()["stream"][-1]["metadata"]["usage"]["outputTokens"] == 5
    body = invoke(server, CLAUDE, ANTHROPIC_BODY)()["body"]
    assert body[0] == "StreamingBody" and json.loads(body[1])["content"][0]["text"] == TEXT


# LangChain on top: one model span a call -------------------------------------------------------------------------


def test_langchain_aws_converse_is_one_model_span(server: FakeBedrock) -> None:
    langchain_aws = pytest.importorskip("langchain_aws")
    model = langchain_aws.ChatBedrockConverse(model=CLAUDE, client=client(server), region_name="us-east-1")

    def model_spans() -> list[SpanRecord]:
        with spanlite.start_span("test") as root:
            assert model.invoke("Hi").content == TEXT
        trace = spanlite.get_trace(root.trace_id)
        assert trace is not None
        return [s for s in trace.spans if s.kind == "CHAT_MODEL"]

    spanlite.autolog("bedrock")
    ours = model_spans()  # LangChain calls the patched converse
    assert [(s.name, s.attributes[attr.GEN_AI_PROVIDER_NAME]) for s in ours] == [(f"chat {CLAUDE}", "aws.bedrock")]
    spanlite.autolog("langchain")
    try:
        both_on = model_spans()
    finally:
        spanlite.autolog("langchain", disable=True)
    assert len(both_on) == 1, [s.name for s in both_on]  # LangChain records the call; converse stands aside


# The example -----------------------------------------------------------------------------------------------------


def test_example_app_writes_a_trace(db_path: Path, started: list[subprocess.Popen[Any]]) -> None:
    """``spanlite run -- python examples/bedrock_app.py --fake`` (what its docstring says to run) leaves its trace,
    model spans and cost included, though the app turns no autolog on itself."""
    example = Path(__file__).parent.parent / "examples" / "bedrock_app.py"
    environment = {**os.environ, "SPANLITE_STRICT": "0", "SPANLITE_DB": str(db_path)}
    done = subprocess.run(
        [sys.executable, "-m", "spanlite.cli", "run", "--", sys.executable, str(example), "--fake"],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
    )
    assert done.returncode == 0, done.stderr
    assert "Paris" in done.stdout or TEXT in done.stdout
    with spanlite.store.TraceStore(db_path) as store:
        traces = store.search_traces()
        assert traces
        trace = store.get_trace(traces[0].trace_id)
    assert trace is not None
    names = [s.name for s in trace.spans]
    assert names.count("chat anthropic.claude-3-5-haiku-20241022-v1:0") == 2, names
    assert any(s.kind == "TOOL" for s in trace.spans) and traces[0].cost is not None and traces[0].cost > 0
