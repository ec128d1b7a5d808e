"""What one value, and one page, may put on screen; and spanlite's truncation marks as labels, not raw objects.

Chromium froze on 200 KB of one letter shown as text: ``st.text`` sets ``word-break: break-word``, so a run with
no break opportunity is broken inside, and the viewer's font (Source Sans) kerns, which leaves no position in the
run safe to break at without shaping the rest of it again: layout time grows with the square of the run (20,000
characters took 5.4 s, 200,000 took 49 s, 2 MB never ended). Without kerning the same 20,000 characters take
8 ms: so text with a run of ``LONG_RUN`` characters or more (base64, a minified blob; not prose) is shown as code,
whose monospaced font does not kern. Any value also shows at most ``FIELD_CHARS`` at first, the rest page by page
when asked and whole as a download; a page shows at most ``PAGE_CHARS`` in all (``Budget``).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Literal

import orjson
import streamlit as st

from spanlite.tracing.serialize import TRUNCATED_KEY
from spanlite.viewer import _markdown, _preview

FIELD_CHARS = 12_000  # of one value, at first: room for an evaluation value's cut (``_preview``) and its note
PAGE_CHARS = 60_000  # of all values on one page
SHOW_ALL_CHARS = 50_000  # one page of a value shown whole
STRING_CHARS = 2_000  # of one string inside a JSON tree
ITEMS_SHOWN = 100  # messages and documents on one page: each is a few elements, thousands of them a hang
LONG_RUN = 1_000  # characters without a space, in proportional text: 5,000 took 0.4 s to lay out, 20,000 took 5.4 s

Body = Literal["text", "code", "markdown"]
_LONG_RUN = re.compile(rf"\S{{{LONG_RUN}}}")


class Budget:
    """What is left of one page's characters: each value shown takes what it shows."""

    def __init__(self, chars: int = PAGE_CHARS) -> None:
        self.left = chars
        self.shown_items = 0  # messages and documents, of every value on the page

    def allow(self, wanted: int) -> int:
        """How much of ``wanted`` characters one value may show now."""
        return max(0, min(wanted, FIELD_CHARS, self.left))

    def spend(self, chars: int) -> None:
        self.left -= chars


@dataclasses.dataclass(frozen=True)
class Cut:
    """A value spanlite cut at its field bound when it was recorded: its size then, and the start it kept."""

    original_bytes: int
    preview: Any

    @property
    def label(self) -> str:
        return f"[truncated: {self.original_bytes:,} bytes]"

    @property
    def kept(self) -> str:
        return self.preview if isinstance(self.preview, str) else _json(self.preview)


def as_cut(value: Any) -> Cut | None:
    """The mark ``{"_spanlite_truncated": true, "original_bytes": N, "preview": ...}`` as a ``Cut``."""
    if isinstance(value, dict) and value.get(TRUNCATED_KEY) is True:
        size = value.get("original_bytes")
        return Cut(size if isinstance(size, int) else 0, value.get("preview", ""))
    return None


def unmark(value: Any) -> Any:
    """``value`` with each truncation mark inside it as one line of text: its label, then what was kept."""
    if (cut := as_cut(value)) is not None:
        return f"{cut.label}: {cut.kept}"
    if isinstance(value, dict):
        return {k: unmark(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unmark(v) for v in value]
    return value


def show_cut(cut: Cut, *, key: str, budget: Budget) -> None:
    st.caption(f"{cut.label}: spanlite kept the start of it")
    show_text(cut.kept, key=key, budget=budget)


def show_text(text: str, *, key: str, budget: Budget, body: Body = "text") -> None:
    """``text`` up to what the page allows; past it, how much is left out, "Show all" (page by page) and a download."""
    allowed = budget.allow(len(text))
    if allowed >= len(text):
        _body(text, body)
        budget.spend(len(text))
        return
    if allowed:
        _body(text[:allowed] + "…", body)
        budget.spend(allowed)
        st.caption(f"Showing {allowed:,} of {len(text):,} characters.")
    else:
        st.caption(f"{len(text):,} characters not shown: this page already shows as much as it can.")
    _more(text, key=key, body=body)


def show_json(value: Any, *, key: str, budget: Budget, expanded: bool | int = 2) -> None:
    """A JSON tree with long strings and lists cut; if even that is more than the page allows, the start of its text."""
    value = unmark(value)
    shown = _preview.bounded(value, STRING_CHARS)
    size = len(_json(shown))
    if size > budget.allow(size):
        show_text(_json(value, indent=True), key=key, budget=budget, body="code")
        return
    st.json(shown, expanded=expanded)
    budget.spend(size)
    if shown != value:
        st.caption("Long values are cut above.")
        _more(_json(value, indent=True), key=key, body="code", mime="application/json")


def left_out(items: list[Any], what: str, *, key: str, budget: Budget) -> bool:
    """Whether the rest of a list of messages or documents is left out, which it then says, with a download of it:
    past ``ITEMS_SHOWN`` of them, or once the page shows as much as it can."""
    budget.shown_items += 1
    if budget.shown_items <= ITEMS_SHOWN and budget.left > 0:
        return False
    st.caption(f"{len(items):,} more {what} not shown: this page already shows as much as it can.")
    st.download_button(
        f"Download the {what} left out",
        data=lambda: _json(items, indent=True),
        file_name=f"{key}.json",
        mime="application/json",
        key=f"{key}_left_out",
        on_click="ignore",
        icon=":material/download:",
    )
    return True


def _more(text: str, *, key: str, body: Body, mime: str = "text/plain") -> None:
    """All of ``text``: a page of it at a time when "Show all" is on, and as a file."""
    left, right = st.columns([3, 1], vertical_alignment="center")
    whole = left.toggle(f"Show all {len(text):,} characters", key=f"{key}_all")
    right.download_button(
        "Download the whole value",
        data=lambda: text,
        file_name=f"{key}.{'json' if mime == 'application/json' else 'txt'}",
        mime=mime,
        key=f"{key}_download",
        on_click="ignore",
        icon=":material/download:",
    )
    if whole:
        pages = -(-len(text) // SHOW_ALL_CHARS)
        page = st.pagination(pages, key=f"{key}_page") if pages > 1 else 1
        _body(text[(page - 1) * SHOW_ALL_CHARS : page * SHOW_ALL_CHARS], "code" if body == "code" else "text")


def _body(text: str, body: Body) -> None:
    if body != "code" and _LONG_RUN.search(text):
        body = "code"
    if body == "markdown":
        st.markdown(_markdown.safe(text))
    elif body == "code":
        st.code(text, language=None, wrap_lines=True)
    else:
        st.text(text)


def _json(value: Any, *, indent: bool = False) -> str:
    option = orjson.OPT_INDENT_2 if indent else None
    return orjson.dumps(value, option=option, default=str).decode()
