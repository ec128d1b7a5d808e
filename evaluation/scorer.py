"""What a scorer is: a named check that looks at one example and says a value, and why.

Code scorers come from ``@scorer`` on a function; LLM judges (``spanlite.evaluation.judges``) and the built-in
checks (``spanlite.evaluation.scorers``) subclass ``Scorer``. ``evaluate()`` calls each with the example's fields by
keyword; whatever a scorer raises is that example's error for that scorer, never the run's.

>>> @scorer
... def concise(outputs: str) -> bool:
...     return len(outputs) < 20
>>> concise(outputs="Paris.")
Score(value=True, rationale=None, error=None, raw=None)
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, overload

if TYPE_CHECKING:
    from spanlite.store.records import Trace

FIELDS = ("inputs", "outputs", "expectations", "trace")
ScoreValue = bool | int | float | str


@dataclasses.dataclass(frozen=True)
class Score:
    """A scorer's verdict: a ``value`` and its ``rationale``; or the ``error`` that kept it from one (with ``raw``,
    a judge's answer that could not be read)."""

    value: ScoreValue | None = None
    rationale: str | None = None
    error: str | None = None
    raw: str | None = None


class Scorer:
    """A named check on one example. Subclasses set ``name`` and implement ``score``, taking the fields they use
    (``inputs``, ``outputs``, ``expectations``, ``trace``) as keywords; ``source`` is what the feedback it writes is
    marked as made by (``"code"``, ``"llm_judge"``)."""

    source: ClassVar[str] = "code"
    name: str

    def score(self, **fields: Any) -> Score | ScoreValue:
        raise NotImplementedError

    def __call__(
        self,
        *,
        inputs: Any = None,
        outputs: Any = None,
        expectations: dict[str, Any] | None = None,
        trace: Trace | None = None,
    ) -> Score:
        """Score one example; a plain value comes back as ``Score(value)``."""
        result = self.score(inputs=inputs, outputs=outputs, expectations=expectations or {}, trace=trace)
        return as_score(result, self.name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class FunctionScorer(Scorer):
    """A function as a scorer: called with just the fields its parameters name."""

    def __init__(self, func: Callable[..., Any], name: str | None = None) -> None:
        params = inspect.signature(func).parameters
        unknown = [p for p in params if p not in FIELDS]
        if unknown:
            among = ", ".join(FIELDS)
            raise TypeError(f"scorer {func.__name__!r} takes {', '.join(unknown)}; its parameters must be in {among}")
        self.func = func
        self.name = name or func.__name__
        self._wants = tuple(params)

    def score(self, **fields: Any) -> Score | ScoreValue:
        result: Score | ScoreValue = self.func(**{key: fields[key] for key in self._wants})
        return result


@overload
def scorer(func: Callable[..., Any], /) -> FunctionScorer: ...
@overload
def scorer(*, name: str | None = None) -> Callable[[Callable[..., Any]], FunctionScorer]: ...
def scorer(
    func: Callable[..., Any] | None = None, /, *, name: str | None = None
) -> FunctionScorer | Callable[[Callable[..., Any]], FunctionScorer]:
    """Make a code scorer of a function that returns a bool, a number, a string or a ``Score``."""
    if func is None:
        return lambda f: FunctionScorer(f, name)
    return FunctionScorer(func, name)


def as_score(result: Any, name: str) -> Score:
    """``result`` as a ``Score``; ``TypeError`` for anything a store cannot keep as feedback."""
    if isinstance(result, Score):
        return result
    if isinstance(result, bool | int | str) or (isinstance(result, float) and math.isfinite(result)):
        return Score(result)
    raise TypeError(f"scorer {name!r} returned {type(result).__name__}; expected bool, number, str or Score")
