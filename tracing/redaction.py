"""Redaction: text transformations run on every span's text before it is stored or exported.

``secrets`` always runs. It removes credentials known by their form (OpenAI, Anthropic, AWS, GitHub, Stripe,
Slack and Google keys, JWTs, bearer tokens, PEM private keys, the password in a URL) and values given a name that
says they are secret (``password``, ``db_password``, ``api_token``, ``client_secret``, ``private_key``, ...), in
JSON, JSON inside JSON strings, Python reprs, ``key=value`` and ``key: value`` text; ``prompt_tokens``,
``max_tokens`` or ``token_count`` name nothing secret. ``emails`` is opt-in. Pass your own ``str -> str`` function
(or several, with ``chain``) as ``spanlite.configure(redact=...)``.

An AWS secret access key has no form of its own (40 characters of base64), so a bare one is redacted only beside
an AWS access key id (``AKIA...``) in the same text, and only if it mixes upper case, lower case and digits (a
hex hash never does); after a name such as ``aws_secret_access_key`` it always is.

>>> secrets('{"api_key": "abc123", "note": "use sk-proj-aaaaaaaaaaaaaaaaaaaaaaaa"}')
'{"api_key": "[REDACTED]", "note": "use [REDACTED]"}'
>>> secrets("connect(db_password='hunter2', url='postgres://app:s3cret@db/orders')")
"connect(db_password='[REDACTED]', url='postgres://app:[REDACTED]@db/orders')"
>>> configure(redact=chain(emails, lambda text: text.replace("Project X", "[codename]")))  # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ._secret_names import REDACTED, is_secret_entry, is_secret_name, redact_named

__all__ = ["BUILT_IN", "REDACTED", "Redactor", "built_in_names", "chain", "emails", "is_secret_entry", "is_secret_name",
           "secrets"]  # fmt: skip

Redactor = Callable[[str], str]

# Most text holds no credential, so every pattern starts with a literal, which the regex engine finds by looking for
# its first character alone (``memchr``: faster than ``str in`` for a rarely used one), or runs only when a hint is
# found in the text: one pass over the text per pattern. Word boundaries are looked behind *after* the literal; a
# leading ``\b`` would make the engine try every position.

# AWS secret access keys: 40 base64 characters, redacted beside an access key id (see the module's docstring).
_AWS_SECRET = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_AWS_KEY_ID = re.compile(r"AKIA(?<![A-Za-z0-9]AKIA)[0-9A-Z]{16}\b")


def _aws_secret(match: re.Match[str]) -> str:
    key, text = match.group(), match.string
    column_start = text.rfind("\x00", 0, match.start()) + 1
    column_end = text.find("\x00", match.end())
    beside_an_id = _AWS_KEY_ID.search(text, column_start, len(text) if column_end < 0 else column_end) is not None
    mixed = not key.isdigit() and key.lower() != key and key.upper() != key and any(c.isdigit() for c in key)
    return REDACTED if beside_an_id and mixed else key


# (hint, pattern, replacement): credentials known by their form. With a hint (a character, or a pattern that
# starts with a literal), the pattern runs only where the hint is found; without one, it is its own hint.
_FORMS: tuple[tuple[str | re.Pattern[str] | None, re.Pattern[str], Any], ...] = (
    (None, re.compile(r"sk-(?<![A-Za-z0-9_]sk-)[A-Za-z0-9_-]{20,}"), REDACTED),  # OpenAI (sk-, sk-proj-), Anthropic
    (re.compile("k_(?:live|test)_"), re.compile(r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{10,}"), REDACTED),  # Stripe
    (_AWS_KEY_ID, _AWS_SECRET, _aws_secret),  # before the key id itself is redacted
    (None, _AWS_KEY_ID, REDACTED),
    (None, re.compile(r"gh[pousr]_(?<![A-Za-z0-9_]gh[pousr]_)[A-Za-z0-9]{30,}"), REDACTED),  # GitHub tokens
    (None, re.compile(r"github_pat_(?<![A-Za-z0-9_]github_pat_)[A-Za-z0-9_]{20,}"), REDACTED),  # fine-grained
    (None, re.compile(r"xox[abprs]-(?<![A-Za-z0-9_]xox[abprs]-)[A-Za-z0-9-]{10,}"), REDACTED),  # Slack tokens
    (None, re.compile(r"AIza(?<![A-Za-z0-9_]AIza)[0-9A-Za-z_-]{35}"), REDACTED),  # Google API keys
    (None, re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), REDACTED),  # JWTs
    # The whole PEM block, up to its END line; cut short (a truncated value), up to where its text ends. Its
    # lines are plain, or escaped line breaks in JSON (``\n``, ``\\n`` one level deeper): never a quote.
    (None, re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?:[^\"\\\x00]|\\+[nrt/])*?"
                      r"(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|(?!(?:[^\"\\\x00]|\\+[nrt/])))"), REDACTED),
    # The password of ``scheme://user:password@host``; the scheme, user and host stay.
    ("@", re.compile(r"(://[^\s:/@\"'\\\x00?#]*:)[^\s/@\"'\\\x00?#]+@"), rf"\g<1>{REDACTED}@"),
)  # fmt: skip


def secrets(text: str) -> str:
    """Remove credentials; the built-in redaction, always applied."""
    text = redact_named(text)
    for hint, form, replacement in _FORMS:
        if hint is None or (hint in text if isinstance(hint, str) else hint.search(text)):
            text = form.sub(replacement, text)
    return text


_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")


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
