"""Values named as secret: which names say so (``is_secret_name``), and where such a name's value is in a text.

A name says a value is secret (``password``, ``db_password``, ``api_token``, ``client_secret``, ``x-api-key``);
``prompt_tokens``, ``max_tokens``, ``token_count`` or ``eos_token`` do not. ``redact_named`` finds each such name
followed by ``:`` or ``=`` and replaces its value, however the text holds it: JSON, JSON inside JSON strings (an
attribute that holds a dict, two or three levels deep too), a Python repr, ``key=value`` or ``key: value``. A
value that is not a string (a number, a dict, a list) becomes the string ``"[REDACTED]"``, so JSON stays JSON at
every level, and a value never reaches past the string that holds it.
"""

from __future__ import annotations

import bisect
import functools
import json
import re
from collections.abc import Callable
from typing import Any

REDACTED = "[REDACTED]"

# Words before ``token`` that make it the model's vocabulary, not a credential (``eos_token``, ``time_to_first_token``).
_VOCABULARY = ("eos", "bos", "pad", "unk", "sep", "cls", "mask", "first", "last", "next", "stop", "start", "end",
               "special")  # fmt: skip
_KEY_NAME = re.compile(
    r"(?:api|secret|private|access|signing|encryption|master|subscription|account|client|app|auth|session|license|"
    r"ssh)[_.-]?keys?\Z"
)
_SECRET_NAME = re.compile(r"pass(?:word|wd|phrase)|secret(?!ar)|credential|(?:auth(?:orization)?|cookies?)\Z")


def is_secret_name(name: str) -> bool:
    """Whether a key, argument or attribute called ``name`` holds a secret.

    >>> [is_secret_name(n) for n in ("db_password", "api_token", "client_secret", "prompt_tokens", "token_count")]
    [True, True, True, False, False]
    """
    low = name.lower()
    if _SECRET_NAME.search(low):
        return True
    if low.endswith("token"):
        return _names_a_token(low)
    return low.endswith(("key", "keys")) and _KEY_NAME.search(low) is not None


def _names_a_token(name: str) -> bool:
    """``api_token``, ``accessToken``: a ``token`` with a word before it that is not the model's vocabulary."""
    before = name[: -len("token")].rstrip("_.-")
    return bool(before) and not before.endswith(_VOCABULARY)


_is_secret_key = functools.lru_cache(maxsize=1024)(is_secret_name)  # the same few keys, span after span


def is_secret_entry(key: Any, value: Any) -> bool:
    """Whether ``value``, under ``key`` (an attribute, a dict's key), is to be redacted whole, whatever it holds:
    its key names a secret, and it is not ``None`` or a boolean, which say nothing."""
    return isinstance(key, str) and _is_secret_key(key) and value is not None and not isinstance(value, bool)


# JSON inside a JSON string is escaped once more at each level: a string ``level`` strings deep writes a backslash
# as 2, 4, 8 backslashes and a quote as 1, 3, 7 backslashes and a quote, which delimits the strings a level deeper.
_DEEPEST = 3  # levels read exactly; deeper JSON is read as the text of the string that holds it


def _backslash(level: int) -> str:
    count: int = 2 ** (level + 1)  # an int power is typed as Any: a negative exponent would make a float
    return "\\" * count


def _quote(level: int) -> str:
    count: int = 2 ** (level + 1) - 1
    return "\\" * count + '"'


_LEVEL_OF_QUOTE = {_quote(level): level for level in range(_DEEPEST)}


@functools.cache
def _char(level: int) -> str:
    """A pattern for one character (or escape) of a string ``level`` deep; never a quote of its own or a higher
    level, nor a NUL (``_rows.redact_rows`` joins columns with NUL)."""
    if level == 0:
        return r'(?:[^"\\\x00]|\\[^\x00])'
    inner, backslash, quote = _char(level - 1), re.escape(_backslash(level - 1)), re.escape(_quote(level - 1))
    return rf"(?:{backslash}{inner}|(?!{backslash}|{quote}){inner})"


