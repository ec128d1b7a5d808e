"""How the viewer shows values: long ones bounded (in Chromium, where only a browser shows the freeze), truncation
marks labelled, Markdown only when asked and then safe, retrieved documents as cards, sessions readable."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

import spanlite
from _helpers import EVIL, app, open_page
from spanlite.viewer import _bounded, _markdown
from viewer_server import ARTIFACTS, chromium_page, viewer_at

LONG = "A" * 200_000  # under the default field bound (256 KiB): stored whole
BIG_JSON = [{"id": i, "text": f"row {i} " + "x" * 40} for i in range(3_500)]  # 246 KB of JSON: under the bound
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
    with viewer_at(db_path, "streamlit_render.log") as url:
        yield url, traces


_DRAWN = "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => done(true))))"
_MEASURE = """() => {
  const main = document.querySelector('[data-testid=stMain]');
  const prose = [...main.querySelectorAll('[data-testid=stText], [data-testid=stMarkdown]')];
  const runs = prose.map(e => Math.max(0, ...(e.innerText.match(/\\S+/g) || []).map(w => w.length)));
  return {text: document.body.innerText.length, height: main.scrollHeight, run: Math.max(...runs)};
}"""


def test_long_values_are_bounded_on_every_page_in_chromium(long_viewer: tuple[str, dict[str, str]]) -> None:
    """200 KB of one letter froze the tab (Chromium reshapes the rest of an unbreakable kerned run for each line it
    breaks, so layout grows with the square of its length) and a big JSON value made the page very tall."""
    from playwright.sync_api import expect

    url, traces = long_viewer
    pages = {  # each page, and a heading it shows once its script has run
        "trace_long": (f"{url}/trace?trace={traces['long_answer']}", "long_answer"),
        "trace_json": (f"{url}/trace?trace={traces['big_json']}", "big_json"),
        "sessions": (f"{url}/sessions?session=s-long", "Session"),
        "review": (f"{url}/review", "Review"),
    }
    with chromium_page(timeout_ms=SETTLE_MS) as page:
        for name, (address, heading) in pages.items():
            page.goto(address)
            expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
            expect(page.locator('[data-testid^="stStatusWidgetRunning"]')).to_have_count(0)
            page.wait_for_function(_DRAWN)  # the tab settles: layout and paint done, within SETTLE_MS
            measured = page.evaluate(_MEASURE)
            page.screenshot(path=str(ARTIFACTS / f"long_{name}.png"))
            assert measured["text"] < PAGE_TEXT_MAX, (name, measured["text"])
            assert measured["height"] < PAGE_HEIGHT_MAX, (name, measured["height"])
            assert measured["run"] < _bounded.LONG_RUN, (name, measured["run"])  # long runs: monospace, unkerned
            expect(page.get_by_role("button", name="Download the whole value").first).to_be_attached()


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
    label = f"[truncated: {OVER:,} bytes]"
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
    assert ":material/cancel: This turn failed" in captions
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
    cards = [c.value for c in at.caption if c.value.startswith(":material/description: Document")]
    assert len(cards) == 2, cards
    if shape != "plain strings":
        assert "d1" in cards[0] and "d2" in cards[1], cards
    if shape in ("llamaindex NodeWithScore", "haystack", "openinference (received)"):
        assert "score 0\\.900" in cards[0], cards


# --- Markdown, on request and safe ----------------------------------------------------------------------------------

EVIL_IMAGE = "http://127.0.0.1:9/evil.png"  # loopback's discard port: a load would show as a request, and fail
HOSTILE_MD = f"""# Answer
**bold**, _it_ and `code <b>` with a [good link](https://example.com/a?b=1) and <mailto:x@example.com>
<script>window.pwned = 1</script>
<img src="{EVIL_IMAGE}" onerror="window.pwned = 1">
[click](javascript:window.pwned=1) [js](JaVaScRiPt:window.pwned=1) [data](data:text/html,<script>alert(1)</script>)
![remote]({EVIL_IMAGE}) ![titled]({EVIL_IMAGE} "t") [![nested]({EVIL_IMAGE})](https://example.com)
[reference][evil]

[evil]: javascript:window.pwned=1
<{EVIL_IMAGE}> <javascript:alert(1)>
:red[coloured] :blue-background[bg] :small[s] :material/home: :smile: :streamlit: :+1: ::leaf[x] :::container
$E = mc^2$ and $$\\int x$$ and \\(x\\)
&lt;script&gt; &#106;avascript:alert(1)
<details open><summary>x</summary>hidden</details>
[tick](https://example.com/`x) then `code` and [tock](<{EVIL_IMAGE}`>)
```html
<script>window.pwned = 1</script>
```
- item [x](javascript:alert(1))
> quote <iframe src="{EVIL_IMAGE}"></iframe>"""
_LINK_OUT = re.compile(r"\]\(<([^<>\n]*)>\)")


def _outside_code(markdown: str) -> str:
    """The rewritten Markdown less its code (fenced blocks and spans), where Markdown reads nothing."""
    markdown = re.sub(r"^```[^\n]*\n.*?^```$", "", markdown, flags=re.M | re.S)
    return re.sub(r"(`+)[^`]+?\1", "", markdown)


@pytest.mark.parametrize("payload", [HOSTILE_MD, *HOSTILE_MD.splitlines(), EVIL])
def test_safe_markdown_keeps_formatting_and_neutralises_everything_else(payload: str) -> None:
    rewritten = _markdown.safe(payload)
    targets = _LINK_OUT.findall(rewritten)
    assert all(re.match(r"(https?://[^/]|mailto:)", t) for t in targets), targets
    text = _outside_code(_LINK_OUT.sub("]", rewritten))
    unescaped = re.compile(r"(?<!\\)((?:\\\\)*)([<$:\[(!&{])")  # after an even number of backslashes: live
    live = [m.group(2) for m in unescaped.finditer(text)]
    assert live.count("[") == len(targets) and not set(live) - {"["}, (live, rewritten)
    plain = text.replace("\\", "")  # what Streamlit's text plugins see once escapes are undone
    assert not re.search(r":[\w+-][\w_+-]*:", plain)  # no emoji or logo shortcode
    assert "<script" not in plain.replace("\\<", "") or "\\<script" in text


def test_safe_markdown_keeps_what_formats() -> None:
    rewritten = _markdown.safe(HOSTILE_MD)
    lines = rewritten.splitlines()
    assert lines[0] == "# Answer" and "**bold**" in lines[1] and "_it_" in lines[1]
    assert "`code <b>`" in lines[1]  # code as it is
    assert "[good link](<https://example.com/a?b=1>)" in lines[1]
    assert f"[image\\: remote](<{EVIL_IMAGE}>)" in rewritten  # an image becomes a link to it, never loaded
    assert "```\n<script>window.pwned = 1</script>\n```" in rewritten  # the fence's language dropped
    assert "- item " in rewritten and "> quote " in rewritten


def _hostile_markdown_trace() -> str:
    """A trace whose output is ``HOSTILE_MD``; its id."""

    @spanlite.trace
    def writer(topic: str) -> str:
        return HOSTILE_MD

    writer("x")
    return spanlite.search_traces(limit=1)[0].trace_id


def test_outputs_show_as_text_by_default_and_as_safe_markdown_on_request(db_path: Path) -> None:
    trace_id = _hostile_markdown_trace()
    at = open_page(app(), "trace_page.py", trace=trace_id)
    assert HOSTILE_MD in [t.value for t in at.text]  # plain text first
    at.toggle(key="outputs_markdown").set_value(True).run()
    assert not at.exception
    assert _markdown.safe(HOSTILE_MD) in [m.value for m in at.markdown]
    assert HOSTILE_MD not in [t.value for t in at.text]
    assert not any(m.proto.allow_html for m in at.markdown)


def test_safe_markdown_reaches_the_dom_inert_in_chromium(db_path: Path) -> None:
    from playwright.sync_api import expect

    trace_id = _hostile_markdown_trace()
    requests: list[str] = []
    with viewer_at(db_path, "streamlit_markdown.log") as url, chromium_page(timeout_ms=30_000) as page:
        page.on("request", lambda r: requests.append(r.url))
        page.goto(f"{url}/trace?trace={trace_id}")
        page.get_by_test_id("stCheckbox").filter(has_text="Markdown").locator("label").click()
        content = page.get_by_test_id("stMarkdown").filter(has_text="good link")
        expect(content.get_by_role("heading", name="Answer")).to_be_visible()
        expect(content.get_by_role("link", name="good link")).to_have_attribute("href", "https://example.com/a?b=1")
        page.screenshot(path=str(ARTIFACTS / "markdown.png"), full_page=True)
        found = page.evaluate(_INERT)
    assert found == {"pwned": False, "scripts": 0, "jsLinks": 0, "images": 0, "frames": 0, "styled": 0}, found
    assert not [r for r in requests if "evil" in r or "example.com" in r], requests


_INERT = """() => {
  const main = document.querySelector('[data-testid=stMain]');
  const hrefs = [...main.querySelectorAll('[data-testid=stMarkdown] a[href]')].map(a => a.getAttribute('href'));
  return {
    pwned: window.pwned !== undefined,
    scripts: [...document.querySelectorAll('script')].filter(s => s.textContent.includes('pwned')).length,
    jsLinks: hrefs.filter(h => !/^(https?:|mailto:|#)/i.test(h)).length,
    images: [...main.querySelectorAll('img')].filter(i => (i.getAttribute('src') || '').includes('evil')).length,
    frames: main.querySelectorAll('[data-testid=stMarkdown] :is(iframe, details, object, embed)').length,
    styled: main.querySelectorAll('.stMarkdownColoredText, .stMarkdownColoredBackground, .katex').length,
  };
}"""


def test_thousands_of_documents_or_records_stay_bounded(db_path: Path) -> None:
    """A retriever's 3,000 documents as 3,000 cards (each a few elements and widgets) hung the tab: the page shows
    a bounded number and offers the rest as a download; a list of records with a ``text`` is no documents."""
    trace_id, span_id = _retriever([{"id": f"d{i}", "content": f"document {i}"} for i in range(3_000)])

    @spanlite.trace
    def records() -> list[dict[str, Any]]:
        return [{"id": i, "text": f"row {i}"} for i in range(3)]

    records()
    spanlite.flush()
    at = open_page(app(), "trace_page.py", trace=trace_id, span=span_id)
    cards = [c.value for c in at.caption if c.value.startswith(":material/description: Document")]
    assert 0 < len(cards) <= _bounded.ITEMS_SHOWN
    assert f"{3_000 - len(cards):,} more documents not shown: this page already shows as much as it can." in [
        c.value for c in at.caption
    ]
    assert at.get("download_button")
    trace = spanlite.search_traces(limit=1)[0]
    at = open_page(app(), "trace_page.py", trace=trace.trace_id)
    assert not [c for c in at.caption if c.value.startswith(":material/description: Document")]
    assert any("row 0" in str(j.value) for j in at.json)
