"""``TraceFilter``: which traces a search keeps, the one list of search filters.

``TraceStore.search_traces``, ``count_traces``, ``iter_traces`` and ``dataset_rows`` take a ``TraceFilter`` or its
fields as keywords; the CLI's options and the viewer's controls build one. The SQL that applies it lives with
the queries (``query._filters``), so building one loads no query code.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .feedback import FeedbackValue

Time = dt.datetime | float | int
FeedbackCondition = str | tuple[str, str, FeedbackValue]
# A model id's date suffix: gpt-4o-mini-2024-07-18 (OpenAI), claude-3-5-sonnet-20241022 (Anthropic).
DATE_SUFFIX = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8})$")
# The orders the traces list offers, by name (the viewer's picker, ``spanlite traces list --sort``): each keyset-paged
# through an index, ties broken by trace id.
SORTS: dict[str, tuple[str, bool]] = {
    "newest": ("start_ns", False),
    "oldest": ("start_ns", True),
    "slowest": ("duration_ms", False),
    "most-tokens": ("total_tokens", False),
    "most-cost": ("cost", False),
}


@dataclasses.dataclass(frozen=True)
class TraceFilter:
    """Traces matching every given field; ``None`` leaves a field out.

    ``since``/``until``: start time, a datetime (naive means UTC) or epoch seconds, ``until`` excluded.
    ``name`` matches a substring. ``status="ERROR"`` keeps every trace with a failed span, whatever its root's
    outcome; ``"OK"`` those that finished without one; ``"IN_PROGRESS"`` those whose root is not stored yet.
    ``kind``/``model`` keep traces that have such a span (a model with its dated ids: ``gpt-4o-mini`` finds
    ``gpt-4o-mini-2024-07-18`` but not ``gpt-4o-mini-audio``), ``service`` those with a span from that service (its
    resource's ``service.name``). ``tags`` must all be present; ``metadata`` keys must equal the values.
    ``min_duration_ms``/``max_duration_ms`` bound the trace's duration. ``text`` is a full-text search over span
    inputs and outputs. ``feedback`` conditions are ``"thumbs=false"``, ``"score<3"`` or ``("score", "<", 3)``, one
    or a list; ``has_feedback=False`` keeps traces nobody has rated
    yet; ``feedback_source`` ("human", "code", "llm_judge") limits both to feedback from that source, e.g. traces
    no human has rated, whatever a judge said. Both look at feedback on the trace itself, as the viewer's list
    shows it; ``feedback_on_spans=True`` makes them count feedback on any of its spans too (a 👎 on one step).
    ``min_cost`` (USD) keeps traces whose model calls cost at least that, as far as their prices are known: a
    trace with no known cost is left out.

    >>> store.search_traces(TraceFilter(tags=["prod"], text="refund", feedback="thumbs=false"))  # doctest: +SKIP
    """

    since: Time | None = None
    until: Time | None = None
    name: str | None = None
    status: str | None = None
    kind: str | None = None
    model: str | None = None
    service: str | None = None
    tags: Iterable[str] | None = None
    metadata: Mapping[str, Any] | None = None
    session_id: str | None = None
    user_id: str | None = None
    min_duration_ms: float | None = None
    max_duration_ms: float | None = None
    min_cost: float | None = None
    text: str | None = None
    feedback: Sequence[FeedbackCondition] | FeedbackCondition | None = None
    has_feedback: bool | None = None
    feedback_source: str | None = None
    feedback_on_spans: bool = False

    def __post_init__(self) -> None:
        if self.tags is not None and not isinstance(self.tags, tuple):  # a generator would serve one page only
            object.__setattr__(self, "tags", (self.tags,) if isinstance(self.tags, str) else tuple(self.tags))

    @classmethod
    def of(cls, base: TraceFilter | None, fields: Mapping[str, Any]) -> TraceFilter:
        """``base`` with ``fields`` (keywords a search was given) replacing its own; unknown names: ``TypeError``."""
        if base is None:
            return cls(**fields)
        return dataclasses.replace(base, **fields) if fields else base


def model_base(model: str) -> str:
    """A model id without its date suffix: what a model filter picks, matching every dated id of it."""
    return DATE_SUFFIX.sub("", model)
