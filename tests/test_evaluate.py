"""spanlite.evaluate: an app (the real OpenAI SDK, autologged, over HTTP to the fake server) run over examples, each
in a trace of its own; scores as feedback and in the run; expectations as their own rows; every form of data; an app
or a scorer failing on one example; LLM judges traced apart; and two versions compared."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pandas
import pytest

import spanlite
from fake_llm_server import FakeLLMServer
from spanlite.evaluation import Score, Scorer
from spanlite.store import Trace, TraceStore

QUESTIONS = {"capital of France?": "Paris", "2+2?": "4", "largest planet?": "Jupiter", "H2O is?": "water"}
RECORDS = [{"inputs": {"question": q}, "expectations": {"expected_response": a}} for q, a in QUESTIONS.items()]
WRONG_IN_V2 = {"2+2?": "5", "H2O is?": "fire"}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    srv = FakeLLMServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def store(db_path: Path) -> TraceStore:
    return spanlite._config.default_store()


@pytest.fixture
def autologged() -> Iterator[None]:
    spanlite.autolog("openai")
    yield
    spanlite.autolog("openai", disable=True)


@spanlite.scorer
def exact(outputs: Any, expectations: dict[str, Any]) -> Score:
    expected = expectations.get("expected_response")
    return Score(outputs == expected, rationale=f"expected {expected!r}, got {outputs!r}")


@spanlite.scorer
def model_calls(trace: Trace | None) -> int:
    assert trace is not None
    return sum(span.kind == "CHAT_MODEL" for span in trace.spans)


def app(server: FakeLLMServer, version: str, answers: dict[str, str]) -> Any:
    """A question-answering app on the OpenAI SDK; each question has a model name of its own, scripted to answer
    ``answers[question]``, so that concurrent examples never take each other's turn."""
    client = openai.OpenAI(base_url=server.url, api_key="test", max_retries=0)
    models = {}
    for i, (question, answer) in enumerate(answers.items()):
        models[question] = model = f"{version}-{i}-{id(client)}"
        server.script(model, [answer])

    def answer(question: str) -> str:
        reply = client.chat.completions.create(model=models[question], messages=[{"role": "user", "content": question}])
        return reply.choices[0].message.content or ""

    answer.__name__ = f"answer_{version}"
    return answer


def test_evaluate_writes_feedback_and_expectations_and_compare_names_the_regressions(
    server: FakeLLMServer, store: TraceStore, autologged: None
) -> None:
    good = spanlite.evaluate(
        RECORDS, predict_fn=app(server, "v1", QUESTIONS), scorers=[exact, model_calls], name="v1", tags={"sha": "a1"}
    )
    worse = spanlite.evaluate(
        RECORDS, predict_fn=app(server, "v2", {**QUESTIONS, **WRONG_IN_V2}), scorers=[exact, model_calls], name="v2"
    )

    assert good.metrics == {"exact/mean": 1.0, "model_calls/mean": 1.0}
    assert worse.metrics == {"exact/mean": 0.5, "model_calls/mean": 1.0}
    run = store.get_run(good.run_id)
    assert run is not None
    assert (run.status, run.name, run.tags, run.scorers) == ("finished", "v1", {"sha": "a1"}, ["exact", "model_calls"])
    assert run.metrics == good.metrics

    result = good.results[0]
    assert (result.inputs, result.outputs) == ({"question": "capital of France?"}, "Paris")
    trace = spanlite.get_trace(result.trace_id or "")
    assert trace is not None and trace.root is not None
    assert [(s.name, s.kind) for _, s in trace.walk()][:1] == [("answer_v1", "CHAIN")]
    assert [s.kind for s in trace.spans].count("CHAT_MODEL") == 1
    assert (trace.root.inputs, trace.root.outputs) == ({"question": "capital of France?"}, "Paris")
    assert trace.info.metadata["eval.run_id"] == good.run_id
    feedback = {f.name: f for f in spanlite.get_feedback(trace.trace_id)}
    assert set(feedback) == {"exact", "model_calls"}
    assert (feedback["exact"].value, feedback["exact"].source, feedback["exact"].author) == (True, "code", "exact")
    assert feedback["exact"].comment == "expected 'Paris', got 'Paris'"
    expectations = store.get_expectations(trace.trace_id)
    assert [(e.name, e.value, e.source) for e in expectations] == [("expected_response", "Paris", "dataset")]
    found = spanlite.search_traces(metadata={"eval.run_id": good.run_id})
    assert sorted(t.trace_id for t in found) == sorted(r.trace_id for r in good.results)  # type: ignore[type-var]

    diff = spanlite.compare_runs(good, worse.run_id)
    assert [(s.name, s.delta) for s in diff.scorers] == [("exact", -0.5), ("model_calls", 0.0)]
    assert sorted(e.inputs["question"] for e in diff.regressed) == sorted(WRONG_IN_V2)
    assert {e.change for e in diff.examples[2:]} == {"same"}
    assert diff.regressed[0].outputs_b in WRONG_IN_V2.values()

    frame = worse.to_dataframe()
    assert list(frame.columns) == [
        "example_index", "inputs", "outputs", "expectations", "trace_id", "error",
        "exact/value", "exact/rationale", "exact/error", "model_calls/value", "model_calls/rationale",
        "model_calls/error",
    ]  # fmt: skip
    assert frame["exact/value"].tolist() == [True, False, True, False]
    assert frame["outputs"].tolist() == ["Paris", "5", "Jupiter", "fire"]


