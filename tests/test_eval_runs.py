"""Evaluation runs in the store: start, results, scores, finish; scores that outlive overwritten feedback; the CLI;
and a store with the evaluation tables refused by a spanlite that does not know them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import spanlite
from _helpers import cli
from spanlite.store import TraceStore


@pytest.fixture
def store(db_path: Path) -> TraceStore:
    return spanlite._config.default_store()


def traced(question: str) -> str:
    with spanlite.start_span("app", inputs={"question": question}) as span:
        span.set_outputs(f"answer to {question}")
    spanlite.flush()
    return span.trace_id


def run_once(store: TraceStore, name: str, verdicts: list[bool], trace_ids: list[str]) -> str:
    """What ``evaluate`` will do through the store: a result per example, its scores, feedback, the metrics."""
    run_id = store.start_run(name, tags={"git_sha": name}, dataset="qa", scorers=["exact_match", "concise"])
    store.add_results(
        run_id,
        [
            {"example_index": i, "trace_id": t, "record_id": i + 1, "inputs": {"q": i}, "outputs": f"o{i}"}
            for i, t in enumerate(trace_ids)
        ],
    )
    scores = [{"example_index": i, "scorer": "exact_match", "value": v, "rationale": f"{name} said so"}
              for i, v in enumerate(verdicts)]  # fmt: skip
    scores.append({"example_index": 0, "scorer": "concise", "error": "judge answer not JSON", "raw": "{oops"})
    store.add_scores(run_id, scores)
    for i, (trace_id, verdict) in enumerate(zip(trace_ids, verdicts)):
        store.log_feedback(trace_id, "exact_match", verdict, source="code", author="exact_match", comment=str(i))
    store.finish_run(run_id, {"exact_match/mean": sum(verdicts) / len(verdicts)})
    return run_id


def test_a_run_keeps_its_results_scores_and_metrics(store: TraceStore) -> None:
    qa = spanlite.datasets.create("qa")
    qa.add([{"inputs": {"q": i}} for i in range(2)])
    trace_ids = [traced("a"), traced("b")]
    first = run_once(store, "v1", [True, False], trace_ids)
    qa.add([{"inputs": {"q": 2}}])
    second = run_once(store, "v2", [False, True], trace_ids)  # rewrites the same feedback rows

    run = store.get_run(first)
    assert run is not None
    assert (run.name, run.tags, run.dataset, run.dataset_version) == ("v1", {"git_sha": "v1"}, "qa", 1)
    assert (run.status, run.scorers, run.metrics, run.error) == ("finished", ["exact_match", "concise"],
                                                                 {"exact_match/mean": 0.5}, None)  # fmt: skip
    assert run.finished_ns is not None and run.finished_ns >= run.created_ns
    assert store.get_run(second).dataset_version == 2  # type: ignore[union-attr]  # the latest when it started

    results = store.run_results(first)
    assert [(r.example_index, r.trace_id, r.record_id, r.inputs, r.outputs) for r in results] == [
        (0, trace_ids[0], 1, {"q": 0}, "o0"),
        (1, trace_ids[1], 2, {"q": 1}, "o1"),
    ]
    assert [r.scores["exact_match"].value for r in results] == [True, False]  # not the feedback v2 left
    assert [f.value for f in store.get_feedback(trace_ids[0], name="exact_match")] == [False]
    broken = results[0].scores["concise"]
    assert (broken.value, broken.error, broken.raw) == (None, "judge answer not JSON", "{oops")
    assert "concise" not in results[1].scores

    assert [r.run_id for r in store.list_runs()] == [second, first]
    assert [r.run_id for r in store.list_runs(dataset="qa", limit=1)] == [second]
    assert store.list_runs(dataset="other") == []


def test_bad_calls_are_clear_errors_and_write_nothing(store: TraceStore) -> None:
    spanlite.datasets.create("qa")
    with pytest.raises(ValueError, match="no dataset 'nope'"):
        store.start_run("r", dataset="nope")
    with pytest.raises(ValueError, match="dataset 'qa' has versions 0 to 0, not 3"):
        store.start_run("r", dataset="qa", dataset_version=3)
    with pytest.raises(ValueError, match="a run's scorers are a list of names"):
        store.start_run("r", scorers="exact_match")
    assert store.list_runs() == []

    run_id = store.start_run("r")
    with pytest.raises(ValueError, match="no evaluation run 'nope'"):
        store.add_results("nope", [{"example_index": 0}])
    with pytest.raises(ValueError, match="a result needs its example_index"):
        store.add_results(run_id, [{"example_index": 0}, {"trace_id": "t"}])
    with pytest.raises(ValueError, match=r"a result has no keys \['output'\]"):
        store.add_results(run_id, [{"example_index": 0, "output": "x"}])
    with pytest.raises(ValueError, match="result 0 outputs must be JSON-serialisable"):
        store.add_results(run_id, [{"example_index": 0, "outputs": object()}])
    assert store.run_results(run_id) == []  # none of the good rows before a bad one either

    store.add_results(run_id, [{"example_index": 0, "outputs": "x"}])
    with pytest.raises(ValueError, match="has no result for example 1; add its result first"):
        store.add_scores(run_id, [{"example_index": 0, "scorer": "s", "value": 1}, {"example_index": 1, "scorer": "s"}])
    with pytest.raises(ValueError, match="score of example 0 needs a scorer name"):
        store.add_scores(run_id, [{"example_index": 0, "value": 1}])
    assert store.run_results(run_id)[0].scores == {}

    with pytest.raises(ValueError, match="a run finishes as finished or failed"):
        store.finish_run(run_id, status="done")
    store.finish_run(run_id, status="failed", error="predict_fn raised KeyError")
    run = store.get_run(run_id)
    assert run is not None and (run.status, run.error, run.metrics) == ("failed", "predict_fn raised KeyError", {})
    with pytest.raises(ValueError, match=f"evaluation run {run_id} is failed; it takes no more results"):
        store.add_results(run_id, [{"example_index": 1}])
    with pytest.raises(ValueError, match="is failed"):
        store.finish_run(run_id)
    with pytest.raises(ValueError, match="no evaluation run 'nope'"):
        store.run_results("nope")


def test_cli_lists_and_shows_runs(db_path: Path, store: TraceStore) -> None:
    spanlite.datasets.create("qa").add([{"inputs": {"q": 0}}, {"inputs": {"q": 1}}])
    trace_ids = [traced("a"), traced("b")]
    run_id = run_once(store, "prompt-v2", [True, False], trace_ids)
    listing = cli("eval", "list", db=db_path)
    assert listing.returncode == 0, listing.stderr
    (line,) = listing.stdout.splitlines()[1:]
    assert line.split()[0] == run_id and "finished" in line and "qa@1" in line and "exact_match/mean=0.5" in line

    shown = cli("eval", "show", run_id, db=db_path)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].startswith(f"prompt-v2  {run_id}  finished") and "dataset qa version 1" in lines[0]
    assert "exact_match/mean: 0.5" in shown.stdout
    rows = [line.split() for line in lines if line.split()[:1] in (["0"], ["1"])]
    assert rows == [["0", trace_ids[0], "true", "error"], ["1", trace_ids[1], "false", "-"]]

    whole = json.loads(cli("eval", "show", run_id, "--json", db=db_path).stdout)
    assert [r["scores"]["exact_match"]["value"] for r in whole["results"]] == [True, False]
    assert json.loads(cli("eval", "list", "--json", "--dataset", "qa", db=db_path).stdout)["run_id"] == run_id
    assert "no evaluation run 'x'" in cli("eval", "show", "x", db=db_path).stderr


def test_a_store_with_evaluation_tables_is_refused_by_a_spanlite_without_them(db_path: Path) -> None:
    spanlite.datasets.create("qa")
    older = f"""
from spanlite.store import _db, TraceStore, StoreError
_db.NAMES = _db.NAMES[:_db.NAMES.index("m013_evaluation")]  # this spanlite's steps end before it
try:
    TraceStore({str(db_path)!r})
except StoreError as exc:
    print(exc)
"""
    out = subprocess.run([sys.executable, "-c", older], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "written by a newer spanlite" in out.stdout and "m013_evaluation" in out.stdout
