"""Evaluation: scorers that say how good an app's answers are, datasets of examples (inputs and what should come
out) versioned in the trace store, evaluation runs (``evaluate.evaluate``: not re-exported here, where it would hide
its module) and ``compare_runs``. These take the store as ``store=``; ``spanlite.evaluate`` and the rest of the face
pass the configured one.

>>> from spanlite.evaluation import datasets
>>> qa = datasets.create("qa", store=store)  # doctest: +SKIP
>>> qa.add([{"inputs": {"question": "2+2?"}, "expectations": {"expected_response": "4"}}])  # doctest: +SKIP
"""

from __future__ import annotations

from . import datasets
from .compare import ExampleDelta, RunComparison, ScorerDelta, compare_runs
from .datasets import Dataset
from .results import EvaluationResult
from .scorer import Score, Scorer, scorer

__all__ = [
    "Dataset",
    "EvaluationResult",
    "ExampleDelta",
    "RunComparison",
    "Score",
    "Scorer",
    "ScorerDelta",
    "compare_runs",
    "datasets",
    "scorer",
]