@spanlite.scorer
def echo_length(inputs: dict[str, Any], outputs: Any) -> int:
    return len(str(outputs))


def shout(question: str) -> str:
    return question.upper()


def test_every_form_of_data(store: TraceStore) -> None:
    by_list = spanlite.evaluate(RECORDS, predict_fn=shout, scorers=[echo_length])
    by_frame = spanlite.evaluate(pandas.DataFrame(RECORDS), predict_fn=shout, scorers=[echo_length])
    qa = spanlite.datasets.create("qa")
    qa.add(RECORDS)
    by_name = spanlite.evaluate("qa", predict_fn=shout, scorers=[echo_length])
    qa.add([{"inputs": {"question": "one more?"}}])
    by_dataset = spanlite.evaluate(qa, predict_fn=shout, scorers=[echo_length])

    for result in (by_list, by_frame, by_name):
        assert [r.outputs for r in result.results] == [q.upper() for q in QUESTIONS]
        assert [r.expectations for r in result.results] == [r["expectations"] for r in RECORDS]
    name_run, dataset_run = store.get_run(by_name.run_id), store.get_run(by_dataset.run_id)
    assert name_run is not None and (name_run.dataset, name_run.dataset_version) == ("qa", 1)
    assert dataset_run is not None and (dataset_run.dataset, dataset_run.dataset_version) == ("qa", 2)
    assert [r.record_id for r in by_dataset.results] == [r.record_id for r in qa.records()]
    assert by_list.results[0].record_id is None

    # traces, scored as they are: the app is not called again, and expectations come from the trace's rows
    spanlite.log_expectation(by_list.results[1].trace_id or "", "expected_response", "FOUR")
    page = spanlite.search_traces(metadata={"eval.run_id": by_list.run_id})
    traces = [spanlite.get_trace(t.trace_id) for t in page]
    for data in (page, traces):
        rescored = spanlite.evaluate(data, scorers=[exact])
        by_trace = {r.trace_id: r for r in rescored.results}
        again = by_trace[by_list.results[1].trace_id]
        assert (again.outputs, again.expectations) == ("2+2?".upper(), {"expected_response": "FOUR"})
        assert len(rescored.results) == len(RECORDS)
        assert spanlite.search_traces(metadata={"eval.run_id": rescored.run_id}) == []  # no new traces
    feedback = spanlite.get_feedback(by_list.results[1].trace_id or "", name="exact")
    assert [(f.value, f.comment) for f in feedback] == [(False, "expected 'FOUR', got '2+2?'")]

    with pytest.raises(ValueError, match="no predict_fn with traces"):
        spanlite.evaluate(page, predict_fn=shout, scorers=[exact])


def test_records_with_outputs_and_no_app_are_scored_as_given_in_traces_of_their_own(store: TraceStore) -> None:
    given = [{**r, "outputs": r["expectations"]["expected_response"]} for r in RECORDS]
    result = spanlite.evaluate(given, scorers=[exact])
    assert result.metrics == {"exact/mean": 1.0}
    trace = spanlite.get_trace(result.results[0].trace_id or "")
    assert trace is not None and trace.root is not None
    assert (trace.root.name, trace.root.outputs) == ("example", "Paris")


