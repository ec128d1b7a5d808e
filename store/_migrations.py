"""The store's schema, one ordered function per step (``STEPS``); applied when a store is opened.

The steps are plain functions, handed to sqlite-utils' migration runner only when one is due (``registry``): an
up-to-date store is checked against ``NAMES`` with one query, so the app's writer never imports sqlite-utils,
which imports pandas and numpy wherever they are installed.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    from sqlite_utils import Database
    from sqlite_utils.migrations import Migrations

logger = logging.getLogger("spanlite")
_HAS_USAGE = "(input_tokens IS NOT NULL OR output_tokens IS NOT NULL)"
MIGRATION_SET = "spanlite"  # the name its rows in ``_sqlite_migrations`` carry


def m001_initial(db: Database) -> None:
    db.table("spans").create(
        {
            "span_id": str,
            "trace_id": str,
            "parent_id": str,
            "name": str,
            "kind": str,
            "start_ns": int,
            "end_ns": int,
            "status": str,
            "status_message": str,
            "inputs": str,
            "outputs": str,
            "attributes": str,
            "events": str,
            "model": str,
            "input_tokens": int,
            "output_tokens": int,
        },
        pk="span_id",
        not_null={"trace_id", "name", "kind", "start_ns", "end_ns", "status"},
    )
    db.table("spans").create_index(["trace_id"])
    db.table("spans").create_index(["kind", "start_ns"])
    db.table("spans").create_index(["model", "start_ns"])
    db.table("spans").enable_fts(["inputs", "outputs"], create_triggers=True)

    db.table("traces").create(
        {
            "trace_id": str,
            "name": str,
            "start_ns": int,
            "end_ns": int,
            "duration_ms": float,
            "status": str,
            "root_span_id": str,
            "session_id": str,
            "user_id": str,
            "tags": str,
            "metadata": str,
            "input_preview": str,
            "output_preview": str,
            "span_count": int,
            "input_tokens": int,
            "output_tokens": int,
            "error_count": int,
        },
        pk="trace_id",
        not_null={"start_ns", "end_ns", "status", "span_count"},
    )
    db.table("traces").create_index(["start_ns"])
    db.table("traces").create_index(["session_id", "start_ns"])
    db.table("traces").create_index(["status", "start_ns"])
    # One row per (tag, trace) so that a tag filter is an index lookup, not a scan of every trace's JSON.
    db.execute(
        "CREATE TABLE trace_tags (tag TEXT NOT NULL, trace_id TEXT NOT NULL, PRIMARY KEY (tag, trace_id)) WITHOUT ROWID"
    )
    db.execute("CREATE INDEX idx_trace_tags_trace_id ON trace_tags (trace_id)")

    db.table("feedback").create(
        {
            "id": int,
            "trace_id": str,
            "span_id": str,
            "name": str,
            "value": str,
            "source": str,
            "author": str,
            "comment": str,
            "created_ns": int,
            "updated_ns": int,
            "history": str,
        },
        pk="id",
        not_null={"trace_id", "name", "source", "created_ns", "updated_ns"},
    )
    # NULL span ids and authors would never collide in a plain unique index; coalesce them.
    db.execute(
        "CREATE UNIQUE INDEX idx_feedback_key ON feedback (trace_id, coalesce(span_id, ''), name, coalesce(author, ''))"
    )

    # Counters the store keeps about itself, e.g. spans a process had to drop.
    db.table("counters").create({"name": str, "value": int}, pk="name")


def m002_feedback_definitions(db: Database) -> None:
    # What feedback a team collects (e.g. `correctness` bool, `helpfulness` 1-5, `category` from a list).
    db.table("feedback_definitions").create(
        {
            "name": str,
            "type": str,
            "min_value": float,
            "max_value": float,
            "categories": str,
            "description": str,
            "created_ns": int,
        },
        pk="name",
        not_null={"type", "created_ns"},
    )
    db.table("feedback").create_index(["name", "trace_id"])


def m003_index_text_per_batch(db: Database) -> None:
    # The writer indexes each batch's inputs/outputs with one INSERT ... SELECT, about three times cheaper than
    # a trigger per row; the delete trigger stays so that deleting spans keeps the index exact.
    db.execute("DROP TRIGGER IF EXISTS spans_ai")
    db.execute("DROP TRIGGER IF EXISTS spans_au")


def m004_text_index_trails_writes(db: Database) -> None:
    # See _text_index: the index catches up after writes; only indexed rows may be deleted from it.
    db.execute("DROP TRIGGER IF EXISTS spans_ad")
    db.execute(
        "CREATE TRIGGER spans_ad AFTER DELETE ON spans "
        "WHEN old.rowid <= (SELECT value FROM counters WHERE name = 'fts_rowid') BEGIN "
        "INSERT INTO spans_fts (spans_fts, rowid, inputs, outputs) "
        "VALUES ('delete', old.rowid, old.inputs, old.outputs); END"
    )
    db.execute("INSERT OR REPLACE INTO counters (name, value) SELECT 'fts_rowid', coalesce(max(rowid), 0) FROM spans")


def m005_text_index_without_column_sizes(db: Database) -> None:
    # Search never ranks, so the per-span column sizes FTS5 keeps for bm25 were a fifth of the cost of indexing
    # for nothing. Options are fixed when the table is made: make it again, empty, and let it catch up as new
    # spans do (_text_index), so opening a large store stays quick; the first text search indexes what is left.
    db.execute("DROP TRIGGER IF EXISTS spans_ad")
    db.execute("DROP TABLE IF EXISTS spans_fts")
    db.execute("CREATE VIRTUAL TABLE spans_fts USING fts5(inputs, outputs, content='spans', columnsize=0)")
    db.execute(
        "CREATE TRIGGER spans_ad AFTER DELETE ON spans "
        "WHEN old.rowid <= (SELECT value FROM counters WHERE name = 'fts_rowid') BEGIN "
        "INSERT INTO spans_fts (spans_fts, rowid, inputs, outputs) "
        "VALUES ('delete', old.rowid, old.inputs, old.outputs); END"
    )
    db.execute("INSERT OR REPLACE INTO counters (name, value) VALUES ('fts_rowid', 0)")


def m006_model_index_only_where_a_model_is(db: Database) -> None:
    # Most spans name no model, and every insert paid for their entries in the (model, start_ns) index though no
    # query looks them up: SQLite uses a partial index WHERE model IS NOT NULL for any `model = ?`.
    db.execute("DROP INDEX IF EXISTS idx_spans_model_start_ns")
    db.execute("CREATE INDEX idx_spans_model_start_ns ON spans (model, start_ns) WHERE model IS NOT NULL")


def m007_spans_keyed_by_trace(db: Database) -> None:
    # Span ids are random, so the unique index on span_id alone took every new span's entry to a random page: a
    # batch of 500 spans dirtied about 500 index pages, each written whole to the WAL and again at the checkpoint,
    # and on a store of some 250k spans storing a span cost 100 µs of CPU and 38 KB of writes. Keyed by
    # (trace_id, span_id), which is also a span's identity in OTel, a batch's spans land on one page per trace;
    # the key also serves every lookup the trace_id index did. A rowid table's key cannot change in place, so the
    # table is copied, rowids kept: the text index refers to spans by rowid.
    columns = ", ".join(
        f"[{c.name}] {c.type}{' NOT NULL' if c.notnull or c.name == 'span_id' else ''}"
        for c in db.table("spans").columns
    )
    names = ", ".join(f"[{c.name}]" for c in db.table("spans").columns)
    if (spans := db.execute("SELECT coalesce(max(rowid), 0) FROM spans").fetchone()[0]) > 100_000:
        logger.warning("spanlite is re-keying the store's %d spans by trace, once: about 12 s a million", spans)
    db.execute("DROP TRIGGER IF EXISTS spans_ad")
    db.execute(f"CREATE TABLE spans_by_trace ({columns}, PRIMARY KEY (trace_id, span_id))")
    db.execute(f"INSERT INTO spans_by_trace (rowid, {names}) SELECT rowid, {names} FROM spans ORDER BY rowid")
    db.execute("DROP TABLE spans")
    db.execute("ALTER TABLE spans_by_trace RENAME TO spans")
    db.execute("CREATE INDEX idx_spans_kind_start_ns ON spans (kind, start_ns)")
    db.execute("CREATE INDEX idx_spans_model_start_ns ON spans (model, start_ns) WHERE model IS NOT NULL")
    db.execute(
        "CREATE TRIGGER spans_ad AFTER DELETE ON spans "
        "WHEN old.rowid <= (SELECT value FROM counters WHERE name = 'fts_rowid') BEGIN "
        "INSERT INTO spans_fts (spans_fts, rowid, inputs, outputs) "
        "VALUES ('delete', old.rowid, old.inputs, old.outputs); END"
    )


def m008_usage_counted_once_per_model_call(db: Database) -> None:
    # A model call reported by nested spans carries the same usage on each (LlamaIndex's chat over its own
    # complete, under OpenInference); a trace now counts it once, the span whose parent has the same usage adding
    # nothing (_writer). The writer finds a new span's stored children with usage through this small index; the
    # totals stored before are corrected here.
    db.execute(
        "CREATE INDEX idx_spans_usage_by_parent ON spans (trace_id, parent_id) "
        "WHERE input_tokens IS NOT NULL OR output_tokens IS NOT NULL"
    )
    repeated = (
        "FROM spans c JOIN spans p ON p.trace_id = c.trace_id AND p.span_id = c.parent_id "
        "WHERE (c.input_tokens IS NOT NULL OR c.output_tokens IS NOT NULL) AND c.span_id != c.parent_id "
        "AND p.input_tokens IS c.input_tokens AND p.output_tokens IS c.output_tokens"
    )
    db.execute(
        f"UPDATE traces SET "
        f"input_tokens = input_tokens - coalesce((SELECT sum(c.input_tokens) {repeated} "
        f"AND c.trace_id = traces.trace_id), 0), "
        f"output_tokens = output_tokens - coalesce((SELECT sum(c.output_tokens) {repeated} "
        f"AND c.trace_id = traces.trace_id), 0) "
        f"WHERE trace_id IN (SELECT c.trace_id {repeated})"
    )


def m009_error_traces_index(db: Database) -> None:
    # "Traces with errors" are those with a failed span, whatever their root says (a recovered failure, or a root
    # not stored yet): the error filter walks them newest first through this index, which holds only them.
    db.execute("CREATE INDEX idx_traces_errors_start_ns ON traces (start_ns) WHERE error_count > 0")


def m010_span_links(db: Database) -> None:
    # The spans a span links to (a batch consumer to the requests it serves, say): JSON, as its events are.
    db.table("spans").add_column("links", str)


def m011_resources(db: Database) -> None:
    # What a span's resource says about where it ran (service.name and .version, deployment.environment, host.name,
    # ...), kept once per distinct resource rather than in each span's row: a process's every span shares one.
    # ``trace_resources`` says which resources a trace's spans came from, so that a service filter is an index
    # lookup, as a tag filter is; its rows are the trace's resources the Trace page shows.
    db.table("resources").create({"id": int, "service": str, "attributes": str}, pk="id", not_null={"attributes"})
    db.execute("CREATE UNIQUE INDEX idx_resources_attributes ON resources (attributes)")
    db.execute("CREATE INDEX idx_resources_service ON resources (service) WHERE service IS NOT NULL")
    db.table("spans").add_column("resource_id", int)
    db.execute(
        "CREATE TABLE trace_resources (resource_id INTEGER NOT NULL, trace_id TEXT NOT NULL, "
        "PRIMARY KEY (resource_id, trace_id)) WITHOUT ROWID"
    )
    db.execute("CREATE INDEX idx_trace_resources_trace_id ON trace_resources (trace_id)")
    # Of a resource, a store kept only service.name, among each received span's attributes: those traces can be
    # found by service too. One read of every span, without writing them.
    if (spans := db.execute("SELECT coalesce(max(rowid), 0) FROM spans").fetchone()[0]) > 100_000:
        logger.warning("spanlite is reading the store's %d spans for their services, once: about 3 s a million", spans)
    db.execute(
        "CREATE TEMP TABLE span_services AS SELECT DISTINCT json_extract(attributes, '$.\"service.name\"') AS service, "
        "trace_id FROM spans WHERE instr(attributes, '\"service.name\"') AND json_valid(attributes)"
    )
    db.execute(
        "INSERT INTO resources (service, attributes) SELECT DISTINCT service, json_object('service.name', service) "
        "FROM span_services WHERE service IS NOT NULL"
    )
    db.execute(
        "INSERT INTO trace_resources (resource_id, trace_id) SELECT DISTINCT r.id, s.trace_id FROM span_services s "
        "JOIN resources r ON r.service = s.service"
    )
    db.execute("DROP TABLE span_services")


def m012_cost(db: Database) -> None:
    # What each model call cost (USD), reckoned when a span is stored from the bundled prices and the app's own
    # (``prices``); a trace's total of its spans' known costs, NULL when none of them has one. Spans stored before
    # are priced here from their attributes, at the bundled prices; a trace counts a call reported by nested spans
    # once, as its token totals do (m008).
    from .prices import PriceTable, usage_of

    table = PriceTable.bundled()

    def cost(attributes: str | None) -> float | None:
        try:
            usage = usage_of(orjson.loads(attributes)) if attributes else None
        except (orjson.JSONDecodeError, TypeError, AttributeError):
            return None
        return None if usage is None else table.cost(usage)

    db.table("spans").add_column("cost", float)
    db.table("traces").add_column("cost", float)
    db.conn.create_function("spanlite_cost", 1, cost, deterministic=True)
    db.execute(f"UPDATE spans SET cost = spanlite_cost(attributes) WHERE {_HAS_USAGE}")
    db.execute(
        "UPDATE traces SET cost = (SELECT sum(s.cost) FROM spans s WHERE s.trace_id = traces.trace_id "
        "AND NOT EXISTS (SELECT 1 FROM spans p WHERE p.trace_id = s.trace_id AND p.span_id = s.parent_id "
        "AND s.span_id != s.parent_id AND p.input_tokens IS s.input_tokens AND p.output_tokens IS s.output_tokens)) "
        "WHERE trace_id IN (SELECT trace_id FROM spans WHERE cost IS NOT NULL)"
    )


# m013's tables, which ``_schema`` makes too for a new store.
EVALUATION_SCHEMA = (
    # Ground truth on a trace (or one of its spans), one row per (trace, span, name): what an answer should have been,
    # kept apart from feedback (a judgement of what it was) so that no feedback count, filter or thumbs sees it.
    """CREATE TABLE expectations (
   id INTEGER PRIMARY KEY,
   trace_id TEXT NOT NULL,
   span_id TEXT,
   name TEXT NOT NULL,
   value TEXT NOT NULL,
   source TEXT NOT NULL,
   author TEXT,
   created_ns INTEGER NOT NULL,
   updated_ns INTEGER NOT NULL
)""",
    "CREATE UNIQUE INDEX idx_expectations_key ON expectations (trace_id, coalesce(span_id, ''), name)",
    # Evaluation datasets, versioned by ranges: a record belongs to versions [added_in, removed_in), and a change
    # only appends records or closes ranges, so every earlier version can still be read. Ids never come back
    # (AUTOINCREMENT): a run's results name the records they came from, whose dataset may since have been deleted.
    """CREATE TABLE datasets (
   id INTEGER PRIMARY KEY AUTOINCREMENT,
   name TEXT NOT NULL UNIQUE,
   description TEXT,
   tags TEXT,
   version INTEGER NOT NULL,
   created_ns INTEGER NOT NULL,
   updated_ns INTEGER NOT NULL
)""",
    """CREATE TABLE dataset_records (
   id INTEGER PRIMARY KEY AUTOINCREMENT,
   dataset_id INTEGER NOT NULL,
   inputs TEXT NOT NULL,
   expectations TEXT NOT NULL,
   tags TEXT,
   source_trace_id TEXT,
   digest TEXT NOT NULL,
   added_in INTEGER NOT NULL,
   removed_in INTEGER,
   created_ns INTEGER NOT NULL
)""",
    "CREATE INDEX idx_dataset_records_dataset_added_in ON dataset_records (dataset_id, added_in)",
    # The latest version's records by content, which is what an addition is deduplicated against.
    "CREATE INDEX idx_dataset_records_live ON dataset_records (dataset_id, digest) WHERE removed_in IS NULL",
    # Evaluation runs, their per-example results and scores: kept here as well as written as feedback, so comparing
    # runs never depends on feedback rows a later run (or a person) overwrote.
    """CREATE TABLE eval_runs (
   run_id TEXT PRIMARY KEY,
   name TEXT,
   tags TEXT,
   dataset TEXT,
   dataset_version INTEGER,
   scorers TEXT NOT NULL,
   created_ns INTEGER NOT NULL,
   finished_ns INTEGER,
   status TEXT NOT NULL,
   metrics TEXT,
   error TEXT
)""",
    "CREATE INDEX idx_eval_runs_created_ns ON eval_runs (created_ns)",
    "CREATE INDEX idx_eval_runs_dataset_created_ns ON eval_runs (dataset, created_ns)",
    """CREATE TABLE eval_results (
   run_id TEXT NOT NULL,
   example_index INTEGER NOT NULL,
   trace_id TEXT,
   record_id INTEGER,
   inputs TEXT,
   outputs TEXT,
   expectations TEXT,
   error TEXT,
   PRIMARY KEY (run_id, example_index)
)""",
    """CREATE TABLE eval_scores (
   run_id TEXT NOT NULL,
   example_index INTEGER NOT NULL,
   scorer TEXT NOT NULL,
   value TEXT,
   rationale TEXT,
   error TEXT,
   raw TEXT,
   PRIMARY KEY (run_id, example_index, scorer)
)""",
    # Online scoring: which scorer has taken which trace, so that each (trace, scorer) is scored at most once however
    # many scoring processes run; the primary key is the lock. ``status`` says how it went (store/score_claims.py).
    """CREATE TABLE score_claims (
   trace_id TEXT NOT NULL,
   scorer TEXT NOT NULL,
   status TEXT NOT NULL,
   error TEXT,
   worker TEXT,
   claimed_ns INTEGER NOT NULL,
   PRIMARY KEY (trace_id, scorer)
) WITHOUT ROWID""",
)


def m013_evaluation(db: Database) -> None:
    # Expectations, datasets and evaluation runs (see EVALUATION_SCHEMA).
    for statement in EVALUATION_SCHEMA:
        db.execute(statement)


# m014's indexes, which ``_schema`` makes too for a new store: one per order the traces list offers besides start
# time, each with the trace id that breaks ties, so that every page of "slowest first" (and the rest) reads its rows
# in order from where the last one ended. The expressions are ``query.ORDER_VALUES``' own.
SORT_INDEXES = (
    "CREATE INDEX idx_traces_duration ON traces (duration_ms, trace_id)",
    (
        "CREATE INDEX idx_traces_total_tokens ON traces "
        "((coalesce(input_tokens, 0) + coalesce(output_tokens, 0)), trace_id)"
    ),
    "CREATE INDEX idx_traces_cost ON traces (coalesce(cost, -1), trace_id)",
)


def m014_sort_indexes(db: Database) -> None:
    for statement in SORT_INDEXES:
        db.execute(statement)


STEPS = (
    m001_initial,
    m002_feedback_definitions,
    m003_index_text_per_batch,
    m004_text_index_trails_writes,
    m005_text_index_without_column_sizes,
    m006_model_index_only_where_a_model_is,
    m007_spans_keyed_by_trace,
    m008_usage_counted_once_per_model_call,
    m009_error_traces_index,
    m010_span_links,
    m011_resources,
    m012_cost,
    m013_evaluation,
    m014_sort_indexes,
)
NAMES = tuple(step.__name__ for step in STEPS)


@functools.cache
def registry() -> Migrations:
    """sqlite-utils' runner for ``STEPS``, which records each step it applies in ``_sqlite_migrations``."""
    from sqlite_utils.migrations import Migrations

    migrations = Migrations(MIGRATION_SET)
    for step in STEPS:
        migrations()(step)
    return migrations
