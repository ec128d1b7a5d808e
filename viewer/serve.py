"""What ``spanlite ui`` serves: the viewer (``app.py``) behind a check of the ``Host`` header on every request.

Streamlit checks ``server.allowedHosts`` (which ``launch`` sets) on its websocket only; the same list checked here
refuses the HTTP routes to a foreign name too, such as a page whose domain an attacker pointed at this machine.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from streamlit import config

from spanlite.viewer.launch import stop_when_orphaned

# Streamlit's list names IPv6 addresses bare (``::1``), Starlette's as the Host header writes them (``[::1]``).
_hosts = [f"[{name}]" if ":" in name else name for name in config.get_option("server.allowedHosts")]
app = st.App(
    Path(__file__).with_name("app.py"),
    middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=_hosts or ["*"], www_redirect=False)],
)
stop_when_orphaned()