def test_an_app_raising_on_one_example_is_that_examples_error(store: TraceStore) -> None:
    def fragile(question: str) -> str:
        if question == "2+2?":
            raise ZeroDivisionError("cannot count")
        return question

    result = spanlite.evaluate(RECORDS, predict_fn=fragile, scorers=[echo_length])

    errors = [r.error for r in result.results]
    assert errors == [None, "ZeroDivisionError: cannot count", None, None]
    assert result.results[1].scores == {}  # an answer that never came is not scored
    answered = ["capital of France?", "largest planet?", "H2O is?"]
    assert result.metrics == {"echo_length/mean": pytest.approx(sum(map(len, answered)) / 3), "error_count": 1}
    trace = spanlite.get_trace(result.results[1].trace_id or "")
    assert trace is not None and trace.info.status == "ERROR"
    run = store.get_run(result.run_id)
    assert run is not None and run.status == "finished"


class Flaky(Scorer):
    """A scorer that raises on one example, returns garbage on another, and a hand-made bad Score on a third."""

    name = "flaky"

    def score(self, **fields: Any) -> Any:
        question = fields["inputs"]["question"]
        if question == "2+2?":
            raise KeyError("expected_facts")
        if question == "largest planet?":
            return {"not": "a score"}
        if question == "H2O is?":
            return Score(value=[1, 2])  # type: ignore[arg-type]  # what a careless scorer might make
        return True


def test_a_scorer_raising_or_returning_garbage_is_an_error_on_that_example(store: TraceStore) -> None:
    result = spanlite.evaluate(RECORDS, predict_fn=shout, scorers=[Flaky(), echo_length])

    scores = [r.scores["flaky"] for r in result.results]
    assert [s.value for s in scores] == [True, None, None, None]
    assert scores[1].error == "KeyError: 'expected_facts'"
    assert scores[2].error is not None and "returned dict" in scores[2].error
    assert scores[3].error is not None and "returned list" in scores[3].error
    assert result.metrics["flaky/mean"] == 1.0 and result.metrics["flaky/error_count"] == 3
    assert all(r.scores["echo_length"].error is None for r in result.results)
    assert [len(spanlite.get_feedback(r.trace_id or "", name="flaky")) for r in result.results] == [1, 0, 0, 0]


def test_fifty_examples_with_two_scorers_write_a_hundred_feedback_rows(store: TraceStore) -> None:
    records = [{"inputs": {"question": f"q{i}"}, "expectations": {"expected_response": f"Q{i}"}} for i in range(50)]
    result = spanlite.evaluate(records, predict_fn=shout, scorers=[exact, echo_length], max_workers=4)

    assert result.metrics == {"exact/mean": 1.0, "echo_length/mean": pytest.approx(2.8)}
    assert store.rows("SELECT count(*) AS n FROM feedback")[0]["n"] == 100
    assert store.rows("SELECT count(*) AS n FROM eval_scores")[0]["n"] == 100
    assert store.rows("SELECT count(*) AS n FROM expectations")[0]["n"] == 50
    run = store.get_run(result.run_id)
    assert run is not None and run.status == "finished"


def test_bad_data_fails_the_run_with_one_clear_line(store: TraceStore) -> None:
    with pytest.raises(ValueError, match=r"example 1: 'inputs' must be a dict"):
        spanlite.evaluate([RECORDS[0], {"inputs": "2+2?"}], predict_fn=shout, scorers=[exact], name="bad")
    (run,) = store.list_runs()
    assert (run.name, run.status) == ("bad", "failed")
    assert run.error == "ValueError: example 1: 'inputs' must be a dict of the app's arguments, not str"
    assert store.rows("SELECT count(*) AS n FROM eval_results")[0]["n"] == 0

    with pytest.raises(ValueError, match="no dataset 'nope'"):
        spanlite.evaluate("nope", predict_fn=shout)
    with pytest.raises(ValueError, match="two scorers are named 'exact'"):
        spanlite.evaluate(RECORDS, predict_fn=shout, scorers=[exact, exact])
    with pytest.raises(TypeError, match="evaluate takes a list"):
        spanlite.evaluate(42, predict_fn=shout)
    assert len(store.list_runs()) == 1  # a mistake in the call itself starts no run


class JudgeOnTheFake(Scorer):
    """An LLM judge as the judges module makes them: a model call (the real SDK, autologged) that says yes or no."""

    name = "judge"
    source = "llm_judge"

    def __init__(self, server: FakeLLMServer) -> None:
        self.client = openai.OpenAI(base_url=server.url, api_key="test", max_retries=0)

    def score(self, **fields: Any) -> Score:
        reply = self.client.chat.completions.create(
            model="judge-default", messages=[{"role": "user", "content": f"Is {fields['outputs']!r} right?"}]
        )
        return Score("yes", rationale=reply.choices[0].message.content)


