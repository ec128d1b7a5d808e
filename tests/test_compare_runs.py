"""compare_runs over stored runs: per-scorer means and deltas, examples matched by record or inputs, regressed
first; and `spanlite eval compare` on the command line."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

import spanlite
from _helpers import cli
from spanlite.evaluation.compare import compare_runs
from spanlite.store import TraceStore


@pytest.fixture
def store(db_path: Path) -> TraceStore:
    return spanlite._config.default_store()


def stored_run(
    store: TraceStore,
    name: str,
    examples: list[dict[str, Any]],
    scores: Mapping[int, Mapping[str, Any]],
    scorers: tuple[str, ...] = ("exact", "quality"),
) -> str:
    """A finished run as ``evaluate`` leaves one: ``scores[i][scorer]`` a value, or ``{"error": ...}``."""
    run_id = store.start_run(name, scorers=scorers)
    store.add_results(run_id, [{"example_index": i, **e} for i, e in enumerate(examples)])
    rows = []
    for i, by_scorer in scores.items():
        for scorer, value in by_scorer.items():
            given = value if isinstance(value, dict) else {"value": value}
            rows.append({"example_index": i, "scorer": scorer, **given})
    store.add_scores(run_id, rows)
    store.finish_run(run_id)
    return run_id


def test_means_deltas_and_examples_regressed_first(store: TraceStore) -> None:
    examples = [{"inputs": {"q": q}, "outputs": q.upper()} for q in ("a", "b", "c", "d")]
    run_a = stored_run(
        store,
        "v1",
        examples,
        {0: {"exact": True, "quality": 4}, 1: {"exact": True, "quality": 2}, 2: {"exact": False, "quality": 3},
         3: {"exact": True, "quality": "n/a"}},
    )  # fmt: skip
    run_b = stored_run(
        store,
        "v2",
        examples,
        {0: {"exact": True, "quality": 4}, 1: {"exact": False, "quality": 5}, 2: {"exact": True, "quality": 3},
         3: {"exact": False, "quality": 1}},
    )  # fmt: skip

    diff = compare_runs(run_a, run_b, store=store)

    assert (diff.run_a.name, diff.run_b.name) == ("v1", "v2")
    means = {s.name: (s.mean_a, s.mean_b, s.delta) for s in diff.scorers}
    assert means == {"exact": (0.75, 0.5, -0.25), "quality": (3.0, 3.25, 0.25)}  # "n/a" is in no mean
    changes = [(e.inputs["q"], e.change) for e in diff.examples]
    assert changes == [("d", "regressed"), ("b", "mixed"), ("c", "improved"), ("a", "same")]
    d = diff.examples[0]
    assert d.deltas == {"exact": -1.0, "quality": None}
    assert d.scores_a["exact"] is not None and d.scores_a["exact"].value is True
    assert (d.outputs_a, d.outputs_b, d.key) == ("D", "D", '{"q":"d"}')
    assert [e.inputs["q"] for e in diff.regressed] == ["d"]


def test_examples_match_by_record_then_by_inputs_whatever_the_key_order(store: TraceStore) -> None:
    run_a = stored_run(
        store,
        "a",
        [{"record_id": 7, "inputs": {"q": "old wording"}}, {"inputs": {"x": 1, "y": 2}}, {"inputs": {"gone": 1}}],
        {0: {"exact": 1}, 1: {"exact": 1}, 2: {"exact": 1}},
    )
    run_b = stored_run(
        store,
        "b",
        [{"inputs": {"new": 1}}, {"inputs": {"y": 2, "x": 1}}, {"record_id": 7, "inputs": {"q": "new wording"}}],
        {0: {"exact": 0}, 1: {"exact": 0}, 2: {"exact": 1}},
    )

    by_key = {e.key: e for e in compare_runs(run_a, run_b, store=store).examples}

    assert by_key["record:7"].change == "same"
    assert by_key['{"x":1,"y":2}'].change == "regressed"
    assert by_key['{"gone":1}'].change == "only_a" and by_key['{"gone":1}'].trace_b is None
    assert by_key['{"new":1}'].change == "only_b" and by_key['{"new":1}'].scores_a == {}


def test_a_score_lost_to_an_error_or_an_app_failure_is_a_regression(store: TraceStore) -> None:
    examples = [{"inputs": {"q": i}} for i in range(3)]
    run_a = stored_run(store, "a", examples, {0: {"exact": True}, 1: {"exact": {"error": "boom"}}, 2: {"exact": 1}})
    failed = [examples[0], examples[1], {**examples[2], "error": "ValueError: app broke"}]
    run_b = stored_run(store, "b", failed, {0: {"exact": {"error": "judge said nothing"}}, 1: {"exact": True}})

    diff = compare_runs(run_a, run_b, store=store)

    assert [(e.inputs["q"], e.change) for e in diff.examples] == [(0, "regressed"), (2, "regressed"), (1, "improved")]
    failed_now = diff.examples[1]
    assert failed_now.error_b == "ValueError: app broke" and failed_now.scores_b == {"exact": None, "quality": None}
    assert diff.scorers[0].mean_a == 1.0 and diff.scorers[0].mean_b == 1.0


def test_scorers_of_one_run_only_have_no_mean_in_the_other(store: TraceStore) -> None:
    examples = [{"inputs": {"q": 1}}]
    run_a = stored_run(store, "a", examples, {0: {"exact": True}}, scorers=("exact",))
    run_b = stored_run(store, "b", examples, {0: {"exact": True, "judge": "yes"}}, scorers=("exact", "judge"))

    diff = compare_runs(store.get_run(run_a), run_b, store=store)  # type: ignore[arg-type]

    assert [(s.name, s.mean_a, s.mean_b, s.delta) for s in diff.scorers] == [
        ("exact", 1.0, 1.0, 0.0),
        ("judge", None, 1.0, None),  # "yes" counts as 1, as in MLflow's means
    ]
    assert diff.examples[0].change == "same"


def test_to_dataframe_has_a_row_per_example_and_columns_per_scorer(store: TraceStore) -> None:
    examples = [{"inputs": {"q": 1}, "trace_id": "t1"}, {"inputs": {"q": 2}, "trace_id": "t2"}]
    run_a = stored_run(store, "a", examples, {0: {"exact": True}, 1: {"exact": True}}, scorers=("exact",))
    run_b = stored_run(store, "b", examples, {0: {"exact": True}, 1: {"exact": False}}, scorers=("exact",))

    frame = compare_runs(run_a, run_b, store=store).to_dataframe()

    assert list(frame.columns) == [
        "key", "change", "inputs", "expectations", "outputs_a", "outputs_b", "trace_a", "trace_b",
        "exact/a", "exact/b", "exact/delta",
    ]  # fmt: skip
    assert frame["change"].tolist() == ["regressed", "same"]
    assert frame["exact/delta"].tolist() == [-1.0, 0.0]
    assert frame["trace_a"].tolist() == ["t2", "t1"]


def test_an_unknown_run_is_a_clear_error(store: TraceStore) -> None:
    run = stored_run(store, "a", [{"inputs": {}}], {})
    with pytest.raises(ValueError, match="no evaluation run 'nope'"):
        compare_runs(run, "nope", store=store)


def test_cli_compare_prints_means_then_regressed_examples(store: TraceStore, db_path: Path) -> None:
    examples = [{"inputs": {"q": q}} for q in ("fine", "worse")]
    run_a = stored_run(store, "v1", examples, {0: {"exact": True}, 1: {"exact": True}}, scorers=("exact",))
    run_b = stored_run(store, "v2", examples, {0: {"exact": True}, 1: {"exact": False}}, scorers=("exact",))

    shown = cli("eval", "compare", run_a, run_b, "--db", str(db_path))
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    scorer_line = next(line for line in lines if line.startswith("exact"))
    assert scorer_line.split() == ["exact", "1.000", "0.500", "-0.500"]
    examples_at = next(i for i, line in enumerate(lines) if line.startswith("CHANGE"))
    assert lines[examples_at + 1].split()[:2] == ["regressed", "exact:-1"]
    assert "worse" in lines[examples_at + 1]

    as_json = cli("eval", "compare", run_a, run_b, "--json", "--db", str(db_path))
    data = json.loads(as_json.stdout)
    assert data["scorers"] == [{"name": "exact", "mean_a": 1.0, "mean_b": 0.5, "delta": -0.5}]
    assert [e["change"] for e in data["examples"]] == ["regressed", "same"]

    missing = cli("eval", "compare", run_a, "nope", "--db", str(db_path))
    assert missing.returncode == 1 and "no evaluation run 'nope'" in missing.stderr
