"""Evaluation datasets: named sets of records (inputs, expectations), versioned on every change.

Versions are ranges, append-only: a record belongs to versions ``added_in <= v < removed_in`` (``removed_in`` NULL
while it is in the latest). Each call that changes a dataset (add, remove, update = remove + add) makes one new
version; a call that changes nothing makes none. Any earlier version can be read as it was, and a run names the
version it used.

Records are deduplicated by content (their inputs and expectations, whatever the order of keys): a record whose
content the latest version already holds, or that an earlier record of the same call brought, is not added again
(its tags and source trace are then dropped with it). Records are user data and stored as given, as feedback is:
the redaction that span text goes through does not apply (records taken from traces carry the trace's text, which
was redacted when it was stored). Names follow MLflow's ``mlflow.genai.datasets`` where it has them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from ._json_values import from_json, to_json

if TYPE_CHECKING:
    import sqlite3

    from .query import TraceStore

RECORD_KEYS = ("inputs", "expectations", "tags", "source_trace_id")
_RECORDS = (
    "SELECT r.id AS record_id, d.name AS dataset, r.inputs, r.expectations, r.tags, r.source_trace_id, r.added_in, "
    "r.removed_in, r.created_ns FROM dataset_records r JOIN datasets d ON d.id = r.dataset_id"
)


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A dataset's description; ``version`` is its latest, ``size`` how many records that version holds."""

    name: str
    description: str | None
    tags: dict[str, Any]
    version: int
    size: int
    created_ns: int
    updated_ns: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class DatasetRecord:
    """One example: what goes in (``inputs``, the app's keyword arguments) and what should come out."""

    record_id: int
    dataset: str
    inputs: dict[str, Any]
    expectations: dict[str, Any]
    tags: dict[str, Any]
    source_trace_id: str | None
    added_in: int
    removed_in: int | None
    created_ns: int

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> DatasetRecord:
        parsed = {key: from_json(row[key]) for key in ("inputs", "expectations")}
        return cls(**{**row, **parsed, "tags": from_json(row["tags"]) or {}})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class _Prepared:
    """A record checked and turned into the row it is stored as."""

    inputs: str
    expectations: str
    tags: str | None
    source_trace_id: str | None
    digest: str


def create_dataset(
    store: TraceStore, name: str, *, description: str | None = None, tags: Mapping[str, Any] | None = None
) -> Dataset:
    _check_name(name)
    if description is not None and not isinstance(description, str):
        raise ValueError(f"a dataset's description is text, not {description!r}")
    tags_text = _tags(tags, f"dataset {name!r} tags")
    now = time.time_ns()
    with store.transaction() as conn:
        if conn.execute("SELECT 1 FROM datasets WHERE name = ?", [name]).fetchone():
            raise ValueError(f"dataset {name!r} already exists")
        conn.execute(
            "INSERT INTO datasets (name, description, tags, version, created_ns, updated_ns) VALUES (?, ?, ?, 0, ?, ?)",
            [name, description, tags_text, now, now],
        )
    return _required(store, name)


def get_dataset(store: TraceStore, name: str) -> Dataset | None:
    found = _datasets(store, "WHERE d.name = ?", [name])
    return found[0] if found else None


def list_datasets(store: TraceStore) -> list[Dataset]:
    return _datasets(store, "ORDER BY d.name", [])


def delete_dataset(store: TraceStore, name: str) -> bool:
    """Delete a dataset with every version of its records; runs that used it keep its name and version."""
    with store.transaction() as conn:
        row = conn.execute("SELECT id FROM datasets WHERE name = ?", [name]).fetchone()
        if row is None:
            return False
        conn.execute("DELETE FROM dataset_records WHERE dataset_id = ?", row)
        conn.execute("DELETE FROM datasets WHERE id = ?", row)
    return True