def test_a_judge_call_is_an_evaluator_span_rooting_a_trace_of_its_own(
    server: FakeLLMServer, store: TraceStore, autologged: None
) -> None:
    with spanlite.start_span("notebook cell"):  # evaluate's traces start afresh, whatever span calls it
        result = spanlite.evaluate(RECORDS[:2], predict_fn=shout, scorers=[JudgeOnTheFake(server)])

    assert result.metrics == {"judge/mean": 1.0}
    example_trace = result.results[0].trace_id
    assert example_trace is not None
    judged = spanlite.search_traces(metadata={"eval.run_id": result.run_id, "eval.trace_id": example_trace})
    (summary,) = judged
    trace = spanlite.get_trace(summary.trace_id)
    assert trace is not None and trace.root is not None
    assert [(depth, s.kind) for depth, s in trace.walk()] == [(0, "EVALUATOR"), (1, "CHAT_MODEL")]
    assert (trace.root.name, trace.info.metadata["eval.scorer"]) == ("judge", "judge")
    assert trace.root.inputs == {"inputs": {"question": "capital of France?"}, "outputs": "CAPITAL OF FRANCE?",
                                 "expectations": {"expected_response": "Paris"}}  # fmt: skip
    assert trace.root.outputs == {"value": "yes", "rationale": "Hello there!", "error": None, "raw": None}
    example = spanlite.get_trace(example_trace)
    assert example is not None and [s.kind for s in example.spans] == ["CHAIN"]  # the judge's call is not in it
    assert example.root is not None and example.root.parent_id is None
    (feedback,) = spanlite.get_feedback(example_trace)
    assert (feedback.source, feedback.author, feedback.value) == ("llm_judge", "judge", "yes")


def test_async_apps_are_awaited(store: TraceStore) -> None:
    async def answer(question: str) -> str:
        return question[::-1]

    result = spanlite.evaluate(RECORDS[:1], predict_fn=answer)
    assert result.results[0].outputs == "?ecnarF fo latipac"


class TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_progress_bar_only_on_a_terminal(
    store: TraceStore, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spanlite.evaluate(RECORDS, predict_fn=shout, scorers=[exact])
    assert capsys.readouterr().err == ""

    terminal = TTY()
    monkeypatch.setattr(sys, "stderr", terminal)
    spanlite.evaluate(RECORDS, predict_fn=shout, scorers=[exact])
    drawn = terminal.getvalue()
    assert drawn.startswith("\revaluating [") and drawn.endswith("] 8/8\n")


def test_import_spanlite_does_not_load_evaluation() -> None:
    script = "import sys, spanlite; print(sorted(m for m in sys.modules if m.startswith('spanlite.evaluation')))"
    shown = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert shown.stdout.strip() == "[]", shown.stderr
    assert spanlite.Score is Score
    assert isinstance(spanlite.scorer(echo_length.func), Scorer)


def test_evaluation_traces_are_kept_whatever_the_sample_rate(db_path: Path, store: TraceStore) -> None:
    spanlite.configure(db=db_path, sample_rate=0.0)  # the app keeps none of its own traces
    with spanlite.start_span("the app's own"):
        pass

    result = spanlite.evaluate(RECORDS, predict_fn=shout, scorers=[exact, model_calls])

    assert all(r.trace_id is not None for r in result.results)
    assert all(len(spanlite.get_feedback(r.trace_id or "")) == 2 for r in result.results)
    assert result.metrics == {"exact/mean": 0.0, "model_calls/mean": 0.0}  # each trace read back: no model call
    assert spanlite.search_traces(name="the app's own") == []


def test_an_app_that_cannot_take_the_inputs_fails_the_run_at_once(store: TraceStore) -> None:
    def answer(prompt: str) -> str:
        return prompt

    with pytest.raises(ValueError, match=r"predict_fn answer cannot take example 0's inputs \(question\)"):
        spanlite.evaluate(RECORDS, predict_fn=answer, scorers=[exact])
    (run,) = store.list_runs()
    assert run.status == "failed" and run.error is not None and "missing a required argument: 'prompt'" in run.error
    assert spanlite.search_traces() == []  # the app was never called
