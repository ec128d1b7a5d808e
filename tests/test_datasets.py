"""Evaluation datasets: versions as ranges, content deduplication, validation that loses nothing, traces as records,
two writers at once, the CLI, and a store from before datasets."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas
import pytest

import spanlite
from _helpers import cli, row, write_as_before
from spanlite.evaluation import datasets
from spanlite.store import TraceStore


def inputs_of(records: list[Any]) -> list[Any]:
    return [r.inputs for r in records]


def test_every_change_is_a_version_and_every_version_stays_readable(db_path: Path) -> None:
    qa = spanlite.datasets.create("qa", description="questions", tags={"team": "support"})
    assert (qa.version, qa.records()) == (0, [])
    first = qa.add([{"inputs": {"q": f"q{i}"}, "expectations": {"expected_response": f"a{i}"}} for i in range(3)])
    assert [r.added_in for r in first] == [1, 1, 1]
    assert qa.remove([first[0].record_id]) == 1
    store = TraceStore(db_path)
    (updated,) = store.update_records("qa", {first[1].record_id: {"inputs": {"q": "q1"}, "expectations": {}}})
    assert updated.record_id not in {r.record_id for r in first}  # an update is a new record; the old one stays
    qa.add([{"inputs": {"q": "q3"}}])

    assert qa.version == 4
    assert [inputs_of(qa.records(version=v)) for v in range(5)] == [
        [],
        [{"q": "q0"}, {"q": "q1"}, {"q": "q2"}],
        [{"q": "q1"}, {"q": "q2"}],
        [{"q": "q2"}, {"q": "q1"}],
        [{"q": "q2"}, {"q": "q1"}, {"q": "q3"}],
    ]
    assert [r.expectations for r in qa.records(version=2)] == [{"expected_response": "a1"}, {"expected_response": "a2"}]
    assert qa.records(version=3)[1].expectations == {}
    old = qa.to_dataframe(version=1)
    assert list(old.columns) == ["record_id", "inputs", "expectations", "tags", "source_trace_id"]
    assert old["expectations"].tolist() == [{"expected_response": f"a{i}"} for i in range(3)]
    info = qa.info
    assert (info.description, info.tags, info.size) == ("questions", {"team": "support"}, 3)
    with pytest.raises(ValueError, match="has versions 0 to 4, not 5"):
        qa.records(version=5)
    with pytest.raises(ValueError, match="no record 999"):
        qa.remove([999])
    for bad in ("1", 2**70, True):
        with pytest.raises(ValueError, match="record ids are the records' record_id numbers"):
            qa.remove([bad])  # type: ignore[list-item]
    with pytest.raises(ValueError, match=f"no record {first[0].record_id} in its latest"):
        qa.remove([first[0].record_id])  # removed already
    assert qa.version == 4
    store.close()


def test_content_is_deduplicated_within_a_call_and_against_the_latest_version() -> None:
    qa = spanlite.datasets.create("qa")
    record = {"inputs": {"a": 1, "b": 2}, "expectations": {"expected_response": "x"}}
    reordered = {"inputs": {"b": 2, "a": 1}, "expectations": {"expected_response": "x"}, "tags": {"t": 1}}
    added = qa.add([record, reordered, {"inputs": {"a": 1, "b": 2}}])  # no expectations is other content
    assert len(added) == 2 and qa.version == 1
    assert qa.add([reordered]) == [] and qa.version == 1  # nothing new: no new version
    qa.remove([added[0].record_id])
    (again,) = qa.add([record])  # gone from the latest version, so it is new again
    assert again.record_id != added[0].record_id and qa.version == 3
    store = qa.store
    changed = store.update_records("qa", {again.record_id: {"inputs": {"a": 1, "b": 2}}})
    assert changed == []  # its new content is a record the version holds already: removed, not added again
    assert inputs_of(qa.records()) == [{"a": 1, "b": 2}] and qa.version == 4


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("inputs", "record 1: a record is a dict"),
        ({"inputs": "what is 2+2?"}, "record 1: 'inputs' must be a dict"),
        ({"expectations": {"expected_response": "4"}}, "record 1: 'inputs' must be a dict"),
        ({"inputs": {}, "expectations": ["4"]}, "record 1: 'expectations' must be a dict"),
        ({"inputs": {}, "input": {}}, r"record 1: unknown keys \['input'\]"),
        ({"inputs": {"x": math.nan}}, "record 1 inputs must be JSON-serialisable"),
        ({"inputs": {"x": object()}}, "record 1 inputs must be JSON-serialisable"),
        ({"inputs": {}, "tags": ["a"]}, "record 1 tags must be a dict"),
        ({"inputs": {}, "source_trace_id": 7}, "record 1: 'source_trace_id' must be a trace id"),
    ],
)
def test_a_bad_record_is_one_clear_error_and_adds_nothing(bad: Any, message: str) -> None:
    qa = spanlite.datasets.create("qa")
    qa.add([{"inputs": {"q": "kept"}}])
    with pytest.raises(ValueError, match=message):
        qa.add([{"inputs": {"q": "good"}}, bad, {"inputs": {"q": "also good"}}])
    assert qa.version == 1 and inputs_of(qa.records()) == [{"q": "kept"}]


def test_create_get_list_delete(db_path: Path) -> None:
    spanlite.datasets.create("b")
    qa = spanlite.datasets.create("a")
    with pytest.raises(ValueError, match="dataset 'a' already exists"):
        spanlite.datasets.create("a")
    for name in ("", "  ", None):
        with pytest.raises(ValueError, match="a dataset needs a name"):
            spanlite.datasets.create(name)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no dataset 'missing'"):
        spanlite.datasets.get("missing")
    with pytest.raises(ValueError, match="no dataset 'missing'"):
        datasets.Dataset("missing", qa.store).add([{"inputs": {}}])
    assert [d.name for d in spanlite.datasets.list()] == ["a", "b"]
    qa.add([{"inputs": {"q": 1}}])
    run_id = qa.store.start_run("r", dataset="a")
    assert spanlite.datasets.delete("a") is True and spanlite.datasets.delete("a") is False
    assert [d.name for d in spanlite.datasets.list()] == ["b"]
    assert qa.store.rows("SELECT count(*) AS n FROM dataset_records")[0]["n"] == 0
    run = qa.store.get_run(run_id)
    assert run is not None and (run.dataset, run.dataset_version) == ("a", 1)  # the run remembers what it used
    with TraceStore(db_path) as store:  # the same API without the face: any store, passed in
        other = datasets.create("c", store=store)
        assert datasets.get("c", store=store).version == other.version == 0


def test_a_dataframe_with_inputs_and_expectations_columns() -> None:
    qa = spanlite.datasets.create("qa")
    frame = pandas.DataFrame(
        {
            "inputs": [{"q": "a"}, {"q": "b"}],
            "expectations": [{"expected_response": "A"}, None],
            "source_trace_id": ["t1", math.nan],
        }
    )
    added = qa.add(frame)
    assert [(r.inputs, r.expectations, r.source_trace_id) for r in added] == [
        ({"q": "a"}, {"expected_response": "A"}, "t1"),
        ({"q": "b"}, {}, None),
    ]
    with pytest.raises(ValueError, match=r"record 0: unknown keys \['question'\]"):
        qa.add(pandas.DataFrame({"question": ["x"]}))


def test_traces_become_records_with_their_outputs_as_proposed_expectations() -> None:
    @spanlite.trace
    def support(question: str, language: str = "en") -> str:
        return f"answer to {question}"

    support("refund?")
    support("shipping?", language="fr")
    with spanlite.start_span("otlp-like", inputs="plain text input") as span:  # not a dict of arguments
        span.set_outputs({"text": "ok"})
    page = spanlite.search_traces(name="support")
    first = sorted(page, key=lambda t: t.start_ns)[0]
    spanlite.log_expectation(first.trace_id, "expected_response", "Refunds take 5 days.")
    spanlite.log_expectation(first.trace_id, "expected_facts", ["5 days"])

    qa = spanlite.datasets.create("from-prod")
    added = qa.add_traces(page)
    by_trace = {r.source_trace_id: r for r in added}
    assert by_trace[first.trace_id].inputs == {"question": "refund?", "language": "en"}
    assert by_trace[first.trace_id].expectations == {
        "expected_response": "Refunds take 5 days.",  # logged ground truth wins over the proposed output
        "expected_facts": ["5 days"],
    }
    other = next(r for r in added if r.source_trace_id != first.trace_id)
    assert other.expectations == {"expected_response": "answer to shipping?"}
    assert qa.add_traces(page) == []  # the same content again: nothing new

    plain = spanlite.search_traces(name="otlp-like")[0]
    trace = spanlite.get_trace(plain.trace_id)
    assert trace is not None
    (record,) = qa.add_traces([trace])
    assert (record.inputs, record.expectations) == (
        {"input": "plain text input"},
        {"expected_response": {"text": "ok"}},
    )
    with pytest.raises(ValueError, match="trace nope has no root span"):
        qa.add_traces(["nope"])


def test_secrets_in_traced_inputs_never_reach_a_dataset(db_path: Path) -> None:
    """Records from traces carry the trace's stored text, which was redacted; records given directly are user data,
    stored as given, as feedback is (store/eval_datasets.py says so)."""
    key = "sk-proj-" + "a1B2c3D4" * 6

    @spanlite.trace
    def call(prompt: str, api_key: str) -> str:
        return f"used {api_key}"

    call("hello", key)
    qa = spanlite.datasets.create("qa")
    (record,) = qa.add_traces(spanlite.search_traces(name="call"))
    assert record.inputs == {"prompt": "hello", "api_key": "[REDACTED]"}
    assert key not in json.dumps(record.expectations)
    spanlite.flush()
    qa.store.close()
    for path in db_path.parent.glob(db_path.name + "*"):
        assert key.encode() not in path.read_bytes(), path


def test_two_processes_adding_to_one_dataset_both_land_in_distinct_versions(db_path: Path) -> None:
    spanlite.datasets.create("shared")
    adder = f"""
