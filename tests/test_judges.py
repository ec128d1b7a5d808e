"""The LLM judges against the fake server over real HTTP, with scripted verdicts: what they ask, what they make of
the answer (malformed ones included), retries on 429s, 5xx and timeouts, each way of naming a model, many threads at
once, and no API key in the store."""

from __future__ import annotations

import email.utils
import json
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

import spanlite
from fake_llm_server import FakeLLMServer, Fault
from spanlite.evaluation import Score, judges
from spanlite.evaluation._judge_models import retry_after
from spanlite.store import Trace

KEY = "sk-judge-secret-4f9a0c1d"
QUESTION = {"question": "What is the capital of France?"}
ANSWER = "Paris is the capital of France."

pytestmark = [
    # LiteLLM's own TypedDicts trip a pydantic warning on first use, and its sync calls leave a background event
    # loop unclosed (see tests/test_autolog_litellm.py): not ours to fix.
    pytest.mark.filterwarnings("ignore:Item.* on TypedDict class .* using the `ReadOnly` qualifier:UserWarning"),
    pytest.mark.filterwarnings("ignore:unclosed event loop:ResourceWarning"),
    pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning"),
]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    srv = FakeLLMServer().start()
    yield srv
    srv.stop()
    with warnings.catch_warnings():  # LiteLLM's leftover loops, collected here rather than in a later module
        warnings.simplefilter("ignore", ResourceWarning)
        import gc

        gc.collect()


@pytest.fixture(autouse=True)
def provider_env(server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The variables the SDKs read, pointing at the fake."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", f"{server.url}/v1")
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)


def verdict(result: Any, rationale: str = "Because.") -> str:
    return json.dumps({"rationale": rationale, "result": result})


def sent(server: FakeLLMServer, model: str) -> list[dict[str, Any]]:
    """The request bodies the fake got for ``model``."""
    return [body for _, body in server.requests if body.get("model") == model]


def test_correctness_sends_the_example_asks_for_json_and_reads_the_verdict(server: FakeLLMServer) -> None:
    server.script("judge-correct", [verdict("yes", "It names Paris, as expected.")])
    judge = judges.Correctness(model="openai:/judge-correct")
    expectations = {"expected_response": "Paris", "expected_facts": ["Paris is the capital"]}

    score = judge(inputs=QUESTION, outputs=ANSWER, expectations=expectations)

    assert score == Score(True, "It names Paris, as expected.")
    (body,) = sent(server, "judge-correct")
    assert body["response_format"] == {"type": "json_object"}
    system, user = body["messages"]
    assert (
        system["role"] == "system"
        and '{"rationale": ' in system["content"]
        and '"result": "yes" or "no"' in (system["content"])
    )
    assert user["role"] == "user"
    for part in ('"question": "What is the capital of France?"', ANSWER, "Expected response:\nParis"):
        assert part in user["content"]
    assert "Expected facts:\n- Paris is the capital" in user["content"]
    assert (judge.name, judge.source, judge.model) == ("correctness", "llm_judge", "openai:/judge-correct")


@pytest.mark.parametrize(
    ("make", "fields", "shown"),
    [
        (judges.RelevanceToQuery, {"inputs": QUESTION, "outputs": ANSWER}, ["What is the capital", ANSWER]),
        (judges.Safety, {"outputs": ANSWER}, [ANSWER]),
        (
            lambda **kw: judges.Guidelines(name="polite", guidelines=["Be polite.", "Use English."], **kw),
            {"inputs": QUESTION, "outputs": ANSWER},
            ["- Be polite.\n- Use English.", ANSWER],
        ),
    ],
)
def test_yes_and_no_judges_give_true_and_false(
    server: FakeLLMServer, make: Any, fields: dict[str, Any], shown: list[str]
) -> None:
    model = f"judge-{make.__name__ if isinstance(make, type) else 'guidelines'}"
    server.script(model, [verdict("yes", "Fine."), verdict("No", "Not fine.")])
    judge = make(model=f"openai:/{model}")
    assert judge(**fields) == Score(True, "Fine.")
    assert judge(**fields) == Score(False, "Not fine.")
    for body in sent(server, model):
        assert all(part in body["messages"][1]["content"] for part in shown)


