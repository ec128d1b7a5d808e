"""Traces as evaluation rows: one per trace with the root's inputs and outputs and the feedback on it.

The shape an evaluation dataset wants: what went in, what came out, and what people (or judges) said about it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas

    from .filters import TraceFilter
    from .query import TraceStore


def dataset_rows(
    store: TraceStore, trace_filter: TraceFilter | None = None, /, **filters: Any
) -> Iterator[dict[str, Any]]:
    """One flat dict per trace matching a ``TraceFilter`` or its fields; feedback as ``feedback.<name>`` columns.

    A name rated by several authors gives the mean of numbers (the share of ``True`` for booleans) and the
    latest value otherwise; ``feedback.<name>.comments`` joins the comments.
    """
    for summary in store.iter_traces(trace_filter, **filters):
        trace = store.get_trace(summary.trace_id)
        if trace is None:  # deleted while we were reading
            continue
        root = trace.root
        row: dict[str, Any] = {
            "trace_id": summary.trace_id,
            "name": summary.name,
            "start_ns": summary.start_ns,
            "duration_ms": summary.duration_ms,
            "status": summary.status,
            "session_id": summary.session_id,
            "user_id": summary.user_id,
            "tags": summary.tags,
            "metadata": summary.metadata,
            "inputs": root.inputs if root else None,
            "outputs": root.outputs if root else None,
            "input_tokens": summary.input_tokens,
            "output_tokens": summary.output_tokens,
        }
        by_name: dict[str, list[Any]] = {}
        for fb in trace.feedback:
            if fb.span_id is None:
                by_name.setdefault(fb.name, []).append(fb)
        for name, entries in by_name.items():
            values = [f.value for f in entries]
            numeric = all(isinstance(v, (int, float)) for v in values)
            row[f"feedback.{name}"] = sum(values) / len(values) if numeric and len(values) > 1 else values[-1]
            comments = [f.comment for f in entries if f.comment]
            if comments:
                row[f"feedback.{name}.comments"] = "\n".join(comments)
        yield row


def to_dataframe(store: TraceStore, trace_filter: TraceFilter | None = None, /, **filters: Any) -> pandas.DataFrame:
    """``dataset_rows`` as a pandas DataFrame (pandas comes with ``spanlite[viewer]``)."""
    try:
        import pandas
    except ImportError:
        raise ImportError("to_dataframe needs pandas: pip install pandas (or 'spanlite[viewer]')") from None
    return pandas.DataFrame.from_records(list(dataset_rows(store, trace_filter, **filters)))