# A value after a name: the name's closing quote if it is a key (``"``, ``'``, or an escaped quote as above; a run
# of backslashes of another length ends the name with a backslash of its own), ``:`` or ``=``, then a JSON string,
# a Python repr string, a string one to three levels deep, a bare word or number, or the start of a dict, list or
# tuple (``_container_end`` finds its end).
_ESCAPED = "\n  | ".join(
    rf"{re.escape(_quote(k))}(?P<s{k + 1}>{_char(k + 1)}*){re.escape(_quote(k))}" for k in range(_DEEPEST)
)
_KEY_QUOTE = "|".join(re.escape(_quote(k)) for k in reversed(range(_DEEPEST)))  # exactly; other runs are text
_VALUE = rf"""(?P<nq>{_KEY_QUOTE}|["'])?[ \t]*[:=][ \t]*(?:
    "(?P<v1>{_char(0)}*)"
  | '(?P<v2>(?:[^'"\\\x00]|\\[^\x00])*)'
  | {_ESCAPED}
  | (?P<v4>(?!null\b|true\b|false\b|none\b)(?:(?:bearer|basic|token)[ \t]+)?
          (?:[^\s"'\\,;&{{}}\[\]()<>\x00]|\\\\(?![\\"]))+)
  | (?P<v5>[\[{{(])
)"""
_NAME_CHAR = r"[a-z0-9_.-]"
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.-")
# Each word names a value as secret; ``token`` and ``key`` end a name, and the whole name decides (``api_token``
# yes, ``eos_token`` and a bare ``key`` no). Each pattern starts with its word, a literal the regex engine finds
# fast; hence they run on lower-cased text.
_WORDS: dict[str, tuple[str, Callable[[str], bool] | None]] = {
    "password": (rf"pass(?:word|wd|phrase){_NAME_CHAR}*", None),
    "secret": (rf"secret(?!ar){_NAME_CHAR}*", None),
    "credential": (rf"credential{_NAME_CHAR}*", None),
    "auth": (r"auth(?:orization)?", None),
    "cookie": (r"cookies?", None),
    "token": (r"token", _names_a_token),
    "key": (r"keys?", lambda name: _KEY_NAME.search(name) is not None),
}
_SCHEME = r"(?<![a-z0-9_]{word})\s+(?P<credential>[a-z0-9._~+/=-]{{8,}})"  # ``Bearer <token>``, named or not


def _compiled(flags: int) -> list[tuple[re.Pattern[str], Callable[[str], bool] | None]]:
    named = [(re.compile(f"(?P<word>{word})" + _VALUE, flags | re.VERBOSE), check) for word, check in _WORDS.values()]
    schemes = [(re.compile(word + _SCHEME.format(word=word), flags), None) for word in ("bearer", "basic")]
    return named + schemes


_PATTERNS = _compiled(0)
_PATTERNS_ANY_CASE = _compiled(re.IGNORECASE)  # for a text whose length lower-casing changes (a few letters do)


def redact_named(text: str) -> str:
    """``text`` with the value of every name that says it is secret replaced by ``[REDACTED]``."""
    low = text.lower()
    if len(low) == len(text):  # one character for one: a position in ``low`` is the same one in ``text``
        return _redact(text, low, _PATTERNS)
    return _redact(text, text, _PATTERNS_ANY_CASE)


def _redact(text: str, subject: str, patterns: list[tuple[re.Pattern[str], Callable[[str], bool] | None]]) -> str:
    """``text`` with the values found in ``subject`` (``text`` itself, or its lower case) replaced."""
    cuts: list[tuple[int, int, str]] = []
    scan: _Scan | None = None
    for pattern, check in patterns:
        for match in pattern.finditer(subject):
            if check is None or check(_whole_name(subject, match)):
                scan = scan or _Scan(subject)
                if (cut := _cut(scan, match)) is not None:
                    cuts.append(cut)
    if not cuts:
        return text
    cuts.sort()
    parts: list[str] = []
    done = 0
    for start, end, replacement in cuts:
        if start < done:  # inside a cut already made (``secret_key``: both "secret" and "key" name it)
            continue
        parts += (text[done:start], replacement)
        done = end
    parts.append(text[done:])
    return "".join(parts)


def _cut(scan: _Scan, match: re.Match[str]) -> tuple[int, int, str] | None:
    """What to replace for ``match``, or ``None`` where it found no value after all."""
    group = match.lastgroup
    assert group is not None
    start, end = match.span(group)
    if group == "credential":
        return start, end, REDACTED
    key_quote = match.group("nq") or ""
    if group == "v1" and key_quote != '"' and (key_quote or scan.in_json(start)):
        return None  # ``password: "`` in JSON: that quote ends the string the name is in
    if group[0] == "s" and key_quote != (quote := _quote(int(group[1]) - 1)) and scan.inside(match.start(), quote):
        return None  # the same a level deeper: ``{\"label\": \"Password:\", ...}``
    if group == "v2" and any(scan.holds(q, start, end) and scan.inside(match.start(), q) for q in _LEVEL_OF_QUOTE):
        return None  # ``{\"password:'\": \"'\"}``: quotes that end the string the name is in, not a repr's
    if group == "v5":
        if key_quote in ("", "'") and scan.inside(match.start(), _quote(0)):
            return None  # ``{\"password:[\": 1}``: a bracket in the text of a string
        end = scan.container_end(start, key_quote)
        if end - start <= 2:
            return None  # empty, or its end is not to be found: its own names still get theirs redacted
    elif start == end:
        return None  # an empty value hides nothing
    if group == "v4" or group == "v5":
        # What is not a string becomes one, in the key's quotes, so that JSON stays JSON: ``"pin": "[REDACTED]"``.
        return start, end, key_quote + REDACTED + key_quote
    return start, end, REDACTED


def _whole_name(subject: str, match: re.Match[str]) -> str:
    """The whole name whose last word the match found, lower-cased: ``x-api-key`` for its ``key``."""
    begin = match.start("word")
    while begin > 0 and subject[begin - 1].lower() in _NAME_CHARS:
        begin -= 1
    return subject[begin : match.end("word")].lower()


