"""Redaction: text transformations run on every span's text before it is stored or exported.

``secrets`` always runs: API keys of the common providers, bearer tokens, JWTs, and the values of
``Authorization``/``api_key``/``password``-like JSON fields become ``[REDACTED]``. ``emails`` is opt-in.
Pass your own ``str -> str`` function (or several, with ``chain``) as ``spanlite.configure(redact=...)``.

>>> secrets('{"api_key": "abc123", "note": "use sk-proj-aaaaaaaaaaaaaaaaaaaaaaaa"}')
'{"api_key": "[REDACTED]", "note": "use [REDACTED]"}'
>>> configure(redact=chain(emails, lambda text: text.replace("Project X", "[codename]")))  # doctest: +SKIP
"""

from __future__ import annotations

import re
from typing import Callable

REDACTED = "[REDACTED]"
Redactor = Callable[[str], str]

_TOKENS = re.compile(
    "|".join(
        [
            r"\bsk-[A-Za-z0-9_-]{20,}",  # OpenAI (sk-, sk-proj-) and Anthropic (sk-ant-) keys
            r"\bAKIA[0-9A-Z]{16}\b",  # AWS access key ids
            r"\bgh[pousr]_[A-Za-z0-9]{30,}",  # GitHub tokens
            r"\bxox[abprs]-[A-Za-z0-9-]{10,}",  # Slack tokens
            r"\bAIza[0-9A-Za-z_-]{35}",  # Google API keys
            r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",  # JWTs
        ]
    )
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
_FIELDS = re.compile(
    r'(?i)("(?:authorization|proxy-authorization|api[_-]?key|x-api-key|access[_-]?token|password|secret|'
    r'client[_-]?secret)"\s*:\s*")((?:[^"\\]|\\.)*)(")'
)
_TOKEN_HINTS = ("sk-", "AKIA", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "xox", "AIza", "eyJ")  # case as in _TOKENS
# Every field name ``_FIELDS`` matches, lowercased, holds one of these. Not plain "token": every model call's usage
# has ``prompt_tokens``, and the field pattern over a whole span costs more than the rest of redaction.
_FIELD_HINTS = ("authorization", "api_key", "api-key", "apikey", "access_token", "access-token", "accesstoken",
                "password", "secret")  # fmt: skip
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")


def secrets(text: str) -> str:
    """Remove credentials; the built-in redaction, always applied."""
    low = text.lower()
    # Most text holds no credential: substring checks (C speed) decide whether the regexes need to run at all.
    if any(hint in text for hint in _TOKEN_HINTS):
        text = _TOKENS.sub(REDACTED, text)
    if "bearer" in low or "basic" in low:
        text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    if any(hint in low for hint in _FIELD_HINTS):
        text = _FIELDS.sub(lambda m: m.group(1) + REDACTED + m.group(3), text)
    return text


def emails(text: str) -> str:
    """Replace email addresses (opt in: ``configure(redact=emails)``)."""
    return _EMAIL.sub("[EMAIL]", text)


def chain(*redactors: Redactor | None) -> Redactor:
    """One redactor that runs the given ones in order (``None`` entries are skipped)."""
    steps = [r for r in redactors if r is not None]
    return steps[0] if len(steps) == 1 else _Chain(steps)


class _Chain:
    __slots__ = ("steps",)

    def __init__(self, steps: list[Redactor]) -> None:
        self.steps = steps  # read by the store's writer process, which runs built-in steps by name

    def __call__(self, text: str) -> str:
        for step in self.steps:
            text = step(text)
        return text


BUILT_IN: dict[str, Redactor] = {"secrets": secrets, "emails": emails}


def built_in_names(redact: Redactor | None) -> list[str] | None:
    """``redact`` as names from ``BUILT_IN`` (``[]`` for none), or ``None`` if it holds a redactor of the user's."""
    names = {fn: name for name, fn in BUILT_IN.items()}
    steps = [] if redact is None else getattr(redact, "steps", [redact])
    found = [names.get(step) for step in steps]
    return None if None in found else found  # type: ignore[return-value]
