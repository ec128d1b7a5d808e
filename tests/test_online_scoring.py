"""Online scoring: production traces scored as they arrive, each (trace, scorer) at most once even with two scoring
processes at once; sampling, filters, scorer errors, judges' own traces left alone; `spanlite score`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import spanlite
from _helpers import cli
from spanlite.evaluation import Score, Scorer
from spanlite.evaluation.online import sampled, score_traces
from spanlite.store import TraceFilter, TraceStore, score_claims


@pytest.fixture
def store(db_path: Path) -> TraceStore:
    return spanlite._config.default_store()


def production(count: int, *, tags: list[str] | None = None, start: int = 0) -> list[str]:
    """``count`` traces as an app would make them: a question in, an answer out."""
    trace_ids = []
    for i in range(start, start + count):
        with spanlite.start_span("chat", inputs={"question": f"q{i}"}) as span:
            spanlite.update_current_trace(tags=tags or [])
            span.set_outputs(f"answer {i}")
        trace_ids.append(span.trace_id)
    spanlite.flush()
    return trace_ids


@spanlite.scorer
def length(outputs: str) -> int:
    return len(outputs)


class Judge(Scorer):
    """A judge's shape without a model: its calls are traced apart, as any ``llm_judge`` scorer's are."""

    name = "judge"
    source = "llm_judge"

    def score(self, **fields: Any) -> Score:
        return Score("yes", rationale=f"{fields['outputs']} reads well")


def counts(store: TraceStore) -> dict[str, int]:
    rows = store.rows("SELECT status, count(*) AS n FROM score_claims GROUP BY status")
    return {r["status"]: r["n"] for r in rows}


def test_new_traces_are_scored_once_and_evaluations_own_traces_never(store: TraceStore) -> None:
    first = production(5)
    spanlite.evaluate([{"inputs": {"question": "x"}}], predict_fn=lambda question: "y", scorers=[length])

    done = score_traces(store, [length, Judge()])

    assert (done.scored, done.errors, done.sampled_out) == (10, 0, 0)
    for trace_id in first:
        feedback = {f.name: f for f in spanlite.get_feedback(trace_id)}
        assert (feedback["length"].value, feedback["length"].source, feedback["length"].author) == (8, "code", "length")
        assert (feedback["judge"].value, feedback["judge"].source) == ("yes", "llm_judge")
        assert feedback["judge"].comment == f"{spanlite.get_trace(trace_id).root.outputs} reads well"  # type: ignore[union-attr]
    judged = spanlite.search_traces(metadata={"eval.trace_id": first[0]})
    assert [t.name for t in judged] == ["judge"]

    assert score_traces(store, [length, Judge()]).scored == 0  # the judges' traces and the evaluation's: not scored
    later = production(2, start=5)
    assert score_traces(store, [length, Judge()]).scored == 4
    assert all(len(spanlite.get_feedback(t)) == 2 for t in later)
    assert all(f.history == [] for t in first for f in spanlite.get_feedback(t))  # nothing scored twice


def test_a_claim_is_won_by_one_of_two_stores(db_path: Path) -> None:
    trace_ids = production(20)
    stores = [TraceStore(db_path), TraceStore(db_path)]
    won: list[list[tuple[str, str]]] = [[], []]
    barrier = threading.Barrier(2)

    def claim_all(i: int) -> None:
        barrier.wait()
        for trace_id in trace_ids:
            for scorer in ("a", "b"):
                if score_claims.claim(stores[i], trace_id, scorer, worker=str(i)):
                    won[i].append((trace_id, scorer))

    threads = [threading.Thread(target=claim_all, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(won[0] + won[1]) == sorted((t, s) for t in trace_ids for s in ("a", "b"))
    for s in stores:
        s.close()


def test_sampling_keeps_a_share_chosen_by_trace_id_for_good(store: TraceStore) -> None:
    trace_ids = production(40)
    done = score_traces(store, [length], sample=0.5)

    kept = [t for t in trace_ids if sampled(t, 0.5)]
    assert 0 < len(kept) < 40
    assert (done.scored, done.sampled_out) == (len(kept), 40 - len(kept))
    assert {t for t in trace_ids if spanlite.get_feedback(t)} == set(kept)
    assert score_traces(store, [length], sample=0.5).scored == 0  # passed over once is passed over for good
    with pytest.raises(ValueError, match="share of traces"):
        score_traces(store, [length], sample=0)


def test_filters_choose_the_traces_and_scorer_errors_are_kept_on_the_claim(store: TraceStore) -> None:
    prod = production(3, tags=["prod"])
    production(2, tags=["dev"], start=3)

    @spanlite.scorer
    def picky(outputs: str) -> bool:
        if outputs.endswith("1"):
            raise LookupError("no rubric for 1")
        return True

    done = score_traces(store, [picky], trace_filter=TraceFilter(tags=["prod"]))

    assert (done.scored, done.errors) == (2, 1)
    assert counts(store) == {"scored": 2, "error": 1}
    (error,) = store.rows("SELECT trace_id, error FROM score_claims WHERE status = 'error'")
    assert error == {"trace_id": prod[1], "error": "LookupError: no rubric for 1"}
    assert spanlite.get_feedback(prod[1]) == []


SCORERS_MODULE = """
import os

