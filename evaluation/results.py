"""What ``evaluate`` returns: the run's id, its metrics, and each example's result as stored.

Metrics (MLflow's names where it has them): ``"<scorer>/mean"`` for each scorer that gave a number (bools and
``"yes"``/``"no"`` as 1/0; other text is in no mean), and, only when there were any, ``"<scorer>/error_count"``
(examples the scorer could not score) and ``"error_count"`` (examples on which the app itself raised).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._aggregate import mean

if TYPE_CHECKING:
    import pandas

    from spanlite.store import RunResult

FRAME_COLUMNS = ("example_index", "inputs", "outputs", "expectations", "trace_id", "error")


@dataclasses.dataclass(frozen=True)
class EvaluationResult:
    """One evaluation run: ``run_id`` (for ``compare_runs``, ``spanlite eval show``), ``metrics`` such as
    ``{"correctness/mean": 0.8}``, and ``results``, one per example in order, each with its scores."""

    run_id: str
    metrics: dict[str, Any]
    results: list[RunResult]
    scorers: list[str]

    def to_dataframe(self) -> pandas.DataFrame:
        """One row per example: example_index, inputs, outputs, expectations, trace_id, error (the app's), then for
        each scorer ``<scorer>/value``, ``<scorer>/rationale`` and ``<scorer>/error``."""
        try:
            import pandas
        except ImportError:
            raise ImportError("to_dataframe needs pandas: pip install pandas (or 'spanlite[viewer]')") from None
        columns = list(FRAME_COLUMNS)
        columns += [f"{name}/{part}" for name in self.scorers for part in ("value", "rationale", "error")]
        rows = []
        for result in self.results:
            row = {column: getattr(result, column) for column in FRAME_COLUMNS}
            for name in self.scorers:
                score = result.scores.get(name)
                for part in ("value", "rationale", "error"):
                    row[f"{name}/{part}"] = getattr(score, part) if score else None
            rows.append(row)
        return pandas.DataFrame.from_records(rows, columns=columns)


def metrics_of(results: Sequence[RunResult], scorers: Sequence[str]) -> dict[str, Any]:
    """A run's aggregate metrics from its stored results (see the module's docstring)."""
    metrics: dict[str, Any] = {}
    for name in scorers:
        scores = [r.scores[name] for r in results if name in r.scores]
        average = mean(s.value for s in scores if s.error is None)
        if average is not None:
            metrics[f"{name}/mean"] = average
        if errors := sum(s.error is not None for s in scores):
            metrics[f"{name}/error_count"] = errors
    if app_errors := sum(r.error is not None for r in results):
        metrics["error_count"] = app_errors
    return metrics
