"""Feedback: log, re-rate with history, validate, filter, export, concurrent writers, lifecycle with traces."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import spanlite
from spanlite.store import TraceStore


@spanlite.trace
def answer(question: str) -> str:
    with spanlite.start_span("lookup", kind="TOOL"):
        return f"answer to {question}"


def traced(question: str) -> str:
    with spanlite.start_span("request") as span:
        answer(question)
    return span.trace_id


def test_log_get_rerate_and_delete() -> None:
    trace_id = traced("q1")
    first = spanlite.log_feedback(trace_id, "thumbs", True, author="ada")
    assert (first.value, first.source, first.history) == (True, "human", [])
    second = spanlite.log_feedback(trace_id, "thumbs", False, author="ada", comment="wrong")
    assert second.id == first.id
    assert (second.value, second.comment) == (False, "wrong")
    assert [h["value"] for h in second.history] == [True]
    spanlite.log_feedback(trace_id, "thumbs", True, author="grace")
    judge = spanlite.log_feedback(trace_id, "relevance", 0.25, source="llm_judge", comment="judge: off-topic")
    span_id = spanlite.get_trace(trace_id).spans[1].span_id  # type: ignore[union-attr]
    spanlite.log_feedback(trace_id, "label", "hallucination", span_id=span_id, source="code")

    everything = spanlite.get_feedback(trace_id)
    assert [(f.name, f.value, f.author) for f in everything] == [
        ("thumbs", False, "ada"), ("thumbs", True, "grace"), ("relevance", 0.25, None),
        ("label", "hallucination", None),
    ]  # fmt: skip
    assert [f.name for f in spanlite.get_feedback(trace_id, span_id=span_id)] == ["label"]
    assert spanlite.delete_feedback(judge.id) is True
    assert spanlite.delete_feedback(judge.id) is False
    assert len(spanlite.get_trace(trace_id).feedback) == 3  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("value", "source", "message"),
    [({"a": 1}, "human", "bool, a finite number or a string"), (float("nan"), "human", "finite"),
     (None, "human", "bool"), (1, "robot", "source must be one of")],
)  # fmt: skip
def test_bad_feedback_is_a_clear_error_and_stores_nothing(value: object, source: str, message: str) -> None:
    trace_id = traced("q")
    with pytest.raises(ValueError, match=message):
        spanlite.log_feedback(trace_id, "x", value, source=source)  # type: ignore[arg-type]
    assert spanlite.get_feedback(trace_id) == []


def test_definitions_validate_values(db_path: Path) -> None:
    trace_id = traced("q")
    with TraceStore(db_path) as store:
        store.define_feedback("correctness", "bool")
        store.define_feedback("helpfulness", "number", min_value=1, max_value=5, description="1 bad, 5 great")
        store.define_feedback("category", "category", categories=["billing", "shipping"])
        with pytest.raises(ValueError, match="needs a list of categories"):
            store.define_feedback("bad", "category")
        with pytest.raises(ValueError, match="type must be one of"):
            store.define_feedback("bad", "emoji")
        assert list(store.feedback_definitions()) == ["correctness", "helpfulness", "category"]
        assert store.feedback_definitions()["category"].categories == ["billing", "shipping"]
    with pytest.raises(ValueError, match="takes true or false"):
        spanlite.log_feedback(trace_id, "correctness", 1)
    with pytest.raises(ValueError, match="between 1 and 5"):
        spanlite.log_feedback(trace_id, "helpfulness", 9)
    with pytest.raises(ValueError, match="must be one of"):
        spanlite.log_feedback(trace_id, "category", "returns")
    spanlite.log_feedback(trace_id, "helpfulness", 4)
    spanlite.log_feedback(trace_id, "category", "billing")


def test_feedback_before_the_trace_exists_is_kept_and_deleted_with_it(db_path: Path) -> None:
    spanlite.log_feedback("0" * 31 + "1", "thumbs", True)  # spans still in flight
    trace_id = traced("q")
    spanlite.log_feedback(trace_id, "thumbs", False)
    with TraceStore(db_path) as store:
        assert store.stats()["feedback"] == 2
        store.delete_traces([trace_id])
        assert store.stats()["feedback"] == 1
        assert store.get_feedback("0" * 31 + "1")[0].value is True


@pytest.mark.parametrize("cap", [1, 1_000])  # probe each trace / list the rated ones
def test_search_by_feedback(db_path: Path, cap: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("spanlite.store.query.MEMBERS_CAP", cap)
    good, bad, unrated, low = traced("good"), traced("bad"), traced("unrated"), traced("low")
    spanlite.log_feedback(good, "thumbs", True)
    spanlite.log_feedback(bad, "thumbs", False)
    spanlite.log_feedback(low, "score", 2)
    spanlite.log_feedback(good, "score", 5)

    def ids(**filters: object) -> set[str]:
        return {t.trace_id for t in spanlite.search_traces(**filters)}

    assert ids(feedback="thumbs=false") == {bad}
    assert ids(feedback="thumbs = true") == {good}
    assert ids(feedback=("score", "<", 3)) == {low}
    assert ids(feedback=["score>=2", "thumbs=true"]) == {good}
    assert ids(has_feedback=False) == {unrated}
    assert ids(has_feedback=True) == {good, bad, low}
    with pytest.raises(ValueError, match="feedback condition"):
        ids(feedback="thumbs")
    with pytest.raises(ValueError, match="operator"):
        ids(feedback=("score", "; DROP TABLE feedback", 1))


def test_dataset_export_api_dataframe_and_cli(db_path: Path, tmp_path: Path) -> None:
    first, second = traced("q1"), traced("q2")
    spanlite.log_feedback(first, "score", 4, author="a", comment="fine")
    spanlite.log_feedback(first, "score", 2, author="b", comment="meh")
    spanlite.log_feedback(second, "thumbs", False, author="a")
    spanlite.flush()
    with TraceStore(db_path) as store:
        rows = {r["trace_id"]: r for r in store.dataset_rows()}
        frame = store.to_dataframe(feedback="thumbs=false")
    assert rows[first]["feedback.score"] == 3
    assert rows[first]["feedback.score.comments"] == "fine\nmeh"
    assert rows[second]["feedback.thumbs"] is False
    assert rows[first]["outputs"] is None and rows[first]["name"] == "request"
    assert list(frame["trace_id"]) == [second] and "feedback.thumbs" in frame.columns

    out = tmp_path / "dataset.jsonl"
    command = [sys.executable, "-m", "spanlite.cli", "traces", "export", "--db", str(db_path), "--format", "dataset"]
    subprocess.run([*command, "--feedback", "score<4", "-o", str(out)], check=True, timeout=60)
    (line,) = out.read_text().splitlines()
    assert json.loads(line)["trace_id"] == first
    whole = subprocess.run(
        [sys.executable, "-m", "spanlite.cli", "traces", "export", "--db", str(db_path), "--rated"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.splitlines()  # fmt: skip
    assert len(whole) == 2 and all(json.loads(t)["feedback"] for t in whole)


WRITER = """
import sys, spanlite
spanlite.configure(db=sys.argv[1])
for i in range(100):
    spanlite.log_feedback("t" * 32, "score", i, author=sys.argv[2])
    spanlite.log_feedback("t" * 32, "shared", i, author="everyone")