def add_records(store: TraceStore, name: str, records: Iterable[Mapping[str, Any]]) -> list[DatasetRecord]:
    """Add records ``{"inputs": {...}, "expectations": {...}, "tags"?: {...}, "source_trace_id"?: str}`` as one new
    version; returns the records added (none for content the dataset already holds). A bad record is a
    ``ValueError`` naming it, and nothing is added."""
    prepared = [_prepare(record, f"record {i}") for i, record in enumerate(_listed(records, "records"))]
    with store.transaction() as conn:
        return _change(conn, name, (), prepared)


def remove_records(store: TraceStore, name: str, record_ids: Iterable[int]) -> int:
    """Take records out of the dataset as one new version (earlier versions keep them); returns how many."""
    ids = _record_ids(_listed(record_ids, "record ids"))
    with store.transaction() as conn:
        _change(conn, name, ids, [])
    return len(ids)


def update_records(store: TraceStore, name: str, updates: Mapping[int, Mapping[str, Any]]) -> list[DatasetRecord]:
    """Replace records (by id) with new content, as one new version: each is removed and its new content added,
    under a new id. Returns the records added."""
    ids = _record_ids(list(updates))
    prepared = [_prepare(record, f"record {record_id}") for record_id, record in updates.items()]
    with store.transaction() as conn:
        return _change(conn, name, ids, prepared)


def records(store: TraceStore, name: str, version: int | None = None) -> list[DatasetRecord]:
    """The records of one version of a dataset (default: the latest), in the order they were added."""
    dataset = _required(store, name)
    if version is None:
        version = dataset.version
    elif isinstance(version, bool) or not isinstance(version, int) or not 0 <= version <= dataset.version:
        raise ValueError(f"dataset {name!r} has versions 0 to {dataset.version}, not {version!r}")
    rows = store.rows(
        f"{_RECORDS} WHERE d.name = ? AND r.added_in <= ? AND (r.removed_in IS NULL OR r.removed_in > ?) ORDER BY r.id",
        [name, version, version],
    )
    return [DatasetRecord.from_row(r) for r in rows]


def _change(conn: sqlite3.Connection, name: str, removed: Sequence[int], added: list[_Prepared]) -> list[DatasetRecord]:
    """Remove and add records in one new version, inside the caller's write transaction."""
    row = conn.execute("SELECT id, version FROM datasets WHERE name = ?", [name]).fetchone()
    if row is None:
        raise ValueError(f"no dataset {name!r}")
    dataset_id, version = row
    if removed:
        live = {
            record_id
            for (record_id,) in conn.execute(
                "SELECT id FROM dataset_records WHERE dataset_id = ? AND removed_in IS NULL "
                "AND id IN (SELECT value FROM json_each(?))",
                [dataset_id, orjson.dumps(removed).decode()],
            )
        }
        if missing := [i for i in removed if i not in live]:
            raise ValueError(f"dataset {name!r} has no record {', '.join(map(str, missing))} in its latest version")
    kept = [p.digest for p in added]
    held = {
        digest
        for (digest,) in conn.execute(
            "SELECT digest FROM dataset_records WHERE dataset_id = ? AND removed_in IS NULL "
            "AND digest IN (SELECT value FROM json_each(?)) AND id NOT IN (SELECT value FROM json_each(?))",
            [dataset_id, orjson.dumps(kept).decode(), orjson.dumps(list(removed)).decode()],
        )
    }
    new = []
    for record in added:
        if record.digest not in held:
            held.add(record.digest)
            new.append(record)
    if not removed and not new:
        return []
    version += 1
    now = time.time_ns()
    conn.execute(
        "UPDATE dataset_records SET removed_in = ? WHERE id IN (SELECT value FROM json_each(?))",
        [version, orjson.dumps(list(removed)).decode()],
    )
    conn.executemany(
        "INSERT INTO dataset_records (dataset_id, inputs, expectations, tags, source_trace_id, digest, added_in, "
        "created_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(dataset_id, r.inputs, r.expectations, r.tags, r.source_trace_id, r.digest, version, now) for r in new],
    )
    conn.execute("UPDATE datasets SET version = ?, updated_ns = ? WHERE id = ?", [version, now, dataset_id])
    cursor = conn.execute(f"{_RECORDS} WHERE r.dataset_id = ? AND r.added_in = ? ORDER BY r.id", [dataset_id, version])
    names = [d[0] for d in cursor.description]
    return [DatasetRecord.from_row(dict(zip(names, values))) for values in cursor.fetchall()]


