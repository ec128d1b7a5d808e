"""The buttons under a keyset-paged table: no page is ever found by counting rows (that stays fast at millions)."""

from __future__ import annotations

from typing import TypeVar

import streamlit as st

Key = TypeVar("Key")


def page_buttons(
    starts: list[Key], next_start: Key | None, *, key: str, caption: str, newest_first: bool = False
) -> None:
    """Back and forward under a table: ``starts`` is the stack of where each page seen began (kept in session state,
    the last one shown now), ``next_start`` where the next begins (``None`` on the last page)."""
    back, forward = ("← Newer", "Older →") if newest_first else ("← Previous", "Next →")
    prev, info, nxt = st.columns([1, 2, 1])
    if prev.button(back, disabled=len(starts) == 1, key=f"{key}_prev"):
        starts.pop()
        st.rerun()
    info.caption(caption.format(page=len(starts)))
    if nxt.button(forward, disabled=next_start is None, key=f"{key}_next") and next_start is not None:
        starts.append(next_start)
        st.rerun()
