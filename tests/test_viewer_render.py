"""How the viewer shows values: long ones bounded (in Chromium, where only a browser shows the freeze), truncation
marks labelled, Markdown only when asked and then safe, retrieved documents as cards, sessions readable."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

import spanlite
from _helpers import app, open_page
from spanlite.viewer.launch import viewer_command
from test_viewer_e2e import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from viewer_server import free_port, serving

LONG = "A" * 200_000  # under the default field bound (256 KiB): stored whole
BIG_JSON = [{"id": i, "text": f"row {i} " + "x" * 40} for i in range(4_000)]  # ~250 KB as JSON, a deep tree
SETTLE_MS = 60_000  # a generous deadline: before the fix, the trace page took 35-80 s on this machine
PAGE_TEXT_MAX = 120_000  # characters of text on one page, whatever the store holds
PAGE_HEIGHT_MAX = 30_000  # px


def _long_traces() -> dict[str, str]:
    @spanlite.trace
    def long_answer(question: str) -> str:
        spanlite.update_current_trace(session_id="s-long")
        return LONG

    @spanlite.trace
    def big_json(question: str) -> list[dict[str, Any]]:
        return BIG_JSON

    long_answer("q?")
    big_json("rows?")
    return {t.name or "": t.trace_id for t in spanlite.search_traces(limit=10)}


@pytest.fixture
def long_viewer(db_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    traces = _long_traces()
    port = free_port()
    argv, env = viewer_command(db_path, port)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with open(ARTIFACTS / "streamlit_render.log", "wb") as log:
        with serving(argv, env, port, startup_s=30, stdout=log, stderr=subprocess.STDOUT):
            yield f"http://127.0.0.1:{port}", traces


_MEASURE = """() => {
  const main = document.querySelector('[data-testid=stMain]');
  const texts = [...document.querySelectorAll('[data-testid=stText]')];
  return {
    text: document.body.innerText.length,
    height: main.scrollHeight,
    kerning: texts.map(t => getComputedStyle(t.firstElementChild || t).fontKerning),
  };
}"""


def test_long_values_are_bounded_on_every_page_in_chromium(long_viewer: tuple[str, dict[str, str]]) -> None:
    """200 KB of one letter froze the tab (Chromium reshapes the rest of an unbreakable kerned run for each line it
    breaks, so layout grows with the square of its length) and a big JSON value made the page 250,000 px tall."""
    from playwright.sync_api import expect, sync_playwright

    url, traces = long_viewer
    pages = {
        "trace_long": f"{url}/trace?trace={traces['long_answer']}",
        "trace_json": f"{url}/trace?trace={traces['big_json']}",
        "sessions": f"{url}/sessions?session=s-long",
        "review": f"{url}/review",
    }
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1200})
            page.set_default_timeout(SETTLE_MS)
            expect.set_options(timeout=SETTLE_MS)
            for name, address in pages.items():
                page.goto(address)
                expect(page.get_by_role("button", name="Download the whole value").first).to_be_visible()
                expect(page.locator('[data-testid^="stStatusWidgetRunning"]')).to_have_count(0)
                measured = page.evaluate(_MEASURE)
                page.screenshot(path=str(ARTIFACTS / f"long_{name}.png"))
                assert measured["text"] < PAGE_TEXT_MAX, (name, measured["text"])
                assert measured["height"] < PAGE_HEIGHT_MAX, (name, measured["height"])
                assert measured["kerning"] and set(measured["kerning"]) == {"none"}, (name, measured["kerning"])
        finally:
            browser.close()


# --- truncated fields -----------------------------------------------------------------------------------------------

OVER = 300_000  # bytes: over the default field bound, so the store keeps a mark and the start


def _cut_traces() -> dict[str, str]:
    @spanlite.trace
    def cut_answer(document: str, question: str) -> str:
        spanlite.update_current_trace(session_id="s-cut")
        return "B" * OVER

    cut_answer("C" * OVER, "what?")
    return {t.name or "": t.trace_id for t in spanlite.search_traces(limit=10)}


def _shown(at: Any) -> str:
    """Everything a page shows: text, code, JSON, Markdown, captions."""
    parts = [e.value for e in [*at.text, *at.code, *at.markdown, *at.caption, *at.title, *at.subheader]]
    return "\n".join([*map(str, parts), *(str(j.value) for j in at.json)])


def test_truncated_values_show_as_a_labelled_mark_everywhere(db_path: Path) -> None:
    """A value over the field bound is stored as ``{"_spanlite_truncated": true, ...}``: shown as a label with the
    start kept, never as that object (the output whole, and an input beside others, cut per entry)."""
    traces = _cut_traces()
    label = f"✂️ truncated ({OVER:,} bytes)"
    pages = {
        "trace": ("trace_page.py", {"trace": traces["cut_answer"]}),
        "sessions": ("sessions_page.py", {"session": "s-cut"}),
        "review": ("review_page.py", {}),
    }
    for name, (script, query) in pages.items():
        at = open_page(app(), script, **query)
        shown = _shown(at)
        assert "_spanlite_truncated" not in shown, name
        assert label in shown, name
        assert "BBBB" in shown and "CCCC" in shown, name  # the kept start
        assert "what?" in shown, name  # the input beside the cut one
    at = open_page(app(), "trace_page.py", trace=traces["cut_answer"])
    assert any(c.value.startswith(f"{label}: spanlite kept the start of it") for c in at.caption)


# --- sessions -------------------------------------------------------------------------------------------------------


def test_sessions_show_multi_field_turns_field_by_field_and_failed_turns_with_their_error(db_path: Path) -> None:
    @spanlite.trace
    def answer(question: str, context: str) -> str:
        spanlite.update_current_trace(session_id="s-turns")
        return "It is Paris."

    @spanlite.trace
    def broken(question: str) -> str:
        spanlite.update_current_trace(session_id="s-turns")
        raise RuntimeError("the model timed out")

    answer("Capital of France?", "France is a country in Europe.")
    with pytest.raises(RuntimeError):
        broken("And of Spain?")
    spanlite.flush()
    at = open_page(app(), "sessions_page.py", session="s-turns")
    texts = [t.value for t in at.text]
    captions = [c.value for c in at.caption]
    assert "Capital of France?" in texts and "France is a country in Europe." in texts  # each field as itself
    assert "question" in captions and "context" in captions  # under its name
    assert "It is Paris." in texts
    assert "RuntimeError: the model timed out" in [c.value for c in at.code]  # the failed turn's error, not a blank
    assert "❌ This turn failed" in captions
    assert "" not in texts


# --- retrieved documents --------------------------------------------------------------------------------------------

PARIS, LYON = "Paris is the capital of France.", "Lyon is a city in France."


def _retriever(outputs: Any) -> tuple[str, str]:
    with spanlite.start_span("retrieve", kind="RETRIEVER", inputs={"query": "France?"}) as span:
        span.set_outputs(outputs)
        return span.trace_id, span.span_id


def _received(attributes: dict[str, Any], db_path: Path) -> tuple[str, str]:
    """A span as another instrumentor sends it over OTLP, with its own attribute keys."""
    from _helpers import JSON, TRACE_ID, json_body, json_span, post
    from spanlite.otlp import start_receiver

    values = [
        {"key": k, "value": {"doubleValue": v} if isinstance(v, float) else {"stringValue": str(v)}}
        for k, v in attributes.items()
    ]
    span = json_span("aaaaaaaaaaaaaaaa", name="retrieve", attributes=values, events=[], status={"code": 1})
    with start_receiver(db_path) as receiver:
        assert post(receiver, json_body(span), JSON)[0] == 200
    return TRACE_ID, "aaaaaaaaaaaaaaaa"


SHAPES: dict[str, Any] = {
    "langchain (autolog)": [
        {"page_content": PARIS, "metadata": {"source": "wiki"}, "id": "d1"},
        {"page_content": LYON, "metadata": {}, "id": "d2"},
    ],
    "langchain Document.model_dump": [
        {"id": "d1", "metadata": {"source": "wiki"}, "page_content": PARIS, "type": "Document"},
        {"id": "d2", "metadata": {}, "page_content": LYON, "type": "Document"},
    ],
    "llamaindex NodeWithScore": [
        {"node": {"id_": "d1", "text": PARIS, "metadata": {"source": "wiki"}}, "score": 0.9, "class_name": "x"},
        {"node": {"id_": "d2", "text": LYON, "metadata": {}}, "score": 0.5, "class_name": "x"},
    ],
    "llamaindex TextNode": [{"id_": "d1", "text": PARIS}, {"id_": "d2", "text": LYON}],
    "haystack": {"documents": [{"id": "d1", "content": PARIS, "score": 0.9}, {"id": "d2", "content": LYON}]},
    "plain strings": [PARIS, LYON],
    "openinference (received)": {
        "openinference.span.kind": "RETRIEVER",
        "retrieval.documents.0.document.id": "d1",
        "retrieval.documents.0.document.content": PARIS,
        "retrieval.documents.0.document.score": 0.9,
        "retrieval.documents.0.document.metadata": '{"source": "wiki"}',
        "retrieval.documents.1.document.id": "d2",
        "retrieval.documents.1.document.content": LYON,
    },
    "mlflow (received)": {
        "mlflow.spanType": '"RETRIEVER"',
        "mlflow.spanInputs": '{"query": "France?"}',
        "mlflow.spanOutputs": orjson.dumps(
            [
                {"page_content": PARIS, "metadata": {"doc_uri": "wiki"}, "id": "d1"},
                {"page_content": LYON, "metadata": {}, "id": "d2"},
            ]
        ).decode(),
    },
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_a_retrievers_documents_show_as_cards(shape: str, db_path: Path) -> None:
    if shape.endswith("(received)"):
        trace_id, span_id = _received(SHAPES[shape], db_path)
    else:
        trace_id, span_id = _retriever(SHAPES[shape])
        spanlite.flush()
    at = open_page(app(), "trace_page.py", trace=trace_id, span=span_id)
    assert any(c.value.startswith(f"Span {span_id} · RETRIEVER") for c in at.caption)
    texts = [t.value for t in at.text]
    assert PARIS in texts and LYON in texts
    cards = [c.value for c in at.caption if c.value.startswith("📄 Document")]
    assert len(cards) == 2, cards
    if shape != "plain strings":
        assert "d1" in cards[0] and "d2" in cards[1], cards
    if shape in ("llamaindex NodeWithScore", "haystack", "openinference (received)"):
        assert "score 0\\.900" in cards[0], cards
