"""The ``spanlite`` command: list, show, search, export and delete traces; run the demo, viewer and receiver; run a
program traced; evaluation datasets and runs (``_cli_datasets``)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import itertools
import os
import secrets
import stat
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from spanlite import _cli_datasets, _cli_score
from spanlite.store import StoreError, TraceFilter, TraceStore, TraceSummary, default_db_path
from spanlite.store.filters import SORTS
from spanlite.store.prices import format_usd
from spanlite.store.records import json_line
from spanlite.tracing._settings import parse_size

LIST_LIMIT = 20
STORE_SUFFIXES = ("-wal", "-shm", "-journal")  # the files SQLite keeps beside a store
SQLITE_HEADER = b"SQLite format 3\x00"  # the first bytes of any SQLite database
WAL_MAGIC = (b"\x37\x7f\x06\x82", b"\x37\x7f\x06\x83")  # the first bytes of any SQLite -wal


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except (StoreError, ValueError) as exc:
        print(f"spanlite: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `spanlite traces list | head`
        return 0
    except OSError as exc:  # a file to write that cannot be: no such directory, no permission, a full disk
        print(f"spanlite: {exc}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    help_db = f"trace store (default: $SPANLITE_DB or {default_db_path()})"
    parser = argparse.ArgumentParser(prog="spanlite", description=__doc__)
    parser.add_argument("--db", type=Path, default=None, help=help_db)
    # Accepted after any subcommand too; SUPPRESS keeps a --db given before the subcommand.
    db = argparse.ArgumentParser(add_help=False)
    db.add_argument("--db", type=Path, default=argparse.SUPPRESS, help=help_db)
    commands = parser.add_subparsers(title="commands")

    traces = commands.add_parser("traces", help="read and manage stored traces")
    traces_commands = traces.add_subparsers(title="trace commands", required=True)
    filters = _filter_options()

    sort = argparse.ArgumentParser(add_help=False)
    sort.add_argument("--sort", choices=list(SORTS), default="newest", help="order of the list (default: newest)")
    listing = traces_commands.add_parser("list", parents=[db, filters, sort], help="latest traces first")
    listing.set_defaults(run=_list)
    search = traces_commands.add_parser(
        "search", parents=[db, filters, sort], help="full-text search in inputs/outputs"
    )
    search.add_argument("text", nargs="+", help="words that must all appear in a span's inputs or outputs")
    search.set_defaults(run=_list)
    show = traces_commands.add_parser("show", parents=[db], help="one trace as a span tree")
    show.add_argument("trace_id")
    show.add_argument("--json", action="store_true", help="the whole trace as JSON")
    show.set_defaults(run=_show)
    export = traces_commands.add_parser("export", parents=[db, filters], help="whole traces as JSON lines")
    export.add_argument("-o", "--output", type=Path, help="file to write (default: standard output)")
    export.add_argument(
        "--format",
        choices=["traces", "dataset"],
        default="traces",
        help="traces: whole traces with spans and feedback; dataset: one flat row per trace (inputs, outputs, "
        "feedback columns) for evaluation",
    )
    export.set_defaults(run=_export)
    delete = traces_commands.add_parser("delete", parents=[db], help="delete traces with their spans")
    delete.add_argument("trace_ids", nargs="*", metavar="TRACE_ID")
    delete.add_argument("--before", type=_time, help="delete every trace that started before this ISO date/time")
    delete.set_defaults(run=_delete)

    stats = commands.add_parser("stats", parents=[db], help="counts and size of the store")
    stats.set_defaults(run=_stats)
    demo = commands.add_parser("demo", parents=[db], help="write example agent traces (offline, no API key)")
    demo.set_defaults(run=_demo)
    ui = commands.add_parser("ui", parents=[db], help="start the trace viewer")
    ui.add_argument("--port", type=int, default=8501)
    ui.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    ui.set_defaults(run=_ui)
    serve = commands.add_parser("serve", parents=[db], help="receive OTLP/HTTP spans from any OTel SDK")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=4318)
    serve.add_argument(
        "--max-body-size",
        type=_body_size,
        metavar="SIZE",
        help="largest request body taken, after decompression, e.g. 64MiB or 100MB "
        "(default: $SPANLITE_MAX_BODY_BYTES, else 64MiB; larger is a 413)",
    )
    serve.add_argument(
        "--prices",
        metavar="PATH",
        default=os.environ.get("SPANLITE_PRICES") or None,
        help="a CSV or JSON price file added to the bundled prices received model calls are costed by "
        "(default: $SPANLITE_PRICES)",
    )
    serve.set_defaults(run=_serve)
    run = commands.add_parser(
        "run",
        parents=[db],
        help="run a program with autolog on, its spans and its child Python processes' into the store",
        description="Run COMMAND in place of spanlite (same pid, stdin/stdout/stderr, exit code and signals), with "
        "every Python process it starts traced: autolog on, spans into the store. No change to its code.",
    )
    run.add_argument("--no-autolog", dest="autolog", action="store_false", help="only spans the program makes itself")
    run.add_argument("command", nargs=argparse.REMAINDER, help="after --, e.g. -- python app.py --flag")
    run.set_defaults(run=_run)
    _cli_datasets.add_commands(commands, db)
    _cli_score.add_command(commands, db, filters)
    return parser


def _filter_options() -> argparse.ArgumentParser:
    filters = argparse.ArgumentParser(add_help=False)
    filters.add_argument("--limit", type=int, help=f"at most this many traces (list: {LIST_LIMIT}; export: all)")
    filters.add_argument("--since", type=_time, help="ISO date/time, e.g. 2026-11-28T09:00")
    filters.add_argument("--until", type=_time)
    filters.add_argument("--name", help="substring of the trace name")
    filters.add_argument(
        "--status",
        choices=["OK", "ERROR", "IN_PROGRESS"],
        help="ERROR: any span failed, whatever the root says; OK: finished with none; IN_PROGRESS: root not stored yet",
    )
    filters.add_argument("--kind", help="keep traces with a span of this kind (LLM, TOOL, ...)")
    filters.add_argument("--model", help="keep traces with a call to this model or a dated id of it")
    filters.add_argument("--service", help="keep traces with a span from this service (its service.name)")
    filters.add_argument("--tag", action="append", dest="tags", help="repeat for several; all must match")
    filters.add_argument("--session", dest="session_id")
    filters.add_argument("--user", dest="user_id")
    filters.add_argument("--min-duration-ms", type=float)
    filters.add_argument("--max-duration-ms", type=float)
    filters.add_argument("--min-cost", type=float, metavar="USD", help="keep traces whose known cost is at least this")
    filters.add_argument(
        "--feedback", action="append", metavar="COND", help="e.g. 'thumbs=false' or 'score<3'; repeat for several"
    )
    rated = filters.add_mutually_exclusive_group()
    rated.add_argument("--rated", dest="has_feedback", action="store_const", const=True, help="only rated traces")
    rated.add_argument("--unrated", dest="has_feedback", action="store_const", const=False, help="only unrated")
    filters.add_argument(
        "--feedback-on-spans", action="store_true", help="--feedback/--rated/--unrated count feedback on spans too"
    )
    filters.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    return filters


def _time(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date/time: {text!r}") from None
    return value if value.tzinfo else value.astimezone()  # a bare time means local time


def _store(args: argparse.Namespace, *, create: bool = False) -> TraceStore:
    path = args.db or default_db_path()
    if not create and not Path(path).exists():
        raise StoreError(f"no trace store at {path} (run `spanlite demo` or trace some code first)")
    return TraceStore(path)


def _trace_filter(args: argparse.Namespace) -> TraceFilter:
    """The filter options given: each option's ``dest`` is the ``TraceFilter`` field it sets."""
    given = {f.name: getattr(args, f.name, None) for f in dataclasses.fields(TraceFilter)}
    given["text"] = " ".join(args.text) if getattr(args, "text", None) else None  # `traces search`'s words
    return TraceFilter(**{name: value for name, value in given.items() if value is not None})


