"""The model behind an LLM judge: one chat call that returns text, retried when the failure is worth retrying.

``"openai:/<model>"`` and ``"anthropic:/<model>"`` use the vendor SDK, which reads the usual variables
(``OPENAI_API_KEY`` / ``OPENAI_BASE_URL``, ``ANTHROPIC_API_KEY`` / ``ANTHROPIC_BASE_URL``); ``"litellm:/<model>"``
goes through LiteLLM, which reads its own. A client object (``openai.OpenAI``, ``anthropic.Anthropic``, or one with
the same methods) is used as it is. The SDKs' own retries are turned off: ``call`` retries 429s, 5xx and timeouts
itself, bounded, with backoff and jitter, honouring Retry-After. Keys stay inside the SDK clients: nothing here
keeps, logs or puts one in an error message.
"""

from __future__ import annotations

import email.utils
import inspect
import random
import threading
import time
from collections.abc import Mapping
from typing import Any

DEFAULT_MODEL = "openai:/gpt-4.1-mini"  # MLflow 3's default judge model (outside Databricks)
DEFAULT_ANTHROPIC_MODEL = "claude-haiku-4-5"  # for an ``anthropic.Anthropic`` client given without a model name
PROVIDERS = ("openai", "anthropic", "litellm")
MAX_TOKENS = 2048  # a verdict with its rationale; Anthropic requires a bound
BACKOFF_BASE = 0.5  # seconds before the first retry, at most (full jitter), doubling per try
BACKOFF_CAP = 8.0
RETRY_AFTER_CAP = 60.0  # a server asking for longer than this gets an error instead of a judge that hangs


