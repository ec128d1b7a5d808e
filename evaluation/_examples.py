"""What ``evaluate`` evaluates: its ``data`` (records, a DataFrame, a dataset, or stored traces) as examples.

Records are ``{"inputs": {...}, "expectations": {...}}``, optionally with ``outputs`` already made (scored as they
are when there is no ``predict_fn``). Traces are scored as they are: their root span's inputs and outputs, and the
expectations logged on them.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import orjson

from spanlite.store.eval_datasets import record_parts
from spanlite.store.records import Trace, TraceSummary

from .datasets import Dataset, trace_example

if TYPE_CHECKING:
    from spanlite.store import TraceStore

RECORD_KEYS = ("inputs", "expectations", "outputs", "tags", "source_trace_id")


@dataclasses.dataclass
class Example:
    """One example: what goes in, what should come out, and (for stored traces, or once predicted) what did."""

    index: int
    inputs: dict[str, Any]
    expectations: dict[str, Any]
    outputs: Any = None
    record_id: int | None = None
    trace_id: str | None = None
    trace: Trace | None = None
    error: str | None = None


@dataclasses.dataclass(frozen=True)
class Source:
    """Where the examples come from: a dataset's name and version (recorded on the run), or given data."""

    dataset: str | None
    version: int | None
    data: Any
    traces: bool


def source_of(data: Any, store: TraceStore) -> Source:
    """What ``data`` is, read no further than needed to start the run; ``ValueError`` for a dataset not stored,
    ``TypeError`` for data of no kind evaluate takes."""
    if isinstance(data, Dataset):
        data = data.name
    if isinstance(data, str):
        if (info := store.get_dataset(data)) is None:
            raise ValueError(f"no dataset {data!r}")
        return Source(data, info.version, None, traces=False)
    if _is_dataframe(data):
        return Source(None, None, data, traces=False)
    if isinstance(data, Mapping) or not isinstance(data, Iterable):
        raise TypeError(
            "evaluate takes a list of {'inputs': ..., 'expectations': ...} dicts, a pandas DataFrame, a dataset "
            f"(or its name), or traces; not {type(data).__name__}"
        )
    items = list(data)
    traces = bool(items) and all(isinstance(item, Trace | TraceSummary) for item in items)
    return Source(None, None, items, traces)


def load(source: Source, store: TraceStore) -> list[Example]:
    """The examples, in order; ``ValueError`` naming the first bad one."""
    if source.dataset is not None:
        return [
            Example(i, r.inputs, r.expectations, record_id=r.record_id)
            for i, r in enumerate(store.records(source.dataset, source.version))
        ]
    if source.traces:
        examples = []
        for i, item in enumerate(source.data):
            try:
                examples.append(load_trace(item, store, i))
            except ValueError as exc:
                raise ValueError(f"example {i}: {exc}") from None
        return examples
    rows = _dataframe_rows(source.data) if _is_dataframe(source.data) else source.data
    return [_from_record(i, row) for i, row in enumerate(rows)]


def _from_record(index: int, record: Any) -> Example:
    what = f"example {index}"
    inputs, expectations = record_parts(record, what, kind="an example", keys=RECORD_KEYS)
    if not all(isinstance(key, str) for key in inputs):
        raise ValueError(f"{what}: the keys of 'inputs' are the app's argument names (text)")
    try:
        orjson.dumps([dict(inputs), dict(expectations)])
    except TypeError as exc:
        raise ValueError(f"{what}: its inputs and expectations must be JSON-serialisable: {exc}") from None
    return Example(index, dict(inputs), dict(expectations), outputs=record.get("outputs"))


def load_trace(item: Trace | TraceSummary, store: TraceStore, index: int = 0) -> Example:
    """A stored trace as an example: its root's inputs (a dict of arguments, else ``{"input": ...}``) and outputs,
    and the expectations logged on it; ``ValueError`` if it has no root stored."""
    trace, inputs, outputs, expectations = trace_example(item, store)
    return Example(index, inputs, expectations, outputs=outputs, trace_id=trace.trace_id, trace=trace)


def _is_dataframe(data: Any) -> bool:
    if "pandas" not in sys.modules:  # no DataFrame then, and no importing pandas to find out
        return False
    import pandas

    return isinstance(data, pandas.DataFrame)


def _dataframe_rows(frame: Any) -> list[dict[str, Any]]:
    """A DataFrame's rows as records, missing cells (NaN) dropped."""
    return [
        {str(key): value for key, value in row.items() if not (isinstance(value, float) and math.isnan(value))}
        for row in frame.to_dict("records")
    ]