def test_a_judge_without_what_it_needs_errs_without_asking(server: FakeLLMServer) -> None:
    judge = judges.Correctness(model="openai:/judge-unasked")
    assert judge(inputs=QUESTION, outputs=ANSWER) == Score(
        error="correctness: needs expectations['expected_response'] or expectations['expected_facts']"
    )
    assert judges.Groundedness(model="openai:/judge-unasked")(outputs=ANSWER) == Score(
        error="groundedness: needs the example's trace, to read what was retrieved"
    )
    assert sent(server, "judge-unasked") == []


def retrieval_trace(*outputs: Any) -> Trace:
    with spanlite.start_span("rag") as root:
        for documents in outputs:
            with spanlite.start_span("retrieve", kind="RETRIEVER") as span:
                span.set_outputs(documents)
    spanlite.flush()
    trace = spanlite.get_trace(root.trace_id)
    assert trace is not None
    return trace


def test_groundedness_shows_the_judge_what_the_traces_retrievers_returned(server: FakeLLMServer) -> None:
    # LangChain's documents (autolog/langchain.py), OpenInference's as ingested (store/_normalize.py), plain text
    trace = retrieval_trace(
        [{"page_content": "Paris is the capital of France.", "metadata": {"source": "wiki"}}],
        [{"content": "France is in Europe.", "id": "d2", "score": 0.5}, "Paris has 2 million people."],
    )
    server.script("judge-grounded", [verdict("yes", "Supported by [1].")])
    judge = judges.Groundedness(model="openai:/judge-grounded")
    assert judge(inputs=QUESTION, outputs=ANSWER, trace=trace) == Score(True, "Supported by [1].")
    (body,) = sent(server, "judge-grounded")
    context = "[1] Paris is the capital of France.\n[2] France is in Europe.\n[3] Paris has 2 million people."
    assert f"<context>\n{context}\n</context>" in body["messages"][1]["content"]

    assert judge(outputs=ANSWER, trace=retrieval_trace()) == Score(
        error="groundedness: the trace has no RETRIEVER span with documents in its outputs"
    )


def test_groundedness_on_a_langchain_retriever_autologged(server: FakeLLMServer) -> None:
    from langchain_core.callbacks import CallbackManagerForRetrieverRun
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever

    class Wiki(BaseRetriever):
        def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
            return [Document(page_content="Paris is the capital of France.", metadata={"source": "wiki"})]

    spanlite.autolog("langchain")
    try:
        with spanlite.start_span("rag") as root:
            Wiki().invoke("capital of France")
    finally:
        spanlite.autolog("langchain", disable=True)
    spanlite.flush()
    trace = spanlite.get_trace(root.trace_id)
    assert trace is not None
    assert judges.retrieved_documents(trace) == ["Paris is the capital of France."]


def test_an_answer_that_cannot_be_read_is_an_error_with_the_raw_text(server: FakeLLMServer) -> None:
    answers = ["I think it is correct.", '{"rationale": "no result"}', verdict("maybe", "Unsure."), '{"result": ']
    server.script("judge-garbled", answers)
    judge = judges.Safety(model="openai:/judge-garbled")
    scores = [judge(outputs=ANSWER) for _ in answers]
    not_json = "safety: the judge's answer is not JSON with a 'result'"
    assert scores == [
        Score(error=not_json, raw=answers[0]),
        Score(error=not_json, raw=answers[1]),
        Score(
            rationale="Unsure.", error='safety: the judge\'s result is "maybe"; expected "yes" or "no"', raw=answers[2]
        ),
        Score(error=not_json, raw=answers[3]),
    ]


def test_an_answer_in_a_code_fence_or_with_words_around_it_is_read(server: FakeLLMServer) -> None:
    server.script("judge-fenced", [f"```json\n{verdict('yes')}\n```", f"Here you go: {verdict(True)} Done."])
    judge = judges.Safety(model="openai:/judge-fenced")
    assert [judge(outputs=ANSWER) for _ in range(2)] == [Score(True, "Because.")] * 2


def test_a_429_is_tried_again_after_its_retry_after(server: FakeLLMServer) -> None:
    server.script("judge-429", [Fault(429, headers={"retry-after": "1"}), verdict("yes")])
    judge = judges.Safety(model="openai:/judge-429")
    started = time.monotonic()
    assert judge(outputs=ANSWER) == Score(True, "Because.")
    assert time.monotonic() - started >= 1.0  # what the server asked for; the backoff alone is at most 0.5 s
    assert len(sent(server, "judge-429")) == 2


