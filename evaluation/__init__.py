"""Evaluation: scorers that say how good an app's answers are, and datasets of examples (inputs and what should come
out), versioned in the trace store.

>>> from spanlite.evaluation import datasets
>>> qa = datasets.create("qa", store=store)  # doctest: +SKIP
>>> qa.add([{"inputs": {"question": "2+2?"}, "expectations": {"expected_response": "4"}}])  # doctest: +SKIP
"""

from __future__ import annotations

from . import datasets
from .compare import ExampleDelta, RunComparison, ScorerDelta, compare_runs
from .datasets import Dataset
from .scorer import Score, Scorer, scorer

__all__ = [
    "Dataset",
    "ExampleDelta",
    "RunComparison",
    "Score",
    "Scorer",
    "ScorerDelta",
    "compare_runs",
    "datasets",
    "scorer",
]