def check_record(record: Any, what: str = "record") -> None:
    """``ValueError`` starting with ``what`` (``"line 3"``) if ``record`` cannot be added to a dataset."""
    _prepare(record, what)


def record_parts(
    record: Any, what: str, *, kind: str = "a record", keys: tuple[str, ...] = RECORD_KEYS
) -> tuple[Mapping[Any, Any], Mapping[Any, Any]]:
    """A record's (or an evaluation example's: ``kind``, ``keys``) inputs and expectations, or ``ValueError``
    starting with ``what`` when it is not a dict of ``keys`` holding a dict of inputs and one of expectations."""
    if not isinstance(record, Mapping):
        raise ValueError(f"{what}: {kind} is a dict with 'inputs' and 'expectations', not {type(record).__name__}")
    if unknown := sorted(set(map(str, record)) - set(keys)):
        raise ValueError(f"{what}: unknown keys {unknown}; {kind} has {', '.join(keys)}")
    inputs, expectations = record.get("inputs"), record.get("expectations") or {}
    if not isinstance(inputs, Mapping):
        raise ValueError(f"{what}: 'inputs' must be a dict of the app's arguments, not {type(inputs).__name__}")
    if not isinstance(expectations, Mapping):
        raise ValueError(f"{what}: 'expectations' must be a dict, e.g. {{'expected_response': ...}}")
    return inputs, expectations


def _prepare(record: Any, what: str) -> _Prepared:
    """Check one record and make its row; ``what`` names it in the error (its position, or the id it replaces)."""
    inputs, expectations = record_parts(record, what)
    source = record.get("source_trace_id")
    if source is not None and not (isinstance(source, str) and source):
        raise ValueError(f"{what}: 'source_trace_id' must be a trace id, not {source!r}")
    inputs_text = to_json(dict(inputs), f"{what} inputs")
    expectations_text = to_json(dict(expectations), f"{what} expectations")
    # what is kept, redacted, is what makes two records the same
    content = orjson.dumps([orjson.loads(inputs_text), orjson.loads(expectations_text)], option=orjson.OPT_SORT_KEYS)
    return _Prepared(
        inputs_text,
        expectations_text,
        _tags(record.get("tags"), f"{what} tags"),
        source,
        hashlib.sha256(content).hexdigest(),
    )


def _record_ids(ids: list[Any]) -> list[int]:
    if bad := [i for i in ids if isinstance(i, bool) or not isinstance(i, int) or not 0 < i < 2**63]:
        raise ValueError(f"record ids are the records' record_id numbers, not {bad[0]!r}")
    return sorted(set(ids))


def _tags(tags: Any, what: str) -> str | None:
    if tags is None or tags == {}:
        return None
    if not isinstance(tags, Mapping):
        raise ValueError(f"{what} must be a dict, not {type(tags).__name__}")
    return to_json(dict(tags), what)


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not name.strip() or "\x00" in name:
        raise ValueError(f"a dataset needs a name (non-empty text), not {name!r}")


def _listed(values: Any, what: str) -> list[Any]:
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
        raise ValueError(f"{what} must be a list, not {type(values).__name__}")
    return list(values)


def _datasets(store: TraceStore, clause: str, params: list[Any]) -> list[Dataset]:
    rows = store.rows(
        "SELECT d.name, d.description, d.tags, d.version, d.created_ns, d.updated_ns, "
        "(SELECT count(*) FROM dataset_records r WHERE r.dataset_id = d.id AND r.removed_in IS NULL) AS size "
        f"FROM datasets d {clause}",
        params,
    )
    return [Dataset(**{**r, "tags": from_json(r["tags"]) or {}}) for r in rows]


def _required(store: TraceStore, name: str) -> Dataset:
    if (dataset := get_dataset(store, name)) is None:
        raise ValueError(f"no dataset {name!r}")
    return dataset
