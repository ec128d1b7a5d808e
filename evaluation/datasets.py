"""Evaluation datasets for users: a ``Dataset`` handle on a named, versioned set of records in a trace store.

A record is ``{"inputs": {...}, "expectations": {...}}``: ``inputs`` are the app's keyword arguments, and
``expectations`` use MLflow's keys where one exists (``expected_response``, ``expected_facts``). Every change makes a
new version and every version stays readable (``spanlite.store.eval_datasets`` says how, and how records are
deduplicated). These functions take the store; ``spanlite.datasets`` passes the configured one.

>>> qa = create("qa", store=store)  # doctest: +SKIP
>>> qa.add_traces(store.search_traces(feedback="thumbs=true"))  # doctest: +SKIP
>>> qa.version, len(qa.records(version=1))  # doctest: +SKIP
"""

from __future__ import annotations

import builtins
import math
import sys
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

from spanlite.store.records import Trace

if TYPE_CHECKING:
    import pandas

    from spanlite.store import Dataset as DatasetInfo
    from spanlite.store import DatasetRecord, TraceStore, TraceSummary

RECORD_COLUMNS = ("record_id", "inputs", "expectations", "tags", "source_trace_id")


class Dataset:
    """A named dataset in ``store``; reads go to the store each time, so ``version`` is always the latest."""

    def __init__(self, name: str, store: TraceStore) -> None:
        self.name = name
        self.store = store

    def __repr__(self) -> str:
        return f"Dataset({self.name!r})"  # no read: a repr must not fail on a deleted dataset

    @property
    def info(self) -> DatasetInfo:
        """The dataset as stored now: description, tags, latest version, size; ``ValueError`` once deleted."""
        if (info := self.store.get_dataset(self.name)) is None:
            raise ValueError(f"no dataset {self.name!r}")
        return info

    @property
    def version(self) -> int:
        return self.info.version

    def add(self, records: Iterable[Mapping[str, Any]] | pandas.DataFrame) -> builtins.list[DatasetRecord]:
        """Add records (a list of dicts, or a DataFrame with ``inputs`` and ``expectations`` columns) as one new
        version; returns those added (content the dataset holds already is skipped). A bad record is a
        ``ValueError`` naming it, and nothing is added."""
        return self.store.add_records(self.name, _rows(records))

    def add_traces(self, traces: Iterable[Trace | TraceSummary | str]) -> builtins.list[DatasetRecord]:
        """Add traces (a ``search_traces`` page, a list of ``Trace`` or of trace ids) as records: the root span's
        inputs (a dict of arguments, else ``{"input": ...}``), its outputs as the proposed
        ``{"expected_response": ...}``, and any expectations logged on the trace, which take precedence."""
        return self.store.add_records(self.name, [self._from_trace(t) for t in traces])

    def remove(self, record_ids: Iterable[int]) -> int:
        """Take records out as one new version; earlier versions keep them."""
        return self.store.remove_records(self.name, record_ids)

    def records(self, version: int | None = None) -> builtins.list[DatasetRecord]:
        """The records of one version (default: the latest), in the order they were added."""
        return self.store.records(self.name, version)

    def to_dataframe(self, version: int | None = None) -> pandas.DataFrame:
        """One row per record: record_id, inputs, expectations, tags, source_trace_id (pandas comes with
        ``spanlite[viewer]``)."""
        try:
            import pandas
        except ImportError:
            raise ImportError("to_dataframe needs pandas: pip install pandas (or 'spanlite[viewer]')") from None
        rows = [{c: getattr(r, c) for c in RECORD_COLUMNS} for r in self.records(version)]
        return pandas.DataFrame.from_records(rows, columns=builtins.list(RECORD_COLUMNS))

    def _from_trace(self, trace: Trace | TraceSummary | str) -> dict[str, Any]:
        full, inputs, outputs, logged = trace_example(trace, self.store)
        expectations = {} if outputs is None else {"expected_response": outputs}
        expectations.update(logged)  # ground truth logged on the trace wins over its own answer
        return {"inputs": inputs, "expectations": expectations, "source_trace_id": full.trace_id}


def trace_example(
    trace: Trace | TraceSummary | str, store: TraceStore
) -> tuple[Trace, dict[str, Any], Any, dict[str, Any]]:
    """A stored trace as an example: the trace, its root's inputs (a dict of arguments, else ``{"input": ...}``) and
    outputs, and the expectations logged on the trace; ``ValueError`` if its root span is not stored (yet)."""
    trace_id = trace if isinstance(trace, str) else trace.trace_id
    full = trace if isinstance(trace, Trace) else store.get_trace(trace_id)
    if full is None or (root := full.root) is None:
        raise ValueError(f"trace {trace_id} has no root span stored (yet), so no example to take from it")
    inputs = root.inputs if isinstance(root.inputs, dict) else {"input": root.inputs}
    expectations = {e.name: e.value for e in store.get_expectations(trace_id) if e.span_id is None}
    return full, inputs, root.outputs, expectations


def create(
    name: str, *, description: str | None = None, tags: Mapping[str, Any] | None = None, store: TraceStore
) -> Dataset:
    """A new, empty dataset (version 0); ``ValueError`` if ``name`` is taken."""
    store.create_dataset(name, description=description, tags=tags)
    return Dataset(name, store)


def get(name: str, *, store: TraceStore) -> Dataset:
    """The dataset called ``name``; ``ValueError`` if there is none."""
    if store.get_dataset(name) is None:
        raise ValueError(f"no dataset {name!r}")
    return Dataset(name, store)


def list(*, store: TraceStore) -> builtins.list[Dataset]:  # shadows the builtin here: `datasets.list()` reads best
    """Every dataset, by name."""
    return [Dataset(info.name, store) for info in store.list_datasets()]


def delete(name: str, *, store: TraceStore) -> bool:
    """Delete a dataset and all its versions; ``False`` if there was none. Runs that used it keep its name."""
    return store.delete_dataset(name)


def _rows(records: Iterable[Mapping[str, Any]] | pandas.DataFrame) -> Iterable[Mapping[str, Any]]:
    """Records as dicts: a DataFrame's rows (missing cells dropped), anything else as given for the store to check."""
    if "pandas" not in sys.modules:  # no DataFrame then, and no importing pandas to find out
        return cast("Iterable[Mapping[str, Any]]", records)
    import pandas

    if not isinstance(records, pandas.DataFrame):
        return records
    return [
        {str(key): value for key, value in row.items() if not (isinstance(value, float) and math.isnan(value))}
        for row in records.to_dict("records")
    ]
