"""The built-in code scorers on real stored traces: spans made with ``start_span`` and the OpenAI SDK autologged
against the fake server, flushed, and read back from the store as a ``Trace``."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import httpx
import openai
import pytest

import spanlite
from _reroute import ToFake
from fake_llm_server import JSON_ANSWER, FakeLLMServer
from spanlite.evaluation import Score, scorers
from spanlite.store import Trace
from spanlite.tracing import attributes as attr

LOOKUP = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}
SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "country": {"type": "string"}, "population": {"type": "integer"}},
    "required": ["city", "country"],
}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    srv = FakeLLMServer().start()
    yield srv
    srv.stop()


def stored(trace_id: str) -> Trace:
    spanlite.flush()
    trace = spanlite.get_trace(trace_id)
    assert trace is not None
    return trace


@pytest.fixture
def app_trace(server: FakeLLMServer) -> Trace:
    """An app's trace: a search tool that ran, and a model call (on OpenAI's host, so priced) that asked for the
    lookup tool, which the app never ran; it answered ``JSON_ANSWER``."""
    spanlite.autolog("openai")
    try:
        with spanlite.start_span("app") as root:
            root.set_inputs({"question": "Where is Paris?"})
            with spanlite.start_span("search", kind="TOOL") as tool:
                tool.set_attribute(attr.GEN_AI_TOOL_NAME, "search")
                tool.set_outputs(["Paris is in France."])
            with openai.OpenAI(
                api_key="test", max_retries=0, http_client=httpx.Client(transport=ToFake(server.url))
            ) as oai:
                oai.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "Where?"}], tools=[LOOKUP]
                )
            root.set_outputs(JSON_ANSWER)
    finally:
        spanlite.autolog("openai", disable=True)
    return stored(root.trace_id)


def test_output_checks_on_a_stored_trace(app_trace: Trace) -> None:
    assert app_trace.root is not None
    outputs = app_trace.root.outputs
    assert outputs == JSON_ANSWER

    def check(scorer: scorers.Scorer, expectations: dict[str, object] | None = None) -> Score:
        return scorer(inputs=app_trace.root.inputs, outputs=outputs, expectations=expectations, trace=app_trace)  # type: ignore[union-attr]

    # compared as canonical JSON when the expected response is data
    assert check(scorers.ExactMatch(), {"expected_response": {"country": "France", "city": "Paris"}}) == Score(
        True, "The output is the expected response."
    )
    assert check(scorers.ExactMatch(), {"expected_response": "Paris"}) == Score(
        False, f"Expected 'Paris', got {JSON_ANSWER!r}."
    )
    assert check(scorers.Contains(["paris", "FRANCE"])) == Score(True, "Found all of ['paris', 'FRANCE'].")
    assert check(scorers.Contains(["Paris", "Berlin"])) == Score(False, "Missing ['Berlin'].")
    assert check(scorers.Contains("paris", case_sensitive=True)).value is False
    assert check(scorers.Contains(["Berlin", "Paris"], match_any=True)) == Score(True, "Found ['Paris'].")
    assert check(scorers.Regex(r'"city": "(\w+)"')) == Score(True, 'Matched \'"city": "Paris"\'.')
    assert check(scorers.Regex(r"Paris", full_match=True)) == Score(False, "The output does not match 'Paris'.")
    assert check(scorers.JsonValid()) == Score(True, "The output is valid JSON (an object).")
    assert check(scorers.MatchesJsonSchema(SCHEMA)) == Score(True, "The output matches the schema.")
    needs_population = {**SCHEMA, "required": ["population"]}
    assert check(scorers.MatchesJsonSchema(needs_population)) == Score(
        False, "At the top level: 'population' is a required property"
    )
    assert check(scorers.MatchesJsonSchema({"properties": {"city": {"type": "integer"}}})) == Score(
        False, "At city: 'Paris' is not of type 'integer'"
    )


def test_output_checks_on_outputs_that_are_data_or_not_json() -> None:
    assert scorers.JsonValid()(outputs={"a": [1]}) == Score(True, "The output is valid JSON (an object).")
    assert scorers.JsonValid()(outputs="[1, 2") == Score(
        False, "The output is not JSON: Expecting ',' delimiter: line 1 column 6 (char 5)."
    )
    assert scorers.JsonValid()(outputs=None) == Score(False, "There is no output.")
    assert scorers.MatchesJsonSchema(SCHEMA)(outputs="Paris") == Score(
        False, "The output is not JSON: Expecting value: line 1 column 1 (char 0)."
    )
    assert scorers.ExactMatch()(outputs=4, expectations={"expected_response": 4}).value is True
    assert scorers.ExactMatch()(outputs="4", expectations={"expected_response": 4}).value is True


def test_trace_checks_read_the_trace_totals_and_its_tool_spans(app_trace: Trace) -> None:
    info = app_trace.info
    # the fake answers 12 input tokens (2 cached) and 5 output; gpt-4o-mini is in the price table
    assert (info.input_tokens, info.output_tokens) == (12, 5)
    assert info.cost is not None and info.cost > 0

    def check(scorer: scorers.Scorer) -> Score:
        return scorer(outputs="", trace=app_trace)

    assert check(scorers.TokensUnder(100)) == Score(True, "17 tokens (12 in, 5 out), under 100: True.")
    assert check(scorers.TokensUnder(17)) == Score(False, "17 tokens (12 in, 5 out), under 17: False.")
    assert check(scorers.CostUnder(0.01)) == Score(True, f"The trace cost ${info.cost:.6g}, under $0.01.")
    assert check(scorers.CostUnder(1e-9)).value is False
    assert check(scorers.LatencyUnder(600_000)).value is True
    assert check(scorers.LatencyUnder(1e-6)) == Score(
        False, f"The trace took {info.duration_ms:.0f} ms, not under 1e-06 ms."
    )
    assert check(scorers.ToolCalled("search")) == Score(True, "Tool 'search' ran 1 time.")
    # no TOOL span ran it, but the model's answer called it
    assert check(scorers.ToolCalled("lookup")) == Score(True, "The model called tool 'lookup' 1 time.")
    assert check(scorers.ToolCalled("weather")) == Score(False, "Tool 'weather' was not called (called: ['search']).")


def test_unknown_cost_and_tokens_are_no_verdict_rather_than_a_fail(server: FakeLLMServer) -> None:
    with spanlite.start_span("no model") as plain:
        pass
    spanlite.autolog("openai")
    try:
        with spanlite.start_span("compatible server") as unpriced:  # a loopback base URL: no price for its model
            with openai.OpenAI(base_url=f"{server.url}/v1", api_key="test", max_retries=0) as oai:
                oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
    finally:
        spanlite.autolog("openai", disable=True)
    no_model, compatible = stored(plain.trace_id), stored(unpriced.trace_id)

    assert scorers.TokensUnder(10)(trace=no_model) == Score(
        None, "Token counts unknown: no span in the trace reported usage."
    )
    unknown_cost = Score(None, "Cost unknown: no model call in the trace has token counts and a known price.")
    assert scorers.CostUnder(1.0)(trace=no_model) == unknown_cost
    assert compatible.info.input_tokens == 12 and compatible.info.cost is None
    assert scorers.CostUnder(1.0)(trace=compatible) == unknown_cost
    assert scorers.ToolCalled("search")(trace=no_model) == Score(False, "Tool 'search' was not called.")


def test_missing_trace_or_expectations_is_the_scorers_error() -> None:
    assert scorers.ExactMatch()(outputs="x") == Score(error="exact_match needs expectations['expected_response']")
    for scorer in (scorers.LatencyUnder(1), scorers.TokensUnder(1), scorers.CostUnder(1), scorers.ToolCalled("t")):
        assert scorer(outputs="x") == Score(error=f"{scorer.name} needs the example's trace")


def test_names_follow_mlflow_and_tell_two_of_a_kind_apart() -> None:
    names = [
        scorers.ExactMatch().name,
        scorers.Contains("Paris").name,
        scorers.Contains(["Hello there", "world!", "a", "b"]).name,
        scorers.Regex("x").name,
        scorers.JsonValid().name,
        scorers.MatchesJsonSchema({}).name,
        scorers.LatencyUnder(1).name,
        scorers.TokensUnder(1).name,
        scorers.CostUnder(1).name,
        scorers.ToolCalled("get-weather").name,
        scorers.Regex("y", name="has_y").name,
    ]
    assert names == [
        "exact_match",
        "contains_paris",
        "contains_hello_there_world_a",
        "regex_match",
        "json_valid",
        "matches_json_schema",
        "latency_under",
        "tokens_under",
        "cost_under",
        "tool_called_get_weather",
        "has_y",
    ]
    assert all(s.source == "code" for s in (scorers.ExactMatch(), scorers.ToolCalled("t")))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: scorers.Regex("("), "Regex: '(' is not a regular expression: missing ), unterminated subpattern"),
        (lambda: scorers.MatchesJsonSchema({"type": 5}), "MatchesJsonSchema: not a valid JSON Schema: 5 is not valid"),
        (lambda: scorers.Contains([]), "Contains needs at least one non-empty string to look for"),
        (lambda: scorers.LatencyUnder(0), "LatencyUnder(ms) must be a positive number, not 0"),
        (lambda: scorers.TokensUnder("10"), "TokensUnder(n) must be a positive number, not '10'"),
        (lambda: scorers.ToolCalled(""), "ToolCalled needs the tool's name"),
    ],
)
def test_bad_arguments_are_a_clear_error_when_the_scorer_is_made(make: object, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        make()  # type: ignore[operator]
    assert str(raised.value).startswith(message)


def test_matches_json_schema_without_jsonschema_says_which_extra_to_install() -> None:
    script = """
import sys
sys.modules["jsonschema"] = None  # as if the evaluation extra were not installed
from spanlite.evaluation import scorers
assert scorers.JsonValid()(outputs="{}").value is True  # the other scorers do without it
try:
    scorers.MatchesJsonSchema({})
except ImportError as exc:
    print(exc)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "MatchesJsonSchema needs jsonschema: pip install 'spanlite[evaluation]'\n"


def test_the_scorers_module_offers_the_judges_too() -> None:
    from spanlite.evaluation import judges

    assert scorers.Correctness is judges.Correctness and scorers.make_judge is judges.make_judge
    assert all(hasattr(scorers, name) for name in scorers.__all__)