import spanlite


@spanlite.scorer
def length(outputs, trace):
    with open(os.environ["SCORED_LOG"], "a") as log:  # one short write per call: appends do not interleave
        log.write(trace.trace_id + "\\n")
    return len(outputs)
"""


def scoring_process(db_path: Path, tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "SCORED_LOG": str(tmp_path / "scored.log"), "SPANLITE_STRICT": "0"}
    command = [sys.executable, "-m", "spanlite.cli", "score", "--db", str(db_path), "--scorer", "checks:length", *args]
    return subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_scoring_processes_at_once_score_each_trace_once(
    db_path: Path, tmp_path: Path, store: TraceStore, started: list[subprocess.Popen[Any]]
) -> None:
    (tmp_path / "checks.py").write_text(textwrap.dedent(SCORERS_MODULE))
    trace_ids = production(60)

    processes = [scoring_process(db_path, tmp_path, "--limit", "5", "--workers", "2") for _ in range(2)]
    started += processes
    outputs = [p.communicate(timeout=120) for p in processes]

    assert [p.returncode for p in processes] == [0, 0], outputs
    scored = (tmp_path / "scored.log").read_text().split()
    assert sorted(scored) == sorted(trace_ids)  # every trace once, by one process or the other
    assert sum(int(out.split()[1].rstrip(",")) for out, _ in outputs) == 60
    assert counts(store) == {"scored": 60}
    assert all(len(spanlite.get_feedback(t)) == 1 for t in trace_ids)


def test_watch_scores_traces_as_they_arrive_until_interrupted(
    db_path: Path, tmp_path: Path, store: TraceStore, started: list[subprocess.Popen[Any]]
) -> None:
    (tmp_path / "checks.py").write_text(textwrap.dedent(SCORERS_MODULE))
    production(1)  # the store exists before the watcher opens it
    watcher = scoring_process(db_path, tmp_path, "--watch", "--interval", "0.1")
    started.append(watcher)

    arriving = production(3, start=1)
    deadline = time.monotonic() + 60
    while not all(spanlite.get_feedback(t) for t in arriving) and time.monotonic() < deadline:
        time.sleep(0.1)
    watcher.send_signal(signal.SIGINT)
    out, err = watcher.communicate(timeout=60)

    assert all(spanlite.get_feedback(t) for t in arriving), (out, err)
    assert watcher.returncode == 0, err
    assert "scoring new traces" in err


def test_cli_refuses_a_scorer_it_cannot_import(db_path: Path) -> None:
    production(1)
    shown = cli("score", "--scorer", "no_such_module:fn", "--db", str(db_path))
    assert shown.returncode == 1
    assert "--scorer no_such_module:fn: No module named 'no_such_module'" in shown.stderr


def test_cli_judges_named_with_their_model(db_path: Path, tmp_path: Path) -> None:
    """``--judge safety=openai:/MODEL`` scores with a built-in judge, no module of the user's needed; the model's
    usual variables (``OPENAI_BASE_URL``, ``OPENAI_API_KEY``) say where it is."""
    from fake_llm_server import FakeLLMServer

    trace_ids = production(2)
    server = FakeLLMServer().start()
    try:
        server.script("safety-judge", ['{"rationale": "harmless", "result": "yes"}'] * 2)
        env = {"OPENAI_BASE_URL": server.url + "/v1", "OPENAI_API_KEY": "sk-test", "SPANLITE_STRICT": "0"}
        shown = cli("score", "--judge", "safety=openai:/safety-judge", "--db", str(db_path), env=env)
    finally:
        server.stop()
    assert shown.returncode == 0, shown.stderr
    assert "scored 2, errors 0" in shown.stdout
    for trace_id in trace_ids:
        [feedback] = spanlite.get_feedback(trace_id)
        assert (feedback.name, feedback.value, feedback.source, feedback.comment) == (
            "safety", True, "llm_judge", "harmless"
        )  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ("kindness", "--judge kindness: no such judge; built in: correctness, groundedness, relevance_to_query"),
        ("safety=gpt-4o", "--judge safety=gpt-4o: judge model 'gpt-4o': expected 'openai:/<model>'"),
    ],
)
def test_cli_refuses_a_judge_it_does_not_know(db_path: Path, spec: str, error: str) -> None:
    production(1)
    shown = cli("score", "--judge", spec, "--db", str(db_path))
    assert shown.returncode == 2 and error in shown.stderr and "Traceback" not in shown.stderr, shown.stderr
