"""What an empty store shows: the three ways to get traces into it, each aimed at the store this viewer reads."""

from __future__ import annotations

import shlex

import streamlit as st

SERVE_ENDPOINT = "http://127.0.0.1:4318"  # where ``spanlite serve`` listens by default


def show(db_path: str) -> None:
    """The demo, a decorated function, and an OTel exporter pointed at ``spanlite serve``; each command names this
    store, so that what it writes shows here."""
    db = f" --db {shlex.quote(db_path)}"
    st.info("No traces yet. Three ways to get some in, then press Refresh in the sidebar:", icon=":material/info:")
    st.markdown("**Run the demo**: a few example traces of a small agent")
    st.code(f"spanlite demo{db}", language="bash")
    st.markdown("**Trace your own code**: decorate a function; each call becomes a trace")
    env = f"SPANLITE_DB={shlex.quote(db_path)} "
    st.code(
        f'import spanlite\n\n\n@spanlite.trace\ndef answer(question: str) -> str:\n    return "..."\n\n\n'
        f'answer("Where is my order?")  # run it as: {env}python app.py',
        language="python",
    )
    st.markdown("**Send OpenTelemetry spans** from any OTel SDK (any language): run the receiver, then point the "
                "exporter at it")  # fmt: skip
    st.code(
        f"spanlite serve{db}\n\n# in the traced program's environment:\n"
        f"export OTEL_EXPORTER_OTLP_ENDPOINT={SERVE_ENDPOINT}\nexport OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
        language="bash",
    )
