"""One filters object for every search."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import pytest

import spanlite
from spanlite import cli
from spanlite.store import TraceFilter, TraceStore


def _traced(name: str, tags: list[str], *, session: str | None = None, fail: bool = False) -> None:
    with spanlite.start_span(name, kind="AGENT", inputs={"question": f"about {name}"}) as root:
        spanlite.update_current_trace(tags=tags, session_id=session, user_id="u1", metadata={"team": name})
        with spanlite.start_span("llm", kind="LLM", attributes={"gen_ai.request.model": f"model-{name}"}) as llm:
            llm.set_outputs(f"the answer mentions {name}-zebra")
        if fail:
            root.record_exception(RuntimeError("nope"))
    time.sleep(0.002)  # distinct start times, so that newest-first is one order


@pytest.fixture
def three(store: TraceStore) -> TraceStore:
    _traced("alpha", ["prod", "v1"], session="s1")
    _traced("beta", ["prod"], session="s1", fail=True)
    _traced("gamma", ["dev"])
    spanlite.flush()
    store.log_feedback(store.search_traces(name="alpha")[0].trace_id, "thumbs", True)
    return store


SEARCHES: list[dict[str, Any]] = [
    {},
    {"status": "ERROR"},
    {"tags": ["prod"], "status": "OK"},
    {"kind": "LLM", "model": "model-beta"},
    {"session_id": "s1", "user_id": "u1", "name": "ph"},
    {"text": "gamma-zebra", "metadata": {"team": "gamma"}},
    {"feedback": "thumbs=true"},
    {"has_feedback": False, "feedback_source": "human", "min_duration_ms": 0},
]


@pytest.mark.parametrize("fields", SEARCHES, ids=lambda f: ",".join(f) or "none")
def test_a_trace_filter_finds_what_its_fields_as_keywords_find(three: TraceStore, fields: dict[str, Any]) -> None:
    def ids(traces: Any) -> list[str]:
        return [t.trace_id for t in traces]

    where = TraceFilter(**fields)
    found = ids(three.search_traces(**fields))
    assert ids(three.search_traces(where)) == found
    assert ids(three.iter_traces(where)) == found
    assert ids(spanlite.search_traces(where)) == found
    assert three.count_traces(where) == len(found)
    assert [row["trace_id"] for row in three.dataset_rows(where)] == found


def test_keywords_refine_a_trace_filter_and_a_wrong_field_names_itself(three: TraceStore) -> None:
    prod = TraceFilter(tags=["prod"])
    assert [t.name for t in three.search_traces(prod, status="ERROR")] == ["beta"]
    assert [t.name for t in three.search_traces(prod, ascending=True)] == ["alpha", "beta"]
    assert three.count_traces(prod, status="OK") == 1
    assert prod == TraceFilter(tags=["prod"])  # the search left the filter as it was
    with pytest.raises(TypeError, match="stauts"):
        three.search_traces(stauts="ERROR")
    with pytest.raises(ValueError, match="status must be one of"):
        three.search_traces(TraceFilter(status="MAYBE"))


def test_every_cli_filter_option_is_a_trace_filter_field(three: TraceStore, db_path: Path, capsys: Any) -> None:
    """The command's filter options are the filter's fields: each finds what the field finds."""
    options = {
        "--status": ("status", "ERROR"),
        "--name": ("name", "amm"),
        "--kind": ("kind", "LLM"),
        "--model": ("model", "model-alpha"),
        "--tag": ("tags", ["dev"]),
        "--session": ("session_id", "s1"),
        "--user": ("user_id", "u1"),
        "--min-duration-ms": ("min_duration_ms", 0.0),
        "--feedback": ("feedback", ["thumbs=true"]),
    }
    names = {f.name for f in dataclasses.fields(TraceFilter)}
    for option, (field, value) in options.items():
        assert field in names
        arguments = [str(v) for v in (value if isinstance(value, list) else [value])]
        assert cli.main(["--db", str(db_path), "traces", "list", "--json", option, *arguments]) == 0
        listed = [json.loads(line)["trace_id"] for line in capsys.readouterr().out.splitlines()]
        expected = [t.trace_id for t in three.search_traces(TraceFilter(**{field: value}))]
        assert listed == expected and expected, option
    for flag, rated in (("--rated", True), ("--unrated", False)):
        assert cli.main(["--db", str(db_path), "traces", "list", "--json", flag]) == 0
        listed = [json.loads(line)["trace_id"] for line in capsys.readouterr().out.splitlines()]
        assert listed == [t.trace_id for t in three.search_traces(TraceFilter(has_feedback=rated))]
