"""The span kinds spanlite knows, in one enum."""

from __future__ import annotations

import enum


class SpanKind(str, enum.Enum):  # noqa: UP042 - a StrEnum would change str(kind) and f"{kind}"
    """What a span did: drives icons in the viewer and filters in the store.

    >>> SpanKind("LLM") is SpanKind.LLM
    True
    """

    LLM = "LLM"
    CHAT_MODEL = "CHAT_MODEL"
    EMBEDDING = "EMBEDDING"
    RETRIEVER = "RETRIEVER"
    RERANKER = "RERANKER"
    TOOL = "TOOL"
    AGENT = "AGENT"
    CHAIN = "CHAIN"
    PARSER = "PARSER"
    GUARDRAIL = "GUARDRAIL"
    EVALUATOR = "EVALUATOR"
    TASK = "TASK"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def parse(cls, value: str | SpanKind) -> SpanKind:
        """Accept a kind in any case; anything unknown is a clear ``ValueError``."""
        if isinstance(value, SpanKind):
            return value
        try:
            return cls(str(value).upper())
        except ValueError:
            known = ", ".join(k.value for k in cls)
            raise ValueError(f"unknown span kind {value!r}; expected one of: {known}") from None
