"""Every attribute key spanlite writes or reads, defined once.

Our own keys live under ``spanlite.``; model calls use the OpenTelemetry GenAI semantic conventions so that
any OTel backend understands them; sessions and users use the keys OpenInference uses too.
"""

from __future__ import annotations

# spanlite's own
SPAN_KIND = "spanlite.span.kind"
INPUTS = "spanlite.inputs"
OUTPUTS = "spanlite.outputs"
TRACE_TAGS = "spanlite.trace.tags"
TRACE_METADATA = "spanlite.trace.metadata"
# Set on a span whose parent is not a spanlite span (another process's, or the app's own OTel spans that may never
# reach the store): the store treats it as the root of its part of the trace.
LOCAL_ROOT = "spanlite.local_root"
# How many of a span's links its row had no room for (it keeps the first ones).
LINKS_LEFT_OUT = "spanlite.links_left_out"

# sessions and users
SESSION_ID = "session.id"
USER_ID = "user.id"

# OTel GenAI semantic conventions
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_RESPONSE_ID = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_REQUEST_TEMPERATURE = "gen_ai.request.temperature"
GEN_AI_REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TOP_P = "gen_ai.request.top_p"
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS = "gen_ai.usage.reasoning.output_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
GEN_AI_TOOL_DEFINITIONS = "gen_ai.tool.definitions"
GEN_AI_TOOL_NAME = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID = "gen_ai.tool.call.id"
GEN_AI_CONVERSATION_ID = "gen_ai.conversation.id"
GEN_AI_AGENT_NAME = "gen_ai.agent.name"
GEN_AI_REQUEST_STOP_SEQUENCES = "gen_ai.request.stop_sequences"
GEN_AI_REQUEST_CHOICE_COUNT = "gen_ai.request.choice.count"
GEN_AI_REQUEST_ENCODING_FORMATS = "gen_ai.request.encoding_formats"
GEN_AI_OUTPUT_TYPE = "gen_ai.output.type"
GEN_AI_TOOL_CALL_ARGUMENTS = "gen_ai.tool.call.arguments"
GEN_AI_TOOL_CALL_RESULT = "gen_ai.tool.call.result"

# OTel semantic conventions for MCP (gen-ai/mcp.md); the server's name and version (from ``initialize``) are ours
MCP_METHOD_NAME = "mcp.method.name"
MCP_SESSION_ID = "mcp.session.id"
MCP_PROTOCOL_VERSION = "mcp.protocol.version"
MCP_RESOURCE_URI = "mcp.resource.uri"
MCP_SERVER_NAME = "mcp.server.name"
MCP_SERVER_VERSION = "mcp.server.version"
JSONRPC_REQUEST_ID = "jsonrpc.request.id"
GEN_AI_PROMPT_NAME = "gen_ai.prompt.name"

# OTel general conventions, for failed calls
ERROR_TYPE = "error.type"
HTTP_RESPONSE_STATUS_CODE = "http.response.status_code"
# and for the event that records an exception
EXCEPTION_TYPE = "exception.type"
EXCEPTION_MESSAGE = "exception.message"
EXCEPTION_STACKTRACE = "exception.stacktrace"
EXCEPTION_ESCAPED = "exception.escaped"

# spanlite's own, for streamed model calls
STREAM = "spanlite.stream"
STREAM_CLOSED_EARLY = "spanlite.stream.closed_early"

# Agent frameworks (autolog for LangChain / LangGraph)
LANGGRAPH_NODE = "langgraph.node"
LANGGRAPH_STEP = "langgraph.step"
LANGCHAIN_RUN_ID = "langchain.run.id"
OPENAI_AGENTS_TOOLS = "openai_agents.agent.tools"  # the tool names an agent of the OpenAI Agents SDK had
OPENAI_AGENTS_HANDOFFS = "openai_agents.agent.handoffs"  # the agents it could hand off to
OPENAI_AGENTS_OUTPUT_TYPE = "openai_agents.agent.output_type"
OPENAI_AGENTS_HANDOFF_FROM = "openai_agents.handoff.from"
OPENAI_AGENTS_HANDOFF_TO = "openai_agents.handoff.to"
GUARDRAIL_TRIGGERED = "spanlite.guardrail.triggered"  # a guardrail's tripwire fired

# Event names
EVENT_EXCEPTION = "exception"
EVENT_FIRST_TOKEN = "gen_ai.first_token"
EVENT_INTERRUPT = "langgraph.interrupt"  # a node paused the graph (interrupt / Command to a parent), not an error

# OpenTelemetry span facts that OTLP carries outside the attributes; kept as attributes on ingest
OTEL_SCOPE_NAME = "otel.scope.name"
OTEL_SPAN_KIND = "otel.span.kind"  # SERVER / CLIENT / PRODUCER / CONSUMER; INTERNAL spans carry none

