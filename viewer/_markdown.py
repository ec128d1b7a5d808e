"""Model output as Markdown that can only format text: no HTML, no images, links to http(s) and mailto only, and none
of Streamlit's additions (colours, icons, emoji, its logo, LaTeX).

Streamlit's Markdown has no switch for its additions, so the text is rewritten for it rather than parsed here:
code (fenced blocks and inline spans) is kept as it is, behind its own fence, where Markdown reads nothing; a link
stays a link only to an http(s) or mailto address, and an image becomes a link to it (never loaded); every other
character Markdown or Streamlit acts on is backslash-escaped. Escapes are undone before Streamlit looks for
``:name:`` (emoji, its logo) in the text, so a colon before a name also gets a word joiner (U+2060, invisible).
Headings, lists, quotes, tables, emphasis and rules are harmless and stay.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_BLOCK_START = re.compile(r"^[ \t]*(?:(?:[-+*]|\d{1,9}[.)]|#{1,6}|>)[ \t]+)*")
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)")
_LINK = re.compile(r"(!?)\[([^\[\]\n]*)\]\(\s*<?([^\s()<>\\`]*)>?\s*\)")  # no backtick: code would bind first
_SPECIAL = re.compile(r"([\\`\[\]()!<>&$:{}])")
_NAME_AFTER_COLON = re.compile(r"(\\:)(?=[\w+-])")
WORD_JOINER = "\u2060"
SCHEMES = ("http", "https", "mailto")


def safe(text: str) -> str:
    """``text`` as Markdown for ``st.markdown`` that formats it and does nothing else.

    >>> print(safe("**hi** <b>x</b> [a](javascript:alert(1)) [b](https://example.com)"))
    **hi** \\<b\\>x\\</b\\> \\[a\\]\\(javascript\\:\u2060alert\\(1\\)\\) [b](<https://example.com>)
    """
    out: list[str] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if fence is None:
            out.append(_line(lines[i]))
            i += 1
            continue
        mark = fence.group(1)
        closing = re.compile(rf"^ {{0,3}}{re.escape(mark[0])}{{{len(mark)},}}[ \t]*$")
        end = next((j for j in range(i + 1, len(lines)) if closing.match(lines[j])), len(lines))
        out.append(mark)  # the info string (a language name, or anything) is dropped
        out.extend(lines[i + 1 : end])
        out.append(mark)
        i = end + 1
    return "\n".join(out)


def _line(line: str) -> str:
    """One line outside fenced code: its block markers kept, code spans as they are, the rest escaped."""
    start = _BLOCK_START.match(line)
    prefix = start.group() if start else ""
    rest = line[len(prefix) :]
    parts: list[str] = []
    at = 0
    for span in _CODE_SPAN.finditer(rest):
        parts.append(_inline(rest[at : span.start()]))
        parts.append(span.group())
        at = span.end()
    parts.append(_inline(rest[at:]))
    return prefix + "".join(parts)


def _inline(text: str) -> str:
    parts: list[str] = []
    at = 0
    for link in _LINK.finditer(text):
        image, label, target = link.groups()
        if not _allowed(target):
            continue  # escaped below with the text around it, so it shows as written
        parts.append(_escape(text[at : link.start()]))
        shown = f"image: {label or 'image'}" if image else label or target
        parts.append(f"[{_escape(shown)}](<{target}>)")
        at = link.end()
    parts.append(_escape(text[at:]))
    return "".join(parts)


def _escape(text: str) -> str:
    return _NAME_AFTER_COLON.sub(rf"\1{WORD_JOINER}", _SPECIAL.sub(r"\\\1", text))


def _allowed(target: str) -> bool:
    try:
        parts = urlsplit(target)
    except ValueError:
        return False
    if parts.scheme.lower() not in SCHEMES:
        return False
    return parts.scheme.lower() == "mailto" or bool(parts.netloc)
