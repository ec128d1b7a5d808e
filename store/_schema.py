"""A new store's schema in plain SQL: what the steps in ``_migrations`` leave, made without sqlite-utils.

Running the steps needs sqlite-utils, which imports pandas, pyarrow and numpy wherever they are installed: 1.3 s
and 90 MB that an app then carries for its whole life, on every start of one whose store does not outlive it (a
container, a serverless function, a CI job). A new file gets this instead; a store made by an older spanlite still
migrates step by step. ``tests/test_store.py`` checks that both give the same schema, so a new step is added here
too (the test prints what this should hold).
"""

from __future__ import annotations

import datetime
import sqlite3

from ._migrations import EVALUATION_SCHEMA, MIGRATION_SET, NAMES, SORT_INDEXES

# Names in ``counters`` that ``TraceStore.stats`` reads: spans that writers had to drop, and requests the OTLP
# receiver refused, one counter per reason (``rejected:too_large``).
DROPPED_SPANS = "dropped_spans"
REJECTED = "rejected:"

STATEMENTS = (
    # The table sqlite-utils' runner records applied steps in, as it makes it.
    """CREATE TABLE "_sqlite_migrations" (
   "id" INTEGER PRIMARY KEY,
   "migration_set" TEXT,
   "name" TEXT,
   "applied_at" TEXT
)""",
    """CREATE UNIQUE INDEX "idx__sqlite_migrations_migration_set_name"
    ON "_sqlite_migrations" ("migration_set", "name")""",
    # m001, m007: spans keyed by trace; m006: the model index only where a model is; m010 links; m011 resource_id;
    # m012 cost.
    (
        'CREATE TABLE "spans" ([span_id] TEXT NOT NULL, [trace_id] TEXT NOT NULL, [parent_id] TEXT, '
        "[name] TEXT NOT NULL, [kind] TEXT NOT NULL, [start_ns] INTEGER NOT NULL, [end_ns] INTEGER NOT NULL, "
        "[status] TEXT NOT NULL, [status_message] TEXT, [inputs] TEXT, [outputs] TEXT, [attributes] TEXT, "
        '[events] TEXT, [model] TEXT, [input_tokens] INTEGER, [output_tokens] INTEGER, "links" TEXT, '
        '"resource_id" INTEGER, "cost" REAL, PRIMARY KEY (trace_id, span_id))'
    ),
    "CREATE INDEX idx_spans_kind_start_ns ON spans (kind, start_ns)",
    "CREATE INDEX idx_spans_model_start_ns ON spans (model, start_ns) WHERE model IS NOT NULL",
    # m008: a span's children that report a model's usage.
    (
        "CREATE INDEX idx_spans_usage_by_parent ON spans (trace_id, parent_id) "
        "WHERE input_tokens IS NOT NULL OR output_tokens IS NOT NULL"
    ),
    # m005: the text index, without column sizes, trailing the writes.
    "CREATE VIRTUAL TABLE spans_fts USING fts5(inputs, outputs, content='spans', columnsize=0)",
    """CREATE TABLE "traces" (
   "trace_id" TEXT PRIMARY KEY,
   "name" TEXT,
   "start_ns" INTEGER NOT NULL,
   "end_ns" INTEGER NOT NULL,
   "duration_ms" REAL,
   "status" TEXT NOT NULL,
   "root_span_id" TEXT,
   "session_id" TEXT,
   "user_id" TEXT,
   "tags" TEXT,
   "metadata" TEXT,
   "input_preview" TEXT,
   "output_preview" TEXT,
   "span_count" INTEGER NOT NULL,
   "input_tokens" INTEGER,
   "output_tokens" INTEGER,
   "error_count" INTEGER
, "cost" REAL)""",
    """CREATE INDEX "idx_traces_start_ns"
    ON "traces" ("start_ns")""",
    """CREATE INDEX "idx_traces_session_id_start_ns"
    ON "traces" ("session_id", "start_ns")""",
    """CREATE INDEX "idx_traces_status_start_ns"
    ON "traces" ("status", "start_ns")""",
    # m009
    "CREATE INDEX idx_traces_errors_start_ns ON traces (start_ns) WHERE error_count > 0",
    "CREATE TABLE trace_tags (tag TEXT NOT NULL, trace_id TEXT NOT NULL, PRIMARY KEY (tag, trace_id)) WITHOUT ROWID",
    "CREATE INDEX idx_trace_tags_trace_id ON trace_tags (trace_id)",
    """CREATE TABLE "feedback" (
   "id" INTEGER PRIMARY KEY,
   "trace_id" TEXT NOT NULL,
   "span_id" TEXT,
   "name" TEXT NOT NULL,
   "value" TEXT,
   "source" TEXT NOT NULL,
   "author" TEXT,
   "comment" TEXT,
   "created_ns" INTEGER NOT NULL,
   "updated_ns" INTEGER NOT NULL,
   "history" TEXT
)""",
    "CREATE UNIQUE INDEX idx_feedback_key ON feedback (trace_id, coalesce(span_id, ''), name, coalesce(author, ''))",
    """CREATE TABLE "counters" (
   "name" TEXT PRIMARY KEY,
   "value" INTEGER
)""",
    # m002
    """CREATE TABLE "feedback_definitions" (
   "name" TEXT PRIMARY KEY,
   "type" TEXT NOT NULL,
   "min_value" REAL,
   "max_value" REAL,
   "categories" TEXT,
   "description" TEXT,
   "created_ns" INTEGER NOT NULL
)""",
    """CREATE INDEX "idx_feedback_name_trace_id"
    ON "feedback" ("name", "trace_id")""",
    # m004, m005: only indexed spans may leave the text index.
    (
        "CREATE TRIGGER spans_ad AFTER DELETE ON spans WHEN old.rowid <= (SELECT value FROM counters WHERE name = "
        "'fts_rowid') BEGIN INSERT INTO spans_fts (spans_fts, rowid, inputs, outputs) VALUES ('delete', old.rowid, "
        "old.inputs, old.outputs); END"
    ),
    "INSERT INTO counters (name, value) VALUES ('fts_rowid', 0)",
    # m011
    """CREATE TABLE "resources" (
   "id" INTEGER PRIMARY KEY,
   "service" TEXT,
   "attributes" TEXT NOT NULL
)""",
    "CREATE UNIQUE INDEX idx_resources_attributes ON resources (attributes)",
    "CREATE INDEX idx_resources_service ON resources (service) WHERE service IS NOT NULL",
    (
        "CREATE TABLE trace_resources (resource_id INTEGER NOT NULL, trace_id TEXT NOT NULL, "
        "PRIMARY KEY (resource_id, trace_id)) WITHOUT ROWID"
    ),
    "CREATE INDEX idx_trace_resources_trace_id ON trace_resources (trace_id)",
    # m013
    *EVALUATION_SCHEMA,
    # m014
    *SORT_INDEXES,
)


def create(conn: sqlite3.Connection) -> None:
    """Give an empty store the latest schema and record every step as applied, as sqlite-utils' runner would;
    call inside a write transaction."""
    for statement in STATEMENTS:
        conn.execute(statement)
    applied_at = str(datetime.datetime.now(datetime.UTC))  # the runner's format
    conn.executemany(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES (?, ?, ?)",
        [(MIGRATION_SET, name, applied_at) for name in NAMES],
    )
