"""``spanlite.scorers``: the built-in code scorers and LLM judges, from ``spanlite.evaluation.scorers``.

>>> spanlite.evaluate(data, predict_fn=app, scorers=[spanlite.scorers.ExactMatch()])  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

# TODO(lead, at merge): the judges branch adds spanlite.evaluation.scorers; once it is here, replace this lazy
# forwarding with `from spanlite.evaluation.scorers import *` and its `__all__`, so type checkers see the names.


def __getattr__(name: str) -> Any:
    if name.startswith("__"):  # tools probing a module (__wrapped__, __path__) must not import the scorers
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module("spanlite.evaluation.scorers"), name)
