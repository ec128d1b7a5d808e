"""Put the keyboard focus in a keyed text box when it appears, unless the user is working somewhere else.

Streamlit has no focus API. The review queue needs one: each trace has its own comment box, so after a rating the
box that held the focus is gone, and a keyboard user would have to Tab through the whole sidebar to reach the next.
"""

from __future__ import annotations

import streamlit as st

# The focus moves only when it is nowhere (the page's body: the focused box went away) or still in a widget of the
# part being replaced (``within``: a key prefix), which Streamlit keeps on screen until its run ends. The box may
# come a moment after this script runs. Streamlit marks each keyed element with the class st-key-<key>.
_FOCUS = """
export default function ({ data }) {
  const selector = `.st-key-${data.key} textarea, .st-key-${data.key} input`;
  let tries = 0;
  const attempt = () => {
    const box = document.querySelector(selector);
    if (box === null) {
      if (++tries < 60) requestAnimationFrame(attempt);
      return;
    }
    const active = document.activeElement;
    const lost = active === null || active === document.body;
    if (lost || (active !== box && active.closest(`[class*="st-key-${data.within}"]`) !== null)) box.focus();
  };
  attempt();
}
"""
_focus = st.components.v2.component("spanlite_focus", js=_FOCUS)


def focus(key: str, *, within: str) -> None:
    """Focus the text box of widget ``key`` once, when it first shows, if the focus is nowhere or on a widget whose
    key starts with ``within``. Keys: letters, digits, ``_`` and ``-`` only."""
    _focus(data={"key": key, "within": within}, key=f"focus_{key}", height=0)