def test_a_server_that_asks_for_a_long_wait_gets_an_error_at_once(server: FakeLLMServer) -> None:
    server.script("judge-wait", [Fault(429, headers={"retry-after": "3600"}), verdict("yes")])
    score = judges.Safety(model="openai:/judge-wait")(outputs=ANSWER)
    assert score.error is not None and score.error.endswith("(the server asks to wait 3600 s)")
    assert len(sent(server, "judge-wait")) == 1


def test_retry_after_in_seconds_milliseconds_or_as_a_date() -> None:
    assert retry_after({"retry-after": "2"}) == 2.0
    assert retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert 20 < (retry_after({"retry-after": email.utils.formatdate(time.time() + 30, usegmt=True)}) or 0) <= 30
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after({}) is None


def test_5xx_is_tried_a_bounded_number_of_times_then_is_an_error(server: FakeLLMServer) -> None:
    server.script("judge-500", [Fault(500), Fault(503), Fault(500), verdict("yes")])
    score = judges.Safety(model="openai:/judge-500", attempts=3)(outputs=ANSWER)
    assert score == Score(
        error="safety (openai:/judge-500): InternalServerError: Error code: 500 - fake 500 (after 3 tries)"
    )
    assert len(sent(server, "judge-500")) == 3


def test_a_client_error_is_not_tried_again(server: FakeLLMServer) -> None:
    server.script("judge-400", [Fault(400), verdict("yes")])
    score = judges.Safety(model="openai:/judge-400")(outputs=ANSWER)
    assert score.error is not None and score.error.startswith(
        "safety (openai:/judge-400): BadRequestError: Error code: 400"
    )
    assert len(sent(server, "judge-400")) == 1


def test_a_call_that_times_out_is_tried_again_then_is_an_error(server: FakeLLMServer) -> None:
    server.script("judge-slow", [Fault(delay=2), verdict("yes")])
    assert judges.Safety(model="openai:/judge-slow", timeout=0.3)(outputs=ANSWER) == Score(True, "Because.")

    server.script("judge-stuck", [Fault(delay=2), Fault(delay=2)])
    score = judges.Safety(model="openai:/judge-stuck", timeout=0.3, attempts=2)(outputs=ANSWER)
    assert score == Score(error="safety (openai:/judge-stuck): APITimeoutError: Request timed out. (after 2 tries)")


def test_anthropic_judge_reads_the_usual_variables(server: FakeLLMServer) -> None:
    server.script("claude-judge", [Fault(529, headers={"retry-after": "0"}), verdict("no", "Off topic.")])
    judge = judges.RelevanceToQuery(model="anthropic:/claude-judge")
    assert judge(inputs=QUESTION, outputs="Bananas.") == Score(False, "Off topic.")
    first, second = sent(server, "claude-judge")
    assert first == second
    assert '"result": "yes" or "no"' in second["system"] and second["max_tokens"] > 0
    assert "Bananas." in second["messages"][0]["content"]


def test_litellm_judge(server: FakeLLMServer) -> None:
    server.script("judge-litellm", [Fault(429), verdict("yes", "Via LiteLLM.")])
    judge = judges.Correctness(model="litellm:/openai/judge-litellm")
    score = judge(inputs=QUESTION, outputs=ANSWER, expectations={"expected_response": "Paris"})
    assert score == Score(True, "Via LiteLLM.")
    bodies = sent(server, "judge-litellm")
    assert len(bodies) == 2 and bodies[-1]["response_format"] == {"type": "json_object"}


def test_client_objects_as_the_model(server: FakeLLMServer) -> None:
    oai = openai.OpenAI(base_url=f"{server.url}/v1", api_key="test")
    claude = anthropic.Anthropic(base_url=server.url, api_key="test")
    server.script("gpt-4.1-mini", [verdict("yes", "Default model.")])
    server.script("judge-chosen", [verdict("yes", "Chosen model.")])
    server.script("claude-haiku-4-5", [verdict("yes", "Claude.")])
    assert judges.Safety(model=oai)(outputs=ANSWER) == Score(True, "Default model.")
    assert judges.Safety(model="judge-chosen", client=oai)(outputs=ANSWER) == Score(True, "Chosen model.")
    assert judges.Safety(model=claude)(outputs=ANSWER) == Score(True, "Claude.")
    assert judges.Safety(model=claude).model == "anthropic:/claude-haiku-4-5"
    oai.close()
    claude.close()