def _list(args: argparse.Namespace) -> int:
    with _store(args) as store:
        order_by, ascending = SORTS[args.sort]
        page = store.search_traces(
            _trace_filter(args), order_by=order_by, ascending=ascending, limit=args.limit or LIST_LIMIT
        )
    if args.json:
        for t in page:
            _write_json(sys.stdout, t.to_dict())
    else:
        _print_table(page)
    return 0


def _print_table(traces: Sequence[TraceSummary]) -> None:
    if not traces:
        print("no traces")
        return
    print(
        f"{'TRACE ID':32}  {'STARTED':19}  {'DURATION':>9}  {'STATUS':11}  {'ERRORS':>6}  {'SPANS':>5}  {'TOKENS':>7}  "
        f"{'COST':>9}  NAME"
    )
    for t in traces:
        tokens = (t.input_tokens or 0) + (t.output_tokens or 0)
        print(
            f"{t.trace_id:32}  {_clock(t.start_ns)}  {_duration(t.duration_ms):>9}  {t.status:11}  "
            f"{t.error_count or '':>6}  {t.span_count:>5}  {tokens or '':>7}  {format_usd(t.cost):>9}  {t.name or ''}"
        )


def _show(args: argparse.Namespace) -> int:
    from spanlite.store import views

    with _store(args) as store:
        trace = store.get_trace(args.trace_id)
        linked = {link["trace_id"] for span in trace.spans for link in span.links} if trace else set()
        stored = views.stored_traces(store, linked) if linked else set()
    if trace is None:
        raise StoreError(f"no trace {args.trace_id!r}")
    if args.json:
        _write_json(sys.stdout, trace.to_dict())
        return 0
    info = trace.info
    cost = f"  {format_usd(info.cost)}" if info.cost is not None else ""
    print(f"{info.name}  {info.trace_id}  {info.status}  {_duration(info.duration_ms)}  {info.span_count} spans{cost}")
    if info.session_id or info.user_id or info.tags:
        print(f"session={info.session_id or '-'}  user={info.user_id or '-'}  tags={','.join(info.tags) or '-'}")
    for resource in trace.resources:
        print("resource: " + "  ".join(f"{key}={value}" for key, value in resource.items()))
    for depth, span in trace.walk():
        tokens = f"  {span.input_tokens or 0}→{span.output_tokens or 0} tok" if span.input_tokens else ""
        cost = f"  {format_usd(span.cost)}" if span.cost is not None else ""
        status = "  ERROR: " + (span.status_message or "") if span.status == "ERROR" else ""
        print(f"{'  ' * depth}{span.kind:10} {span.name}  {_duration(span.duration_ms)}{tokens}{cost}{status}")
        for link in span.links:
            where = "" if link["trace_id"] in stored else " (not in this store)"
            print(f"{'  ' * (depth + 1)}link → {link['trace_id']}/{link['span_id']}{where}")
    return 0


