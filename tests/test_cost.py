"""Cost per model call: the bundled price table, its overrides, and cost stored with every span whatever wrote it."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest

import spanlite
from _helpers import JSON, TRACE_ID, post, row, write_as_before
from _reroute import ToFake
from fake_llm_server import FakeLLMServer
from spanlite.store import SQLiteSpanExporter, TraceStore
from spanlite.store.prices import PriceError, PriceTable, Usage, candidates, load
from spanlite.tracing import attributes as attr

BUNDLED = PriceTable.bundled()


def llm_attributes(
    provider: str | None, model: str, input_tokens: int = 1000, output_tokens: int = 100
) -> dict[str, Any]:
    values: dict[str, Any] = {
        attr.GEN_AI_REQUEST_MODEL: model,
        attr.GEN_AI_USAGE_INPUT_TOKENS: input_tokens,
        attr.GEN_AI_USAGE_OUTPUT_TOKENS: output_tokens,
    }
    if provider is not None:
        values[attr.GEN_AI_PROVIDER_NAME] = provider
    return values


def usd(input_price: float, output_price: float, input_tokens: int = 1000, output_tokens: int = 100) -> float:
    return (input_tokens * input_price + output_tokens * output_price) / 1e6


def model_span(store: TraceStore, trace_id: str) -> Any:
    trace = store.get_trace(trace_id)
    assert trace is not None
    return next(s for s in trace.spans if s.input_tokens is not None or s.output_tokens is not None), trace.info


# The table -----------------------------------------------------------------------------------------------------------


def test_every_bundled_row_is_dated_and_sourced_and_each_family_is_priced() -> None:
    path = Path(spanlite.store.__file__).with_name("prices.csv")
    with path.open(encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == len(BUNDLED) > 100
    for r in rows:
        assert r["date"] and r["source"].startswith("https://"), r
        assert float(r["input"]) >= 0 and float(r["output"]) >= 0, r
    providers = {r["provider"] for r in rows}
    assert {"openai", "anthropic", "gcp.gemini", "aws.bedrock", "mistral_ai", "cohere", "groq", "deepseek"} <= providers


@pytest.mark.parametrize(
    ("model", "provider", "expected"),
    [
        ("gpt-4o-2024-08-06", "openai", "gpt-4o"),
        ("openai/gpt-4o", None, "gpt-4o"),
        ("claude-3-5-sonnet-20241022", "anthropic", "claude-3-5-sonnet"),
        ("claude-sonnet-4-5-20250929", "anthropic", "claude-sonnet-4-5"),
        ("claude-3-5-sonnet-latest", "anthropic", "claude-3-5-sonnet"),
        ("models/gemini-2.5-flash", "gcp.gemini", "gemini-2.5-flash"),
        ("anthropic.claude-3-5-sonnet-20240620-v1:0", "aws.bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0"),
        ("us.anthropic.claude-3-5-sonnet-20240620-v1:0", "aws.bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0"),
        ("eu.amazon.nova-lite-v1:0", "aws.bedrock", "eu.amazon.nova-lite-v1:0"),  # a region's own price
        ("us.amazon.nova-lite-v1:0", "aws.bedrock", "amazon.nova-lite-v1:0"),
    ],
)
def test_dated_prefixed_and_regional_ids_resolve_to_their_row(model: str, provider: str | None, expected: str) -> None:
    assert BUNDLED.price(model, provider) == BUNDLED.price(expected, provider) is not None
    assert expected in candidates(model)


def test_a_model_is_priced_by_its_own_provider_only() -> None:
    assert BUNDLED.price("gpt-4o", "openai") is not None
    assert BUNDLED.price("gpt-4o", "azure.ai.openai") is None  # served elsewhere, at prices not in the table
    assert BUNDLED.price("gemini-2.5-flash", "gemini") == BUNDLED.price("gemini-2.5-flash", "gcp.gemini")
    assert BUNDLED.price("no-such-model", "openai") is None
    assert BUNDLED.price("no-such-model", None) is None


def test_cost_formula_bills_cache_reads_and_writes_apart_from_the_rest_of_the_input() -> None:
    price = BUNDLED.price("claude-3-5-sonnet", "anthropic")
    assert price is not None and price.cache_read is not None and price.cache_write is not None
    usage = Usage(("claude-3-5-sonnet-20241022",), "anthropic", 1000, 100, 300, 200)
    expected = (500 * price.input + 300 * price.cache_read + 200 * price.cache_write + 100 * price.output) / 1e6
    assert BUNDLED.cost(usage) == pytest.approx(expected)
    # no cache prices in the row: cached tokens at the input price
    table = BUNDLED.with_rows({"plain": {"input": 2, "output": 4}})
    assert table.cost(Usage(("plain",), None, 1000, 100, 300, 200)) == pytest.approx(usd(2, 4))


def test_no_price_or_no_tokens_is_none_never_zero() -> None:
    assert BUNDLED.cost(Usage(("unknown-model",), "openai", 1000, 100, None, None)) is None
    assert BUNDLED.cost(Usage(("gpt-4o",), "openai", None, None, None, None)) is None
    assert BUNDLED.cost(Usage(("gpt-4o",), "openai", 0, 0, None, None)) == 0.0


def test_the_response_model_is_preferred_and_the_request_model_is_the_fallback() -> None:
    assert BUNDLED.cost(Usage(("gpt-4o-mini", "gpt-4o"), "openai", 1000, 100, None, None)) == pytest.approx(
        usd(0.15, 0.6)
    )
    assert BUNDLED.cost(Usage(("gpt-4o-mini-2024", "gpt-4o"), "openai", 1000, 100, None, None)) == pytest.approx(
        usd(2.5, 10)
    )


def test_overrides_from_a_mapping_csv_or_json_add_and_replace_rows(tmp_path: Path) -> None:
    table = BUNDLED.with_rows({"gpt-4o": {"input": 1, "output": 2}, "house-model": {"input": 3, "output": 4}})
    assert table.cost(Usage(("gpt-4o-2024-08-06",), "openai", 1000, 100, None, None)) == pytest.approx(usd(1, 2))
    assert table.cost(Usage(("house-model",), "vllm", 1000, 100, None, None)) == pytest.approx(usd(3, 4))
    (tmp_path / "p.csv").write_text("provider,model,input,output\nollama,llama3.1:8b,0.5,1\n")
    assert load(tmp_path / "p.csv").price("llama3.1:8b", "ollama") is not None
    (tmp_path / "p.json").write_text('[{"model": "m", "provider": "groq", "input": 1, "output": 1}]')
    assert load(str(tmp_path / "p.json")).price("m", "groq") is not None
    assert PriceTable.bundled().with_rows(table.added).price("house-model", None) == table.price("house-model", None)


@pytest.mark.parametrize(
    ("prices", "message"),
    [
        ({"m": {"input": 1}}, "output: missing"),
        ({"m": {"input": "cheap", "output": 1}}, "is not a number"),
        ({"m": {"input": -1, "output": 1}}, "is not a price"),
        ({"m": {"input": 1, "output": 1, "cents": 3}}, "unknown field cents"),
        ({"m": 3}, "must be a mapping"),
        ("/no/such/prices.json", "cannot read prices"),
    ],
)
def test_a_bad_override_is_one_clear_line_and_changes_nothing(prices: Any, message: str) -> None:
    settings = spanlite._config.settings()
    with pytest.raises(PriceError, match=message) as caught:
        spanlite.configure(db=settings.db, prices=prices)
    assert "\n" not in str(caught.value)
    assert spanlite._config.settings() is settings


# Stored with the span, whatever wrote it ------------------------------------------------------------------------------


def test_configure_prices_reaches_the_store_and_unknown_models_cost_none(db_path: Path) -> None:
    spanlite.configure(db=db_path, prices={"house-model": {"input": 3, "output": 4}})
    with spanlite.start_span("agent") as root:
        for provider, model in [(None, "house-model"), ("openai", "gpt-4o"), ("openai", "unknown-model")]:
            with spanlite.start_span(f"chat {model}", kind="CHAT_MODEL", attributes=llm_attributes(provider, model)):
                pass
        with spanlite.start_span("tool", kind="TOOL"):
            pass
    spanlite.flush()
    trace = spanlite.get_trace(root.trace_id)
    assert trace is not None
    costs = {s.name: s.cost for s in trace.spans}
    assert costs == {
        "agent": None,
        "chat house-model": pytest.approx(usd(3, 4)),
        "chat gpt-4o": pytest.approx(usd(2.5, 10)),
        "chat unknown-model": None,
        "tool": None,
    }
    assert trace.info.cost == pytest.approx(usd(3, 4) + usd(2.5, 10))


@pytest.mark.parametrize(
    ("provider", "model", "input_price", "output_price"),
    [
        ("gcp.gemini", "gemini-2.5-flash", 0.3, 2.5),
        ("aws.bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0", 3, 15),
        ("aws.bedrock", "us.amazon.nova-lite-v1:0", 0.06, 0.24),
    ],
)
def test_gemini_and_bedrock_spans_get_a_cost(
    provider: str, model: str, input_price: float, output_price: float
) -> None:
    """The attributes the Gemini and Bedrock integrations write (they are being written beside this)."""
    with spanlite.start_span(f"chat {model}", kind="CHAT_MODEL", attributes=llm_attributes(provider, model)) as span:
        pass
    spanlite.flush()
    trace = spanlite.get_trace(span.trace_id)
    assert trace is not None
    assert trace.spans[0].cost == trace.info.cost == pytest.approx(usd(input_price, output_price))


def test_a_trace_with_no_priced_call_has_no_cost() -> None:
    with spanlite.start_span("chat", kind="CHAT_MODEL", attributes=llm_attributes("openai", "unknown")) as span:
        pass
    spanlite.flush()
    trace = spanlite.get_trace(span.trace_id)
    assert trace is not None and trace.info.cost is None and trace.info.input_tokens == 1000


def test_nested_spans_reporting_one_call_cost_it_once() -> None:
    with spanlite.start_span("chain", kind="LLM", attributes=llm_attributes("openai", "gpt-4o")) as outer:
        with spanlite.start_span("chat", kind="CHAT_MODEL", attributes=llm_attributes("openai", "gpt-4o")):
            pass
    spanlite.flush()
    trace = spanlite.get_trace(outer.trace_id)
    assert trace is not None
    assert [s.cost for s in trace.spans] == [pytest.approx(usd(2.5, 10))] * 2
    assert trace.info.cost == pytest.approx(usd(2.5, 10))


def test_the_writer_process_prices_with_the_apps_rows(tmp_path: Path) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    table = BUNDLED.with_rows({"house-model": {"input": 3, "output": 4}})
    exporter = SQLiteSpanExporter(tmp_path / "child.db", writer="process", prices=table)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("t").start_as_current_span("chat", attributes=llm_attributes(None, "house-model")) as s:
        trace_id = f"{s.get_span_context().trace_id:032x}"
    assert exporter.writer_pid is not None  # it was written by the child
    provider.shutdown()
    with TraceStore(tmp_path / "child.db") as store:
        span, info = model_span(store, trace_id)
    assert span.cost == info.cost == pytest.approx(usd(3, 4))


def test_an_otlp_json_span_with_gen_ai_attributes_gets_a_cost(tmp_path: Path) -> None:
    from spanlite.otlp import start_receiver

    def value(v: Any) -> dict[str, Any]:
        return {"intValue": str(v)} if isinstance(v, int) else {"stringValue": v}

    attributes = llm_attributes("aws.bedrock", "us.anthropic.claude-3-5-sonnet-20240620-v1:0")
    span = {
        "traceId": TRACE_ID, "spanId": "051581bf3cb55c13", "name": "chat", "kind": 3,
        "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000001000000000",
        "attributes": [{"key": k, "value": value(v)} for k, v in attributes.items()],
    }  # fmt: skip
    body = orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]})
    with start_receiver(tmp_path / "received.db", prices=load({"x": {"input": 1, "output": 1}})) as receiver:
        assert post(receiver, body, JSON)[0] == 200
    with TraceStore(tmp_path / "received.db") as store:
        stored, info = model_span(store, TRACE_ID)
    assert stored.cost == info.cost == pytest.approx(usd(3, 15))


def test_an_older_store_is_priced_from_its_spans_attributes_on_opening(tmp_path: Path) -> None:
    from sqlite_utils import Database

    from spanlite.store._migrations import registry

    path = tmp_path / "at-m011.db"
    old = Database(path)
    registry().apply(old, stop_before="m012_cost")
    llm = llm_attributes("openai", "gpt-4o")
    model = {"input_tokens": 1000, "output_tokens": 100, "model": "gpt-4o"}
    write_as_before(
        old.conn,
        [
            row("t1", "r", None, 100),
            {**row("t1", "c", "r", 110, attributes=llm), **model},
            {**row("t2", "u", None, 200, attributes=llm_attributes("openai", "unknown")), **model},
        ],
    )
    old.close()
    with TraceStore(path) as store:
        assert {t.trace_id: t.cost for t in store.iter_traces()} == {"t1": pytest.approx(usd(2.5, 10)), "t2": None}
        assert [t.trace_id for t in store.search_traces(min_cost=0.001)] == ["t1"]


def test_min_cost_keeps_traces_that_cost_at_least_that() -> None:
    for tokens in (1000, 100_000):
        with spanlite.start_span("chat", kind="CHAT_MODEL", attributes=llm_attributes("openai", "gpt-4o", tokens)):
            pass
    with spanlite.start_span("free"):
        pass
    spanlite.flush()
    assert [t.input_tokens for t in spanlite.search_traces(min_cost=0.1)] == [100_000]
    assert len(spanlite.search_traces(min_cost=0)) == 2
    assert [t.input_tokens for t in spanlite.search_traces(order_by="cost", limit=1)] == [100_000]


# Autolog end to end, and the CLI --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    srv = FakeLLMServer().start()
    yield srv
    srv.stop()


def cli(db: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "spanlite.cli", "--db", str(db), *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_openai_and_anthropic_calls_through_autolog_get_a_cost_shown_by_the_cli(
    server: FakeLLMServer, db_path: Path
) -> None:
    spanlite.autolog("openai", "anthropic")
    try:
        with spanlite.start_span("app") as root:
            # OpenAI's own host, sent on to the fake: a loopback base URL names an openai_compatible server
            to_fake = httpx.Client(transport=ToFake(server.url))
            with openai.OpenAI(api_key="test", max_retries=0, http_client=to_fake) as oai:
                oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
            with anthropic.Anthropic(base_url=server.url, api_key="test", max_retries=0) as claude:
                claude.messages.create(
                    model="claude-3-5-sonnet-20241022", max_tokens=10, messages=[{"role": "user", "content": "Hi"}]
                )
    finally:
        spanlite.autolog("openai", "anthropic", disable=True)
    spanlite.flush()
    trace = spanlite.get_trace(root.trace_id)
    assert trace is not None
    calls = {s.attributes[attr.GEN_AI_PROVIDER_NAME]: s for s in trace.spans if s.kind == "CHAT_MODEL"}
    gpt, claude_span = calls["openai"], calls["anthropic"]
    # the fake answers 12 input tokens (2 cached) and 5 output for OpenAI; 12 + 3 cache reads + 4 cache writes and 5
    # output for Anthropic, which autolog records as 19 input tokens in all
    assert gpt.cost == pytest.approx((10 * 0.15 + 2 * 0.075 + 5 * 0.6) / 1e6)
    assert claude_span.input_tokens == 19
    assert claude_span.cost == pytest.approx((12 * 3 + 3 * 0.3 + 4 * 3.75 + 5 * 15) / 1e6)
    assert trace.info.cost == pytest.approx(gpt.cost + claude_span.cost)

    listed = cli(db_path, "traces", "list")
    assert "COST" in listed and "$0.0001315" in listed  # 4.65e-6 + 1.269e-4, to four significant digits
    shown = cli(db_path, "traces", "show", root.trace_id)
    assert "$0.00000465" in shown and "$0.0001269" in shown and "$0.0001315" in shown
    assert root.trace_id in cli(db_path, "traces", "list", "--min-cost", "0.0001")
    assert "no traces" in cli(db_path, "traces", "list", "--min-cost", "1")


def test_serve_takes_a_price_file_and_refuses_a_bad_one_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("model,input\nm,1\n")
    done = subprocess.run(
        [sys.executable, "-m", "spanlite.cli", "--db", str(tmp_path / "r.db"), "serve", "--port", "0", "--prices",
         str(bad)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0
    assert "no column output" in done.stderr and done.stderr.strip().count("\n") == 0


def test_spanlite_prices_names_a_file_configure_adds(
    tmp_path: Path, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "house.csv").write_text("model,input,output\nhouse-model,3,4\n")
    monkeypatch.setenv("SPANLITE_PRICES", str(tmp_path / "house.csv"))
    spanlite.configure(db=db_path)
    with spanlite.start_span("chat", kind="CHAT_MODEL", attributes=llm_attributes(None, "house-model")) as span:
        pass
    spanlite.flush()
    trace = spanlite.get_trace(span.trace_id)
    assert trace is not None and trace.info.cost == pytest.approx(usd(3, 4))


BAD_PRICES_APP = """
import spanlite
from spanlite.tracing import attributes as attr
with spanlite.start_span("chat", kind="CHAT_MODEL", attributes={
    attr.GEN_AI_PROVIDER_NAME: "openai", attr.GEN_AI_REQUEST_MODEL: "gpt-4o",
    attr.GEN_AI_USAGE_INPUT_TOKENS: 1000, attr.GEN_AI_USAGE_OUTPUT_TOKENS: 100}):
    pass
"""


def test_a_bad_spanlite_prices_is_one_warning_and_the_bundled_prices(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('{"m": {"input": "cheap", "output": 1}}')
    env = {**os.environ, "SPANLITE_STRICT": "0", "SPANLITE_DB": str(tmp_path / "app.db")}
    env["SPANLITE_PRICES"] = str(tmp_path / "bad.json")
    done = subprocess.run([sys.executable, "-c", BAD_PRICES_APP], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if "SPANLITE_PRICES" in line]
    assert len(warnings) == 1 and "is not a number" in warnings[0], done.stderr
    with TraceStore(tmp_path / "app.db") as store:
        assert [t.cost for t in store.iter_traces()] == [pytest.approx(usd(2.5, 10))]