class ModelCallError(Exception):
    """A judge's model call that failed; a ``transient`` one is worth another try, after ``retry_after`` seconds
    if the server said so."""

    def __init__(self, message: str, *, transient: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after


class ChatModel:
    """Sends a system and a user message and returns the text answer; ``uri`` names it (``openai:/gpt-4.1-mini``)."""

    uri: str

    def complete(self, system: str, user: str, *, timeout: float) -> str:
        raise NotImplementedError


class _Client(ChatModel):
    """An SDK client, built on first use (the variables are read then) or given; shared by the judge's threads."""

    def __init__(self, provider: str, model: str, client: Any = None) -> None:
        self.uri = f"{provider}:/{model}"
        self.model = model
        self._client = None if client is None else client.with_options(max_retries=0)
        self._lock = threading.Lock()

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._build()
            return self._client

    def _build(self) -> Any:
        raise NotImplementedError


class OpenAIChat(_Client):
    def __init__(self, model: str, client: Any = None) -> None:
        super().__init__("openai", model, client)

    def _build(self) -> Any:
        import openai

        return openai.OpenAI(max_retries=0)

    def complete(self, system: str, user: str, *, timeout: float) -> str:
        import openai

        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        try:
            response = self.client().chat.completions.create(
                model=self.model, messages=messages, response_format={"type": "json_object"}, timeout=timeout
            )
        except openai.OpenAIError as exc:
            raise openai_error(exc) from exc
        return str(response.choices[0].message.content or "")


class AnthropicMessages(_Client):
    """Anthropic has no JSON mode: the prompt asks for JSON, and the judge reads it leniently."""

    def __init__(self, model: str, client: Any = None) -> None:
        super().__init__("anthropic", model, client)

    def _build(self) -> Any:
        import anthropic

        return anthropic.Anthropic(max_retries=0)

    def complete(self, system: str, user: str, *, timeout: float) -> str:
        import anthropic

        try:
            message = self.client().messages.create(
                model=self.model,
                max_tokens=MAX_TOKENS,
                system=system,
                messages=[{"role": "user", "content": user}],
                timeout=timeout,
            )
        except anthropic.AnthropicError as exc:
            if isinstance(exc, anthropic.APIStatusError):
                raise status_error(exc.status_code, exc.response.headers, exc) from exc
            raise ModelCallError(_describe(exc), transient=isinstance(exc, anthropic.APIConnectionError)) from exc
        return "".join(block.text for block in message.content if block.type == "text")


class LiteLLMChat(ChatModel):
    def __init__(self, model: str) -> None:
        self.uri = f"litellm:/{model}"
        self.model = model

    def complete(self, system: str, user: str, *, timeout: float) -> str:
        import litellm
        import openai  # LiteLLM's errors subclass the OpenAI SDK's

        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        try:
            response = litellm.completion(
                model=self.model,
                messages=messages,
                response_format={"type": "json_object"},
                drop_params=True,  # a provider without JSON mode gets the prompt's instructions alone
                timeout=timeout,
                num_retries=0,
                max_retries=0,
            )
        except openai.OpenAIError as exc:
            raise openai_error(exc) from exc
        return str(response.choices[0].message.content or "")


def resolve(model: Any = None, client: Any = None) -> ChatModel:
    """The model a judge calls: a ``"provider:/name"`` string (``None``: ``DEFAULT_MODEL``), a client object, or
    both (the client, asked for that model). A clear ``ValueError``/``TypeError`` for anything else."""
    if model is not None and not isinstance(model, str):
        model, client = None, model
    if client is not None:
        return _from_client(client, model)
    provider, _, name = (model or DEFAULT_MODEL).partition(":/")
    if provider not in PROVIDERS or not name:
        raise ValueError(
            f"judge model {model!r}: expected 'openai:/<model>', 'anthropic:/<model>' or 'litellm:/<model>', "
            "or a client object"
        )
    if provider == "openai":
        return OpenAIChat(name)
    return AnthropicMessages(name) if provider == "anthropic" else LiteLLMChat(name)


def _from_client(client: Any, model: str | None) -> ChatModel:
    provider, separator, name = (model or "").partition(":/")
    if not separator:  # a bare model name: the client says which provider
        provider, name = "", provider
    chat = getattr(getattr(getattr(client, "chat", None), "completions", None), "create", None)
    messages = getattr(getattr(client, "messages", None), "create", None)
    create = chat or messages
    if create is None or not hasattr(client, "with_options"):
        raise TypeError(
            f"judge model: {type(client).__name__} is not an openai.OpenAI or anthropic.Anthropic client "
            "(or a 'provider:/model' string)"
        )
    if inspect.iscoroutinefunction(inspect.unwrap(create)):  # the SDKs wrap their methods (functools.wraps)
        raise TypeError(f"judge model: {type(client).__name__} is an async client; judges call a sync one")
    if chat is not None and provider in ("", "openai"):
        return OpenAIChat(name or DEFAULT_MODEL.partition(":/")[2], client)
    if messages is not None and provider in ("", "anthropic"):
        return AnthropicMessages(name or DEFAULT_ANTHROPIC_MODEL, client)
    raise ValueError(f"judge model {model!r} does not go with a {type(client).__name__} client")


def call(
    model: ChatModel,
    system: str,
    user: str,
    *,
    timeout: float,
    attempts: int,
) -> str:
    """The model's answer; transient failures are tried again up to ``attempts`` tries in all. Raises the last
    ``ModelCallError`` (its message says how many tries it took)."""
    for attempt in range(1, attempts + 1):
        try:
            return model.complete(system, user, timeout=timeout)
        except ModelCallError as exc:
            if not exc.transient or attempt == attempts:
                tries = f" (after {attempt} tries)" if attempt > 1 else ""
                raise ModelCallError(f"{exc}{tries}", transient=exc.transient) from exc
            if exc.retry_after is not None and exc.retry_after > RETRY_AFTER_CAP:
                wait = f"{exc} (the server asks to wait {exc.retry_after:.0f} s)"
                raise ModelCallError(wait, transient=True) from exc
            backoff = random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1)))
            time.sleep(max(backoff, exc.retry_after or 0.0))
    raise AssertionError("unreachable: attempts >= 1")


def openai_error(exc: Exception) -> ModelCallError:
    """The OpenAI SDK's error (LiteLLM's too) as a ``ModelCallError``; timeouts and lost connections are transient."""
    import openai

    if isinstance(exc, openai.APIStatusError):
        return status_error(exc.status_code, exc.response.headers, exc)
    return ModelCallError(_describe(exc), transient=isinstance(exc, openai.APIConnectionError))


def status_error(status: int, headers: Mapping[str, str], exc: Exception) -> ModelCallError:
    transient = status in (408, 409, 429) or status >= 500
    return ModelCallError(_describe(exc), transient=transient, retry_after=retry_after(headers))


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asks to wait: ``retry-after-ms`` (OpenAI's), ``retry-after`` in seconds or as a date."""
    try:
        if (ms := headers.get("retry-after-ms")) is not None:
            return max(0.0, float(ms) / 1000)
        if (value := headers.get("retry-after")) is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (ValueError, TypeError, OverflowError):
        return None


def _describe(exc: Exception) -> str:
    """One line: the error's type and message (SDK messages carry the server's text, never the client's key)."""
    text = " ".join(str(exc).split()) or "no message"
    return f"{type(exc).__name__}: {text[:500]}"
