"""``spanlite.scorers``: the built-in code scorers and LLM judges, from ``spanlite.evaluation.scorers``.

>>> spanlite.evaluate(data, predict_fn=app, scorers=[spanlite.scorers.ExactMatch()])  # doctest: +SKIP
"""

from __future__ import annotations

from spanlite.evaluation.scorers import *  # noqa: F403 - this module is that one under the name users reach
from spanlite.evaluation.scorers import __all__ as __all__
