"""The spanlite viewer: ``spanlite ui`` serves this script (through ``serve.py``, which checks the Host header).

The store comes from ``$SPANLITE_DB``; each page is its own script next to this one, and ``data.py`` is the
only module that reads the store.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from spanlite.store import clock
from spanlite.viewer import _author, _render, data

HERE = Path(__file__).resolve().parent

st.set_page_config(page_title="spanlite", page_icon=":material/troubleshoot:", layout="wide")

pages = [
    st.Page(HERE / "traces_page.py", title="Traces", icon=":material/list:", url_path="traces", default=True),
    st.Page(HERE / "trace_page.py", title="Trace", icon=":material/account_tree:", url_path="trace"),
    st.Page(HERE / "compare_page.py", title="Compare", icon=":material/compare_arrows:", url_path="compare"),
    st.Page(HERE / "sessions_page.py", title="Sessions", icon=":material/forum:", url_path="sessions"),
    st.Page(HERE / "review_page.py", title="Review", icon=":material/rate_review:", url_path="review"),
    st.Page(HERE / "evaluation_page.py", title="Evaluation", icon=":material/fact_check:", url_path="evaluation"),
    st.Page(HERE / "datasets_page.py", title="Datasets", icon=":material/dataset:", url_path="datasets"),
    st.Page(HERE / "overview_page.py", title="Overview", icon=":material/monitoring:", url_path="overview"),
]
page = st.navigation(pages)

with st.sidebar:
    stats = data.stats()
    st.caption(f"Store: {_render.md_escape(data.db_path(), limit=120)}")
    st.caption(f"{stats['traces']:,} traces · {stats['spans']:,} spans")
    if stats["dropped_spans"]:
        st.warning(f"{stats['dropped_spans']:,} spans were dropped by writers (queue full).")
    _author.name_box()
    st.radio(
        "Times in",
        ["local", "UTC"],
        format_func=lambda choice: f"Local ({clock.zone_name()})" if choice == "local" else "UTC",
        key=_render.TIMES_IN,
        horizontal=True,
        help="Local: the time zone of the machine the viewer runs on (`spanlite ui` is a local tool), as the "
        "`spanlite` command shows times. Every time shown names its zone.",
    )
    st.toggle("Live", key="live", help=f"Refresh lists every {data.LIVE_INTERVAL_S:g} s while on")
    if st.button("Refresh", icon=":material/refresh:"):
        data.clear_caches()
        st.rerun()

page.run()
