"""The Evaluation and Datasets pages, and adding a trace to a dataset, under AppTest: runs and datasets made through
the store API and ``spanlite.evaluation.datasets``, as ``evaluate`` makes them."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import spanlite
from _helpers import EVIL, QUESTIONS, Evals, all_text, app, open_page, populate_evals
from spanlite.evaluation import datasets
from spanlite.store import TraceStore

CAPITALS = {"France": "Paris", "Italy": "Rome", "Spain": "Madrid"}


@pytest.fixture
def evals(db_path: Path) -> Evals:
    return populate_evals(db_path)


def select(at: AppTest, key: str, row: int) -> AppTest:
    at.session_state[key] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    at.run()
    assert not at.exception, at.exception
    return at


def links(at: AppTest) -> list[tuple[str, str, str]]:
    """The page links shown: label, target page (its URL path) and query string."""
    return [(e.proto.label, e.proto.page, e.proto.query_string) for e in at.get("page_link")]


def test_empty_store_renders_evaluation_and_datasets(db_path: Path) -> None:
    at = open_page(app(), "evaluation_page.py")
    assert at.title[0].value == "Evaluation" and at.info[0].value == "No evaluation runs yet."
    at = open_page(at, "datasets_page.py")
    assert at.title[0].value == "Datasets" and at.info[0].value == "No datasets yet."


def test_runs_newest_first_with_dataset_metrics_status(evals: Evals) -> None:
    at = open_page(app(), "evaluation_page.py")
    table = at.dataframe[0].value
    assert list(table["Run ID"]) == [evals.v2, evals.v1]
    assert list(table["Name"]) == ["prompt-v2", "prompt-v1"]
    assert list(table["Status"]) == ["failed", "finished"]
    assert list(table["Dataset"]) == ["qa v1", "qa v1"]
    assert table["Metrics"].iloc[0] == "exact_match/mean 0.5, correctness/mean 0"
    assert table["Tags"].iloc[1] == "prompt=prompt-v1"


def test_runs_page_with_keys(evals: Evals, monkeypatch: pytest.MonkeyPatch) -> None:
    from spanlite.viewer import data

    monkeypatch.setattr(data, "PAGE_SIZE", 1)
    at = open_page(app(), "evaluation_page.py")
    assert list(at.dataframe[0].value["Run ID"]) == [evals.v2]
    at.button(key="eval_runs_next").click().run()
    assert list(at.dataframe[0].value["Run ID"]) == [evals.v1]
    assert at.button(key="eval_runs_next").disabled
    at.button(key="eval_runs_prev").click().run()
    assert list(at.dataframe[0].value["Run ID"]) == [evals.v2]


def test_a_run_shows_its_examples_scores_and_trace_links(evals: Evals) -> None:
    at = select(open_page(app(), "evaluation_page.py"), "eval_runs_1", 1)
    assert at.query_params["run"] == evals.v1
    assert at.title[0].value == "Run: prompt\\-v1"
    assert {m.label: m.value for m in at.metric} == {"exact\\_match/mean": "1", "correctness/mean": "1"}
    assert ("Dataset qa v1", "datasets", "dataset=qa&version=1") in links(at)
    table = at.dataframe[0].value
    assert list(table.columns) == ["#", "exact_match", "correctness", "Inputs", "Outputs", "Expectations", "Error"]
    assert list(table["Inputs"]) == QUESTIONS
    assert list(table["correctness"]) == [f"yes · judged prompt-v1 answer {i}" for i in range(3)]
    assert list(table["exact_match"]) == ["yes"] * 3
    at = select(at, "eval_examples_1", 1)
    assert "judged prompt-v1 answer 1" in [t.value for t in at.text]
    assert "Paris" in [t.value for t in at.text]
    assert ("Open trace", "trace", f"trace={evals.traces_v1[1]}") in links(at)


def test_a_failed_run_shows_its_errors(evals: Evals) -> None:
    at = open_page(app(), "evaluation_page.py", run=evals.v2)
    assert at.error[0].value == "1 prediction failed"
    table = at.dataframe[0].value
    assert list(table["#"]) == [0, 1, 2, 3]
    assert [c.split(" · ")[0] for c in table["correctness"]] == ["yes", "no", "error", ""]
    assert table["correctness"].iloc[2] == "error · judge answered no JSON"
    assert table["Error"].iloc[3] == "RuntimeError: predict failed"
    at = select(at, "eval_examples_1", 2)
    codes = [c.value for c in at.code]
    assert "judge answered no JSON" in codes and "I think <b>yes</b>" in codes  # the raw answer, as text
    at = select(at, "eval_examples_1", 3)
    assert "RuntimeError: predict failed" in [c.value for c in at.code]
    assert "No trace recorded." in [c.value for c in at.caption]


def test_hostile_and_huge_values_are_bounded_text(evals: Evals) -> None:
    at = open_page(app(), "evaluation_page.py", run=evals.v2)
    table = at.dataframe[0].value
    assert table["Inputs"].iloc[2] == EVIL
    assert len(table["Outputs"].iloc[2]) == 200
    at = select(at, "eval_examples_1", 2)
    texts = [t.value for t in at.text]
    assert any(EVIL in str(j.value) for j in at.json)  # the inputs, as a JSON tree
    huge = next(t for t in [*texts, *(c.value for c in at.code)] if t.startswith("xxx"))  # one long run: as code
    assert huge.endswith("… (990,000 more characters)")
    assert not at.get("html")
    for element in [*at.markdown, *at.caption]:
        assert not element.proto.allow_html
    shown = all_text(at)
    assert "<script>" not in shown and "](javascript" not in shown and "<b>" not in shown


def test_unknown_run_says_so(evals: Evals) -> None:
    at = open_page(app(), "evaluation_page.py", run="nope")
    assert at.warning[0].value == "No evaluation run with that ID in this store."


def test_datasets_list_records_at_a_version(evals: Evals, db_path: Path) -> None:
    with TraceStore(db_path) as store:
        qa = datasets.get("qa", store=store)
        qa.remove([qa.records()[0].record_id])
        qa.add_traces([evals.traces_v1[1]])  # already held: no new version
        qa.add([{"inputs": {"question": "Largest planet?"}, "expectations": {}, "source_trace_id": evals.traces_v2[0]}])
    at = open_page(app(), "datasets_page.py")
    table = at.dataframe[0].value
    assert list(table["Name"]) == ["qa"] and list(table["Version"]) == [3] and list(table["Records"]) == [3]
    at = select(at, "datasets", 0)
    assert at.query_params["dataset"] == "qa" and at.query_params["version"] == "3"
    assert at.title[0].value == "Dataset: qa"
    records = at.dataframe[0].value
    assert list(records["Inputs"]) == [QUESTIONS[1], EVIL, "Largest planet?"]
    assert list(records["Source trace"]) == ["", "", evals.traces_v2[0]]
    at = select(at, "dataset_records_3_1", 2)
    assert ("Open source trace", "trace", f"trace={evals.traces_v2[0]}") in links(at)
    at.number_input(key="version_qa").set_value(1).run()
    assert at.query_params["version"] == "1"
    assert list(at.dataframe[0].value["Inputs"]) == QUESTIONS
    at = open_page(app(), "datasets_page.py", dataset="qa", version="2")
    assert list(at.dataframe[0].value["Inputs"]) == QUESTIONS[1:]


def test_dataset_records_page_with_keys(evals: Evals, monkeypatch: pytest.MonkeyPatch) -> None:
    from spanlite.viewer import data

    monkeypatch.setattr(data, "PAGE_SIZE", 2)
    at = open_page(app(), "datasets_page.py", dataset="qa")
    assert list(at.dataframe[0].value["Inputs"]) == QUESTIONS[:2]
    at.button(key="dataset_next").click().run()
    assert list(at.dataframe[0].value["Inputs"]) == QUESTIONS[2:]
    assert at.button(key="dataset_next").disabled


def test_unknown_dataset_says_so(evals: Evals) -> None:
    at = open_page(app(), "datasets_page.py", dataset="nope")
    assert at.warning[0].value == "No dataset with that name in this store."


def test_add_a_trace_to_a_new_then_an_existing_dataset(evals: Evals, db_path: Path) -> None:
    trace_id = evals.traces_v2[1]
    at = open_page(app(), "trace_page.py", trace=trace_id)
    key = f"ds_{trace_id}"
    assert at.selectbox(key=f"{key}_choice").options == ["qa", "New dataset…"]
    at.selectbox(key=f"{key}_choice").select("New dataset…").run()
    at.button(key=f"{key}_add").click().run()
    assert at.error[0].value == "Name the new dataset first\\."
    at.text_input(key=f"{key}_name").input("regressions").run()
    at.button(key=f"{key}_add").click().run()
    assert not at.exception, at.exception
    with TraceStore(db_path) as store:
        (record,) = datasets.get("regressions", store=store).records()
    assert record.inputs == {"question": "Capital of France?"}
    assert record.expectations == {"expected_response": "Lyon"}  # the output, proposed as the expected response
    assert record.source_trace_id == trace_id
    assert at.success[0].value == f"Added to regressions as record {record.record_id}\\: version 1\\."
    assert ("Open dataset", "datasets", "dataset=regressions") in links(at)
    at.selectbox(key=f"{key}_choice").select("regressions").run()
    at.button(key=f"{key}_add").click().run()
    assert "already holds this example" in at.success[0].value
    with TraceStore(db_path) as store:
        assert store.get_dataset("regressions").version == 1  # type: ignore[union-attr]


def test_creating_a_dataset_that_exists_is_an_error_not_a_crash(evals: Evals) -> None:
    trace_id = evals.traces_v1[0]
    at = open_page(app(), "trace_page.py", trace=trace_id)
    key = f"ds_{trace_id}"
    at.selectbox(key=f"{key}_choice").select("New dataset…").run()
    at.text_input(key=f"{key}_name").input("qa").run()
    at.button(key=f"{key}_add").click().run()
    assert not at.exception
    assert at.error[0].value == "dataset 'qa' already exists".replace("'", "\\'")


def test_a_run_is_compared_with_a_baseline_it_picks(evals: Evals) -> None:
    at = open_page(app(), "evaluation_page.py", run=evals.v2)
    picker = at.selectbox(key="eval_baseline")
    (label,) = picker.options  # the other run on the dataset, never this one
    assert label.startswith("prompt-v1 · ") and label.endswith(evals.v1[:8])
    picker.select_index(0).run()
    at.button(key="eval_compare").click().run()
    assert not at.exception, at.exception
    assert (at.query_params["a"], at.query_params["b"]) == (evals.v1, evals.v2)
    assert at.title[0].value == "Compare runs"


def test_comparison_shows_means_deltas_and_regressions_first(evals: Evals) -> None:
    at = open_page(app(), "evaluation_page.py", a=evals.v1, b=evals.v2)
    scorers = at.dataframe[0].value
    assert list(scorers["Scorer"]) == ["exact_match", "correctness"]
    examples = at.dataframe[1].value
    assert examples["Change"].iloc[0] == "▼ regressed"
    assert examples["Inputs"].iloc[0] == "Capital of France?"
    assert examples["Output A"].iloc[0] == "Paris" and examples["Output B"].iloc[0] == "Lyon"
    assert examples["correctness"].iloc[0] == "yes → no"
    at = select(at, "eval_compare_examples_All_1", 0)
    assert ("Open trace A", "trace", f"trace={evals.traces_v1[1]}") in links(at)
    assert ("Open trace B", "trace", f"trace={evals.traces_v2[1]}") in links(at)
    assert "judged prompt-v2 answer 1" in [t.value for t in at.text]
    at.button(key="eval_swap").click().run()
    assert (
        at.dataframe[1].value["Output A"].iloc[0] == "Lyon" or at.dataframe[1].value["Change"].iloc[0] != "▼ regressed"
    )


def test_comparing_an_unknown_run_says_so(evals: Evals) -> None:
    at = open_page(app(), "evaluation_page.py", a=evals.v1, b="nope")
    assert at.title[0].value == "Compare runs" and at.warning


def test_hostile_names_tags_and_missing_traces_are_text(db_path: Path) -> None:
    with TraceStore(db_path) as store:
        datasets.create(EVIL, description=EVIL, tags={EVIL: EVIL}, store=store).add(
            [{"inputs": {EVIL: EVIL}, "expectations": {"expected_response": EVIL}, "source_trace_id": "0" * 32}]
        )
        run_id = store.start_run(EVIL, tags={EVIL: EVIL}, dataset=EVIL, scorers=[EVIL])
        store.add_results(run_id, [{"example_index": 0, "trace_id": "0" * 32, "inputs": {EVIL: EVIL}}])
        store.add_scores(run_id, [{"example_index": 0, "scorer": EVIL, "value": EVIL, "rationale": EVIL}])
        store.finish_run(run_id, {f"{EVIL}/mean": 0.5}, status="failed", error=EVIL)
    pages = [
        select(open_page(app(), "evaluation_page.py"), "eval_runs_1", 0),
        select(open_page(app(), "evaluation_page.py", run=run_id), "eval_examples_1", 0),
        select(open_page(app(), "datasets_page.py", dataset=EVIL), "dataset_records_1_1", 0),
        open_page(app(), "datasets_page.py"),
    ]
    for at in pages:
        assert not at.get("html")
        for element in [*at.markdown, *at.caption]:
            assert not element.proto.allow_html
        shown = all_text(at) + "\n".join(e.value for e in [*at.error, *at.warning])
        shown += "\n".join(e.proto.label for e in at.get("page_link"))
        assert "<script>" not in shown and "](javascript" not in shown and ":red[" not in shown
    run_page = pages[1]
    assert run_page.title[0].value.startswith("Run: \\<script\\>")
    assert f"Open trace: trace {'0' * 32} is not in this store" in [c.value for c in run_page.caption]
    assert EVIL in [t.value for t in run_page.text]  # the rationale, as text


def test_runs_from_evaluate_show_and_compare(db_path: Path) -> None:
    from spanlite.evaluation import scorer
    from spanlite.evaluation.evaluate import evaluate

    @scorer
    def exact(outputs: str, expectations: dict[str, str]) -> bool:
        return outputs == expectations["expected_response"]

    with TraceStore(db_path) as store:
        qa = datasets.create("capitals", store=store)
        qa.add([{"inputs": {"country": c}, "expectations": {"expected_response": a}} for c, a in CAPITALS.items()])
        v1 = evaluate("capitals", predict_fn=lambda country: CAPITALS[country], scorers=[exact], name="v1", store=store)
        wrong = {**CAPITALS, "Italy": "Milan"}
        v2 = evaluate("capitals", predict_fn=lambda country: wrong[country], scorers=[exact], name="v2", store=store)
    spanlite.flush()
    at = open_page(app(), "evaluation_page.py")
    assert list(at.dataframe[0].value["Name"]) == ["v2", "v1"]
    assert at.dataframe[0].value["Metrics"].iloc[0] == f"exact/mean {2 / 3:.3g}"
    at = open_page(at, "evaluation_page.py", a=v1.run_id, b=v2.run_id)
    examples = at.dataframe[1].value
    assert list(examples["Change"]) == ["▼ regressed", "= same", "= same"]
    assert examples["Inputs"].iloc[0] == "Italy" and examples["Output B"].iloc[0] == "Milan"
    at = select(at, "eval_compare_examples_All_1", 0)
    assert [label for label, page, _ in links(at) if page == "trace"] == ["Open trace A", "Open trace B"]


def test_a_name_typed_and_add_clicked_at_once_makes_that_dataset(evals: Evals, db_path: Path) -> None:
    """A name typed and Add clicked straight away reach the app in one rerun (the field commits as it loses focus):
    the name typed is the one used, not the one the page last showed (which was empty)."""
    trace_id = evals.traces_v2[1]
    at = open_page(app(), "trace_page.py", trace=trace_id)
    key = f"ds_{trace_id}"
    at.selectbox(key=f"{key}_choice").select("New dataset…").run()
    at.text_input(key=f"{key}_name").input("typed-then-added")
    at.button(key=f"{key}_add").click().run()
    assert not at.error, at.error
    with TraceStore(db_path) as store:
        assert [d.name for d in store.list_datasets()] == ["qa", "typed-then-added"]