import sys
from spanlite.store import TraceStore
store = TraceStore({str(db_path)!r})
for i in range(15):
    store.add_records("shared", [{{"inputs": {{"writer": sys.argv[1], "i": i, "j": j}}}} for j in range(2)])
"""
    writers = [subprocess.Popen([sys.executable, "-c", adder, name]) for name in ("a", "b")]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    qa = spanlite.datasets.get("shared")
    assert qa.version == 30
    records = qa.records()
    assert len(records) == 60
    by_version: dict[int, set[str]] = {}
    for r in records:
        by_version.setdefault(r.added_in, set()).add(r.inputs["writer"])
    assert sorted(by_version) == list(range(1, 31))  # each call its own version
    assert all(len(writers_of) == 1 for writers_of in by_version.values())  # no version mixes two calls


def test_cli_import_show_export_list(db_path: Path, tmp_path: Path) -> None:
    lines = tmp_path / "qa.jsonl"
    lines.write_text('{"inputs": {"q": "a"}, "expectations": {"expected_response": "A"}}\n\n{"inputs": {"q": "b"}}\n')
    imported = cli("datasets", "import", "qa", str(lines), db=db_path)
    assert imported.returncode == 0, imported.stderr
    assert "created dataset qa" in imported.stdout and "imported 2 records into qa (version 1)" in imported.stdout
    table = tmp_path / "more.csv"
    table.write_text(
        'inputs,expectations,source_trace_id\n"{""q"": ""c""}","{""expected_response"": ""C""}",t-1\n'
        '"{""q"": ""a""}","{""expected_response"": ""A""}",\n'
    )
    more = cli("datasets", "import", "qa", str(table), db=db_path)
    assert "imported 1 record into qa (version 2); 1 was in it already" in more.stdout, more.stderr

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"inputs": {"q": "d"}}\n{"inputs": "e"}\n')
    failed = cli("datasets", "import", "qa", str(bad), db=db_path)
    assert failed.returncode == 1
    assert f"spanlite: {bad} line 2: 'inputs' must be a dict" in failed.stderr
    broken = tmp_path / "broken.csv"
    broken.write_text('inputs,expectations\n"{""q"": ""f""}",{not json}\n')
    assert (
        "broken.csv line 2: column 'expectations' is not JSON"
        in cli("datasets", "import", "qa", str(broken), db=db_path).stderr
    )
    assert spanlite.datasets.get("qa").version == 2  # nothing of the bad files

    listing = cli("datasets", "list", db=db_path).stdout
    assert listing.splitlines()[1].split()[:3] == ["qa", "2", "3"]
    shown = cli("datasets", "show", "qa", "--version", "1", db=db_path).stdout
    assert "qa  version 1  2 records" in shown and '{"q":"b"}' in shown and '{"q":"c"}' not in shown
    as_json = [json.loads(line) for line in cli("datasets", "show", "qa", "--json", db=db_path).stdout.splitlines()]
    assert [r["source_trace_id"] for r in as_json] == [None, None, "t-1"]

    out = tmp_path / "export.jsonl"
    exported = cli("datasets", "export", "qa", "-o", str(out), db=db_path)
    assert "exported 3 records" in exported.stderr
    again = cli("datasets", "import", "copy", str(out), db=db_path)
    assert "imported 3 records into copy (version 1)" in again.stdout
    assert inputs_of(spanlite.datasets.get("copy").records()) == inputs_of(spanlite.datasets.get("qa").records())
    assert "no dataset 'missing'" in cli("datasets", "show", "missing", db=db_path).stderr


def test_a_store_from_before_datasets_keeps_everything_and_gains_them(tmp_path: Path) -> None:
    from sqlite_utils import Database

    from spanlite.store._migrations import NAMES, registry

    path = tmp_path / "m012.db"
    old = Database(path)
    registry().apply(old, stop_before="m013_evaluation")
    write_as_before(old.conn, [row("t1", "s1", None, 100, attributes={"spanlite.inputs": '{"q": 1}'})])
    old.execute(
        "INSERT INTO feedback (trace_id, name, value, source, created_ns, updated_ns) "
        "VALUES ('t1', 'thumbs', 'true', 'human', 1, 1)"
    )
    old.conn.commit()
    old.close()
    with TraceStore(path) as store:
        applied = {r["name"] for r in store.rows("SELECT name FROM _sqlite_migrations")}
        assert applied == set(NAMES)
        trace = store.get_trace("t1")
        assert trace is not None and trace.info.span_count == 1 and trace.root is not None
        assert [(f.name, f.value) for f in trace.feedback] == [("thumbs", True)]
        qa = datasets.create("qa", store=store)
        (record,) = qa.add_traces(["t1"])
        assert record.inputs == {"q": 1}