# Read on ingest (store/_normalize.py maps them onto the keys above); the OpenInference ones are also written on
# OTLP export (tracing/_openinference.py), so that backends that read only them (Arize Phoenix) see everything.
# Older GenAI semantic conventions
GEN_AI_SYSTEM = "gen_ai.system"
# OpenInference (Arize): flattened lists use zero-based indices, e.g. llm.input_messages.0.message.role
OI_SPAN_KIND = "openinference.span.kind"
OI_INPUT_VALUE = "input.value"
OI_INPUT_MIME_TYPE = "input.mime_type"
OI_OUTPUT_VALUE = "output.value"
OI_OUTPUT_MIME_TYPE = "output.mime_type"
OI_LLM_MODEL_NAME = "llm.model_name"
OI_LLM_REQUEST_MODEL_NAME = "llm.request.model_name"
OI_LLM_RESPONSE_MODEL_NAME = "llm.response.model_name"
OI_EMBEDDING_MODEL_NAME = "embedding.model_name"
OI_LLM_PROVIDER = "llm.provider"
OI_LLM_SYSTEM = "llm.system"
OI_LLM_INPUT_MESSAGES = "llm.input_messages"
OI_LLM_OUTPUT_MESSAGES = "llm.output_messages"
OI_LLM_TOKEN_COUNT_PROMPT = "llm.token_count.prompt"
OI_LLM_TOKEN_COUNT_COMPLETION = "llm.token_count.completion"
OI_LLM_TOKEN_COUNT_CACHE_READ = "llm.token_count.prompt_details.cache_read"
OI_LLM_TOKEN_COUNT_REASONING = "llm.token_count.completion_details.reasoning"
OI_RETRIEVAL_DOCUMENTS = "retrieval.documents"
OI_TOOL_NAME = "tool.name"
OI_AGENT_NAME = "agent.name"
OI_TAG_TAGS = "tag.tags"
OI_METADATA = "metadata"
OI_MESSAGE_ROLE = "message.role"
OI_MESSAGE_CONTENT = "message.content"
OI_MESSAGE_CONTENTS = "message.contents"
OI_MESSAGE_NAME = "message.name"
OI_MESSAGE_TOOL_CALLS = "message.tool_calls"
OI_MESSAGE_TOOL_CALL_ID = "message.tool_call_id"
OI_MESSAGE_CONTENT_TYPE = "message_content.type"
OI_MESSAGE_CONTENT_TEXT = "message_content.text"
OI_TOOL_CALL_ID = "tool_call.id"
OI_TOOL_CALL_FUNCTION_NAME = "tool_call.function.name"
OI_TOOL_CALL_FUNCTION_ARGUMENTS = "tool_call.function.arguments"
# OpenLLMetry (Traceloop)
TRACELOOP_SPAN_KIND = "traceloop.span.kind"
TRACELOOP_ENTITY_NAME = "traceloop.entity.name"
TRACELOOP_ENTITY_INPUT = "traceloop.entity.input"
TRACELOOP_ENTITY_OUTPUT = "traceloop.entity.output"
TRACELOOP_ASSOCIATION_PROPERTIES = "traceloop.association.properties"
LLM_REQUEST_TYPE = "llm.request.type"
GEN_AI_PROMPT = "gen_ai.prompt"  # gen_ai.prompt.N.role / .content / .tool_calls.K.name
GEN_AI_COMPLETION = "gen_ai.completion"  # gen_ai.completion.N.role / .content / .finish_reason
GEN_AI_USAGE_PROMPT_TOKENS = "gen_ai.usage.prompt_tokens"
GEN_AI_USAGE_COMPLETION_TOKENS = "gen_ai.usage.completion_tokens"
# OpenInference, written on OTLP export only
OI_LLM_TOKEN_COUNT_TOTAL = "llm.token_count.total"
OI_LLM_TOKEN_COUNT_CACHE_WRITE = "llm.token_count.prompt_details.cache_write"
OI_LLM_INVOCATION_PARAMETERS = "llm.invocation_parameters"
OI_LLM_TOOLS = "llm.tools"  # llm.tools.N.tool.json_schema
OI_TOOL_JSON_SCHEMA = "tool.json_schema"
OI_DOCUMENT_ID = "document.id"  # retrieval.documents.N.document.id
OI_DOCUMENT_CONTENT = "document.content"
OI_DOCUMENT_SCORE = "document.score"
OI_DOCUMENT_METADATA = "document.metadata"
# MLflow's tracing SDK: values are JSON text (a string arrives quoted, '"CHAT_MODEL"')
MLFLOW_SPAN_TYPE = "mlflow.spanType"
MLFLOW_SPAN_INPUTS = "mlflow.spanInputs"
MLFLOW_SPAN_OUTPUTS = "mlflow.spanOutputs"
MLFLOW_SPAN_FUNCTION_NAME = "mlflow.spanFunctionName"
MLFLOW_CHAT_TOKEN_USAGE = "mlflow.chat.tokenUsage"  # {"input_tokens", "output_tokens", "total_tokens", ...}
MLFLOW_CHAT_TOOLS = "mlflow.chat.tools"
MLFLOW_LLM_MODEL = "mlflow.llm.model"
MLFLOW_LLM_PROVIDER = "mlflow.llm.provider"
MLFLOW_TRACE_REQUEST_ID = "mlflow.traceRequestId"
MLFLOW_TRACE_TAG = "mlflow.traceTag"  # mlflow.traceTag.<key> = value, on the root span
# Pydantic AI's agent run spans (also what Logfire sends): the run's messages (GenAI parts, JSON text), where the
# run's own start among them, and its output (text, or JSON text)
PYDANTIC_AI_ALL_MESSAGES = "pydantic_ai.all_messages"
PYDANTIC_AI_NEW_MESSAGE_INDEX = "pydantic_ai.new_message_index"
PYDANTIC_AI_FINAL_RESULT = "final_result"
PYDANTIC_AI_MODEL_REQUEST_ATTEMPT = "pydantic_ai.model_request.attempt"  # on a FallbackModel's failed attempt
AGENT_DEPS = "spanlite.agent.deps"  # ours, on a Pydantic AI run's span: its deps when they are plain data (JSON text)
# OTel general conventions
CODE_FUNCTION_NAME = "code.function.name"