def _export(args: argparse.Namespace) -> int:
    if args.output is None:
        count = _write_export(args, sys.stdout)
    else:
        with _whole_file(_export_target(args.output, args.db or default_db_path())) as out:
            count = _write_export(args, out)
    print(f"exported {count} traces", file=sys.stderr)
    return 0


def _write_export(args: argparse.Namespace, out: TextIO) -> int:
    count = 0
    with _store(args) as store:
        filters = _trace_filter(args)
        if args.format == "dataset":
            records: Iterator[dict[str, Any]] = store.dataset_rows(filters)
        else:
            records = (t.to_dict() for s in store.iter_traces(filters) if (t := store.get_trace(s.trace_id)))
        for record in itertools.islice(records, args.limit):
            _write_json(out, record)
            count += 1
    return count


def _export_target(output: Path, db: Path) -> Path:
    """The file an export replaces: ``output`` through its symlinks; never the store, its log, or a database."""
    target = output.expanduser().resolve()
    store = db.expanduser().resolve()  # SQLite names the log after the file a symlink points to
    for own in (store, *(Path(f"{store}{suffix}") for suffix in STORE_SUFFIXES)):
        if target == own or (target.exists() and own.exists() and os.path.samefile(target, own)):
            raise ValueError(f"refusing to export onto the trace store's own file {own}")
    if target.is_file():
        with target.open("rb") as file:
            head = file.read(len(SQLITE_HEADER))
        if head == SQLITE_HEADER or head[:4] in WAL_MAGIC:
            raise ValueError(f"{output} is an SQLite database; refusing to overwrite it with an export")
    return target


@contextlib.contextmanager
def _whole_file(target: Path) -> Iterator[TextIO]:
    """``target`` written whole or left as it was: written to a new file beside it, which replaces it at the end.

    A device or a pipe (``/dev/null``, ``>(gzip > x)``) is written as it is: it cannot be replaced.
    """
    if target.exists() and not target.is_file():
        with target.open("w", encoding="utf-8") as out:
            yield out
        return
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as to any new file
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            if target.exists():
                os.chmod(out.fileno(), stat.S_IMODE(target.stat().st_mode))
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _delete(args: argparse.Namespace) -> int:
    if not args.trace_ids and args.before is None:
        raise ValueError("give trace ids or --before")
    with _store(args) as store:
        deleted = store.delete_traces(args.trace_ids or None, before=args.before)
    print(f"deleted {deleted} traces")
    return 0


def _stats(args: argparse.Namespace) -> int:
    with _store(args) as store:
        _write_json(sys.stdout, store.stats())
    return 0


def _demo(args: argparse.Namespace) -> int:
    from spanlite.demo import run_demo

    path = args.db or default_db_path()
    count = run_demo(path)
    print(f"wrote {count} demo traces to {path}")
    print("see them with `spanlite traces list` or `spanlite ui`")
    return 0


def _ui(args: argparse.Namespace) -> int:
    from spanlite.viewer.launch import run_viewer

    path = args.db or default_db_path()
    _store(args, create=True).close()  # a clear error now rather than inside the browser
    return run_viewer(Path(path), port=args.port, host=args.host)


def _serve(args: argparse.Namespace) -> int:
    from spanlite.otlp.receiver import serve
    from spanlite.store.prices import load

    prices = load(args.prices) if args.prices else None  # a bad file: one clear error before the port is taken
    serve(
        Path(args.db or default_db_path()),
        host=args.host,
        port=args.port,
        max_body_bytes=args.max_body_size,
        prices=prices,
    )
    return 0


def _run(args: argparse.Namespace) -> int:
    from spanlite._run import run

    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    return run(command, Path(args.db or default_db_path()), autolog=args.autolog)


def _body_size(text: str) -> int:
    from spanlite.otlp.receiver import MIN_BODY_BYTES

    try:
        return parse_size(text, minimum=MIN_BODY_BYTES)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _write_json(out: TextIO, value: Any) -> None:
    out.write(json_line(value).decode())


def _clock(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9).strftime("%Y-%m-%d %H:%M:%S")


def _duration(ms: float) -> str:
    return f"{ms:.0f}ms" if ms < 10_000 else f"{ms / 1000:.1f}s"


if __name__ == "__main__":
    sys.exit(main())
