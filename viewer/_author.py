"""Who rates: the sidebar's "Your name", remembered per browser in a cookie, so a reload or a deep link keeps it.

A cookie rather than localStorage: the browser sends it with the request that opens a session, so the first run
of a reload or a deep link already knows the name (``st.context.cookies``), before anything can be rated under
the OS user's. Per browser rather than a setting in the store: several people may review on one viewer, each
under their own name, and nobody logs in. A hidden component writes the cookie when someone types a name; the
name is never shown by it, only stored.
"""

from __future__ import annotations

from urllib.parse import unquote

import streamlit as st

from spanlite.viewer import data

COOKIE = "spanlite_author"
MAX_CHARS = 100
KEEP_S = 400 * 86_400  # browsers cap a cookie's life at 400 days

_WRITE_COOKIE = """
export default function ({ data }) {
  if (!data || typeof data.name !== "string") return;
  const value = encodeURIComponent(data.name);
  document.cookie = `${data.cookie}=${value}; path=/; max-age=${data.keep_s}; SameSite=Lax`;
}
"""
_write_cookie = st.components.v2.component("spanlite_author_cookie", js=_WRITE_COOKIE)


def remembered() -> str | None:
    """The name this browser was last given, or ``None`` if it was never given one."""
    raw = st.context.cookies.get(COOKIE)
    # a string, else there was no browser request (AppTest's stand-in client answers anything with a mock)
    return unquote(raw)[:MAX_CHARS] if isinstance(raw, str) else None


def name_box() -> None:
    """The text box (session state ``author``, what ``data.author()`` reads): the remembered name, else
    ``data.default_author()``; a name typed is remembered for the next session."""
    known = remembered()
    st.text_input(
        "Your name",
        value=known if known is not None else data.default_author(),
        key="author",
        max_chars=MAX_CHARS,
        on_change=_typed,
        help="Saved as the author of your feedback, and remembered by this browser",
    )
    if (typed := st.session_state.get("author_typed")) is not None:
        _write_cookie(data={"cookie": COOKIE, "name": typed, "keep_s": KEEP_S}, key="author_cookie", height=0)


def _typed() -> None:
    st.session_state["author_typed"] = str(st.session_state.get("author") or "").strip()