"""


def test_concurrent_writers_lose_nothing(db_path: Path) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(db_path), f"p{i}"]) for i in range(2)]
    threads = [
        threading.Thread(target=lambda n=n: [spanlite.log_feedback("t" * 32, "score", i, author=n) for i in range(100)])
        for n in ("t0", "t1")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for p in procs:
        assert p.wait(timeout=120) == 0
    feedback = {(f.name, f.author): f for f in spanlite.get_feedback("t" * 32)}
    assert len(feedback) == 5
    for author in ("p0", "p1", "t0", "t1"):
        assert feedback[("score", author)].value == 99
        assert len(feedback[("score", author)].history) == 99
    assert len(feedback[("shared", "everyone")].history) == 199


def test_count_traces_with_filters_cap_and_exclusions(db_path: Path) -> None:
    ids = [traced(f"q{i}") for i in range(5)]
    spanlite.log_feedback(ids[0], "thumbs", True)
    spanlite.flush()
    with TraceStore(db_path) as store:
        assert store.count_traces() == 5
        assert store.count_traces(has_feedback=False) == 4
        assert store.count_traces(has_feedback=False, exclude=ids[1:3]) == 2
        assert store.count_traces(cap=3) == 3
        assert store.count_traces(feedback="thumbs=true") == 1


def test_feedback_source_scopes_feedback_filters(db_path: Path) -> None:
    judged, rated, untouched = traced("judged"), traced("rated"), traced("untouched")
    spanlite.log_feedback(judged, "thumbs", False, source="llm_judge")
    spanlite.log_feedback(rated, "thumbs", False, author="ada")

    def ids(**filters: object) -> set[str]:
        return {t.trace_id for t in spanlite.search_traces(**filters)}

    assert ids(has_feedback=False) == {untouched}
    assert ids(has_feedback=False, feedback_source="human") == {judged, untouched}
    assert ids(feedback="thumbs=false", feedback_source="llm_judge") == {judged}
    with pytest.raises(ValueError, match="feedback_source"):
        ids(feedback_source="robot")