# Where a column (NUL) or a JSON string (a quote after an even number of backslashes) starts or ends.
_BOUNDARIES = re.compile(r'(?<!\\)(?:\\\\)*"|\x00')


class _Scan:
    """What the checks on one text share, each found once: where its columns and JSON strings start, and its
    quotes of each level. A check then costs a binary search, and scans of dicts and lists share a budget, so the
    work stays linear in the text's length however many names it holds (``password: [`` 8,000 times, say)."""

    def __init__(self, subject: str) -> None:
        self.subject = subject
        self.budget = 4 * len(subject) + 65_536  # characters container scans may read, in all
        self._boundaries: list[int] | None = None
        self._quotes: dict[str, list[int]] = {}

    def in_json(self, at: int) -> bool:
        """Whether the column holding ``at`` is JSON, as the columns that hold values are; names, ids and status
        messages are text as it is."""
        first = self.subject.rfind("\x00", 0, at) + 1
        return self.subject[first : first + 1] in ("{", "[", '"')

    def inside(self, at: int, quote: str) -> bool:
        """Whether ``at`` lies inside a string quoted by ``quote``, within the JSON string (or column) that holds it:
        an odd number of such quotes before it there. Then the next one ends that string rather than opening a
        value."""
        if self._boundaries is None:
            self._boundaries = [m.end() - 1 for m in _BOUNDARIES.finditer(self.subject)]
        i = bisect.bisect_left(self._boundaries, at)
        begin = self._boundaries[i - 1] if i else -1
        quotes = self._positions(quote)
        return (bisect.bisect_left(quotes, at) - bisect.bisect_right(quotes, begin)) % 2 == 1

    def holds(self, quote: str, start: int, end: int) -> bool:
        """Whether ``subject[start:end]`` holds a ``quote`` that delimits a string."""
        quotes = self._positions(quote)
        return bisect.bisect_left(quotes, end) > bisect.bisect_left(quotes, start)

    def _positions(self, quote: str) -> list[int]:
        if (found := self._quotes.get(quote)) is None:
            found = self._quotes[quote] = [m.start() for m in _quotes(quote).finditer(self.subject)]
        return found

    def container_end(self, start: int, key_quote: str) -> int:
        """Where the dict, list or tuple at ``start`` ends; ``start`` if that cannot be told (or the budget is
        spent). In JSON (a key in ``"``) it is parsed; a level deeper or in a repr its brackets are counted
        outside its strings, and a level deeper, if the string holding it ends first (a value cut short by the
        size bound), the cut goes to there."""
        if self.budget <= 0:
            return start
        if key_quote == '"':
            try:
                end = _JSON.raw_decode(self.subject, start)[1]
            except json.JSONDecodeError as exc:  # not JSON after all (a repr)
                self.budget -= exc.pos - start
                return start
            except RecursionError:  # nested beyond the parser
                self.budget = 0
                return start
            self.budget -= end - start
            return end
        if key_quote not in ("", "'") and key_quote not in _LEVEL_OF_QUOTE:
            return start
        depth, limit = 0, start + self.budget
        for token in _container_tokens(key_quote).finditer(self.subject, start):
            if token.end() > limit:
                break
            kind = token.lastgroup
            if kind == "open":
                depth += 1
            elif kind == "close":
                depth -= 1
                if depth == 0:
                    self.budget -= token.end() - start
                    return token.end()
            elif kind == "stop":
                self.budget -= token.end() - start
                return start if key_quote in ("", "'") else token.start()
        self.budget = 0
        return start


@functools.lru_cache(maxsize=8)
def _quotes(quote: str) -> re.Pattern[str]:
    """The quotes ``quote`` that delimit strings: after whole escaped backslashes of their level, if any."""
    level = _LEVEL_OF_QUOTE[quote]
    return re.compile(rf"(?<!\\)(?:{re.escape(_backslash(level + 1))})*{re.escape(quote)}")


_JSON = json.JSONDecoder()


@functools.lru_cache(maxsize=8)
def _container_tokens(key_quote: str) -> re.Pattern[str]:
    """Tokens of a dict, list or tuple: its strings, brackets, other characters, and ``stop`` where the text that
    holds it ends (a quote of a level above it, a NUL)."""
    if key_quote in ("", "'"):  # a Python repr, or text
        strings, char = r"'(?:[^'\"\\\x00]|\\[^\x00])*'", r"(?:[^\"\\\x00]|\\[^\x00])"
    else:
        level, quote = _LEVEL_OF_QUOTE[key_quote], re.escape(key_quote)
        strings, char = rf"{quote}{_char(level + 1)}*{quote}", rf"(?!{quote}){_char(level)}"
    return re.compile(rf"(?P<string>{strings})|(?P<open>[\[{{(])|(?P<close>[\]}})])|{char}|(?P<stop>[\s\S])")