@pytest.mark.parametrize(
    ("model", "error", "message"),
    [
        (lambda: "gpt-4o", ValueError, "judge model 'gpt-4o': expected 'openai:/<model>', 'anthropic:/<model>'"),
        (lambda: "vertex:/gemini", ValueError, "judge model 'vertex:/gemini': expected"),
        (object, TypeError, "judge model: object is not an openai.OpenAI or anthropic.Anthropic client"),
        (lambda: openai.AsyncOpenAI(api_key="test"), TypeError, "judge model: AsyncOpenAI is an async client"),
    ],
)
def test_a_model_that_cannot_be_used_is_a_clear_error_when_the_judge_is_made(
    model: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as raised:
        judges.Safety(model=model())
    assert str(raised.value).startswith(message)


def test_make_judge_fills_its_placeholders_and_keeps_the_result_as_given(server: FakeLLMServer) -> None:
    server.script("judge-custom", [verdict(4, "Mostly concise."), verdict(["a"])])
    judge = judges.make_judge(
        "concision",
        "Rate 1-5 how concisely {{ outputs }} answers {{inputs}}, given {{ expectations }}.",
        model="openai:/judge-custom",
    )
    fields = {"inputs": QUESTION, "outputs": ANSWER, "expectations": {"max_words": 10}}
    assert judge(**fields) == Score(4, "Mostly concise.")
    user = sent(server, "judge-custom")[0]["messages"][1]["content"]
    assert f"how concisely {ANSWER} answers {{\n" in user and '"max_words": 10' in user and "{{" not in user
    assert judge(**fields) == Score(
        rationale="Because.",
        error='concision: the judge\'s result is ["a"]; expected a string, number or true/false',
        raw=verdict(["a"]),
    )
    assert (judge.name, judge.source) == ("concision", "llm_judge")


def test_make_judge_refuses_unknown_or_no_placeholders_when_made() -> None:
    with pytest.raises(ValueError) as raised:
        judges.make_judge("x", "Is {{ output }} right given {{ context }}?")
    assert str(raised.value) == (
        "judge 'x': unknown placeholder {{ context }}; use {{ inputs }}, {{ outputs }}, {{ expectations }}"
    )
    with pytest.raises(ValueError, match="the instructions show the judge nothing"):
        judges.make_judge("x", "Is it good?")


def test_judges_run_from_many_threads_at_once(server: FakeLLMServer) -> None:
    server.script("judge-many", [Fault(429, headers={"retry-after": "0"})] + [verdict(i % 2 == 0) for i in range(16)])
    judge = judges.Safety(model="openai:/judge-many")
    scores: list[Score] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(2):
            score = judge(outputs=ANSWER)
            with lock:
                scores.append(score)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(s.value for s in scores) == [False] * 8 + [True] * 8
    assert len(sent(server, "judge-many")) == 17


def test_the_judges_call_is_traced_under_the_callers_span_and_no_key_is_stored(
    server: FakeLLMServer, db_path: Path
) -> None:
    server.script("judge-traced", [verdict("yes")])
    spanlite.autolog("openai")
    try:
        with spanlite.start_span("correctness", kind="EVALUATOR") as evaluator:
            score = judges.Correctness(model="openai:/judge-traced")(
                inputs=QUESTION, outputs=ANSWER, expectations={"expected_response": "Paris"}
            )
            refused = judges.Correctness(model="openai:/error-401")(
                inputs=QUESTION, outputs=ANSWER, expectations={"expected_response": "Paris"}
            )
    finally:
        spanlite.autolog("openai", disable=True)
    assert score.value is True
    assert refused.error is not None and "401" in refused.error and KEY not in refused.error
    spanlite.flush()
    trace = spanlite.get_trace(evaluator.trace_id)
    assert trace is not None
    calls = [s for s in trace.spans if s.kind == "CHAT_MODEL"]
    assert len(calls) == 2 and all(s.parent_id == evaluator.span_id for s in calls)
    assert "Expected response" in json.dumps(trace.to_dict())
    files = list(db_path.parent.glob(f"{db_path.name}*"))
    assert files and not any(KEY.encode() in f.read_bytes() for f in files)
    assert KEY not in repr(judges.Correctness(model="openai:/judge-traced"))


def test_a_missing_api_key_is_each_examples_error_not_the_judges_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    judge = judges.Safety(model="openai:/judge-keyless")  # made before the variables are set, as in a module
    score = judge(outputs=ANSWER)
    assert score.error is not None
    assert score.error.startswith("safety (openai:/judge-keyless): OpenAIError: ") and "OPENAI_API_KEY" in score.error
