"""The spanlite command: list, show, search, export and delete traces; run the demo, viewer and receiver; run a program
traced; evaluation datasets and runs (``_cli_datasets``). Bad input is one line on stderr: exit 2 for a usage error,
1 for any other (``_cli_args``)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.metadata
import itertools
import os
import secrets
import stat
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from spanlite import _cli_datasets, _cli_score, _cli_upkeep
from spanlite._cli_args import CommandError, Parser, check_listen, iso_time, port_number, positive_int, require
from spanlite._cli_format import clock, clock_width, duration, plural
from spanlite.store import StoreError, TraceFilter, TraceStore, TraceSummary, default_db_path
from spanlite.store.filters import SORTS
from spanlite.store.prices import format_usd
from spanlite.store.records import json_line
from spanlite.tracing._settings import parse_size

LIST_LIMIT = 20
DESCRIPTION = (
    "Read and manage the traces spanlite stores (one SQLite file), and run its demo, viewer and OTLP receiver. "
    "Times are shown in local time, with the zone named."
)
SHOWN_CANDIDATES = 5  # trace ids listed when a prefix names several
STORE_SUFFIXES = ("-wal", "-shm", "-journal")  # the files SQLite keeps beside a store
SQLITE_HEADER = b"SQLite format 3\x00"  # the first bytes of any SQLite database
WAL_MAGIC = (b"\x37\x7f\x06\x82", b"\x37\x7f\x06\x83")  # the first bytes of any SQLite -wal


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):  # `spanlite` alone
        parser.print_help()
        return 0
    try:
        return int(args.run(args) or 0)
    except CommandError as exc:
        print(f"spanlite: {exc}", file=sys.stderr)
        return exc.code
    except (StoreError, ValueError) as exc:
        print(f"spanlite: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `spanlite traces list | head`
        return 0
    except OSError as exc:  # a file to write that cannot be: no such directory, no permission, a full disk
        print(f"spanlite: {_os_error(exc)}", file=sys.stderr)
        return 1


def _os_error(exc: OSError) -> str:
    """``exc`` in words, naming the file the user gave rather than the temporary one written beside it."""
    name = exc.filename
    if isinstance(name, str) and Path(name).name.endswith(".tmp") and Path(name).name.startswith("."):
        name = str(Path(name).parent)
        if exc.errno == 2:  # ENOENT: the directory to write in does not exist
            return f"cannot write into {name}: no such directory"
    return f"{name}: {exc.strerror}" if name and exc.strerror else str(exc)


def _parser() -> argparse.ArgumentParser:
    help_db = f"trace store (default: $SPANLITE_DB or {default_db_path()})"
    parser = Parser(prog="spanlite", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"spanlite {importlib.metadata.version('spanlite')}")
    parser.add_argument("--db", type=Path, default=None, help=help_db)
    # Accepted after any subcommand too; SUPPRESS keeps a --db given before the subcommand.
    db = Parser(add_help=False)
    db.add_argument("--db", type=Path, default=argparse.SUPPRESS, help=help_db)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    traces = commands.add_parser("traces", help="read and manage stored traces")
    traces_commands = traces.add_subparsers(title="trace commands", required=True, metavar="COMMAND")
    filters = _filter_options()
    as_json = Parser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="JSON lines instead of a table")

    sort = Parser(add_help=False)
    sort.add_argument("--sort", choices=list(SORTS), default="newest", help="order of the list (default: newest)")
    listing = traces_commands.add_parser("list", parents=[db, filters, sort, as_json], help="latest traces first")
    listing.set_defaults(run=_list)
    search = traces_commands.add_parser(
        "search", parents=[db, filters, sort, as_json], help="full-text search in inputs/outputs"
    )
    search.add_argument("text", nargs="+", help="words that must all appear in a span's inputs or outputs")
    search.set_defaults(run=_list)
    show = traces_commands.add_parser("show", parents=[db], help="one trace as a span tree")
    show.add_argument("trace_id", help="a trace id, or enough of its start to name one trace")
    show.add_argument("--json", action="store_true", help="the whole trace as JSON")
    show.set_defaults(run=_show)
    export = traces_commands.add_parser("export", parents=[db, filters], help="whole traces as JSON lines")
    export.add_argument("-o", "--output", type=Path, help="file to write (default: standard output)")
    export.add_argument(
        "--format",
        choices=["traces", "dataset"],
        default="traces",
        help="traces: whole traces with spans and feedback; dataset: one flat row per trace (inputs, outputs, "
        "feedback columns) for evaluation (default: traces)",
    )
    export.set_defaults(run=_export)
    delete = traces_commands.add_parser("delete", parents=[db], help="delete traces with their spans")
    delete.add_argument("trace_ids", nargs="*", metavar="TRACE_ID", help="whole trace ids to delete")
    delete.add_argument(
        "--before",
        type=iso_time,
        help="delete every trace that started before this ISO date/time (local time unless it names a zone); "
        "asks first on a terminal",
    )
    delete.add_argument("--yes", action="store_true", help="delete --before without asking (needed off a terminal)")
    delete.add_argument("--dry-run", action="store_true", help="list what --before would delete, and delete nothing")
    delete.set_defaults(run=_cli_upkeep.delete)

    stats = commands.add_parser("stats", parents=[db], help="counts and size of the store")
    stats.add_argument("--json", action="store_true", help="one JSON object (sizes in bytes, times in ns since 1970)")
    stats.set_defaults(run=_cli_upkeep.stats)
    demo = commands.add_parser("demo", parents=[db], help="write example agent traces (offline, no API key)")
    demo.set_defaults(run=_demo)
    ui = commands.add_parser("ui", parents=[db], help="start the trace viewer")
    ui.add_argument("--port", type=port_number, default=8501, help="port to serve on (default: 8501)")
    ui.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    ui.set_defaults(run=_ui)
    serve = commands.add_parser("serve", parents=[db], help="receive OTLP/HTTP spans from any OTel SDK")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    serve.add_argument(
        "--port", type=port_number, default=4318, help="port to listen on; 0: any free one (default: 4318)"
    )
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


def _filter_options() -> Parser:
    filters = Parser(add_help=False)
    filters.add_argument(
        "--limit", type=positive_int, help=f"at most this many traces (default: list {LIST_LIMIT}; export all)"
    )
    filters.add_argument(
        "--since", type=iso_time, help="traces started at or after this ISO date/time, e.g. 2026-11-28T09:00 (local)"
    )
    filters.add_argument("--until", type=iso_time, help="traces started before this ISO date/time (local)")
    filters.add_argument("--name", help="substring of the trace name")
    filters.add_argument(
        "--status",
        choices=["OK", "ERROR", "IN_PROGRESS"],
        type=str.upper,  # like --kind: any case
        help="ERROR: any span failed, whatever the root says; OK: finished with none; IN_PROGRESS: root not stored yet",
    )
    filters.add_argument("--kind", help="keep traces with a span of this kind (LLM, TOOL, ...)")
    filters.add_argument("--model", help="keep traces with a call to this model or a dated id of it")
    filters.add_argument("--service", help="keep traces with a span from this service (its service.name)")
    filters.add_argument("--tag", action="append", dest="tags", help="repeat for several; all must match")
    filters.add_argument("--session", dest="session_id", help="keep the traces of this session id")
    filters.add_argument("--user", dest="user_id", help="keep the traces of this user id")
    filters.add_argument("--min-duration-ms", type=float, metavar="MS", help="keep traces that took at least this")
    filters.add_argument("--max-duration-ms", type=float, metavar="MS", help="keep traces that took at most this")
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
    return filters


def _store(args: argparse.Namespace, *, create: bool = False) -> TraceStore:
    """The store ``--db`` names (else the default one), made if missing only with ``create``."""
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
        f"{'TRACE ID':32}  {'STARTED':{clock_width()}}  {'DURATION':>9}  {'STATUS':11}  {'ERRORS':>6}  {'SPANS':>5}  "
        f"{'TOKENS':>7}  {'COST':>9}  NAME"
    )
    for t in traces:
        tokens = (t.input_tokens or 0) + (t.output_tokens or 0)
        print(
            f"{t.trace_id:32}  {clock(t.start_ns)}  {duration(t.duration_ms):>9}  {t.status:11}  "
            f"{t.error_count or '':>6}  {t.span_count:>5}  {tokens or '':>7}  {format_usd(t.cost):>9}  {t.name or ''}"
        )


def _show(args: argparse.Namespace) -> int:
    from spanlite.store import views

    with _store(args) as store:
        trace = store.get_trace(_trace_id(store, args.trace_id))
        linked = {link["trace_id"] for span in trace.spans for link in span.links} if trace else set()
        stored = views.stored_traces(store, linked) if linked else set()
    assert trace is not None  # _trace_id found it
    if args.json:
        _write_json(sys.stdout, trace.to_dict())
        return 0
    info = trace.info
    cost = f"  {format_usd(info.cost)}" if info.cost is not None else ""
    print(
        f"{info.name}  {info.trace_id}  {info.status}  {clock(info.start_ns)}  {duration(info.duration_ms)}  "
        f"{plural(info.span_count, 'span')}{cost}"
    )
    if info.session_id or info.user_id or info.tags:
        print(f"session={info.session_id or '-'}  user={info.user_id or '-'}  tags={','.join(info.tags) or '-'}")
    for resource in trace.resources:
        print("resource: " + "  ".join(f"{key}={value}" for key, value in resource.items()))
    for depth, span in trace.walk():
        tokens = f"  {span.input_tokens or 0}→{span.output_tokens or 0} tok" if span.input_tokens else ""
        cost = f"  {format_usd(span.cost)}" if span.cost is not None else ""
        status = "  ERROR: " + (span.status_message or "") if span.status == "ERROR" else ""
        print(f"{'  ' * depth}{span.kind:10} {span.name}  {duration(span.duration_ms)}{tokens}{cost}{status}")
        for link in span.links:
            where = "" if link["trace_id"] in stored else " (not in this store)"
            print(f"{'  ' * (depth + 1)}link → {link['trace_id']}/{link['span_id']}{where}")
    return 0


def _trace_id(store: TraceStore, text: str) -> str:
    """The one stored trace id that starts with ``text`` (as git takes a commit's), or ``CommandError``.

    A range on the primary key, so a prefix costs an index lookup however large the store.
    """
    prefix = text.strip().lower()
    found = [
        r["trace_id"]
        for r in store.rows(
            "SELECT trace_id FROM traces WHERE trace_id >= ? AND trace_id < ? ORDER BY trace_id LIMIT ?",
            [prefix, prefix + "\U0010ffff", SHOWN_CANDIDATES + 1],
        )
    ]
    if prefix in found or len(found) == 1:
        return prefix if prefix in found else found[0]
    if not found:
        raise CommandError(f"no trace {text!r}")
    shown = ", ".join(found[:SHOWN_CANDIDATES]) + (", ..." if len(found) > SHOWN_CANDIDATES else "")
    raise CommandError(f"trace id prefix {text!r} is ambiguous: {shown}")


def _export(args: argparse.Namespace) -> int:
    if args.output is None:
        count = _write_export(args, sys.stdout)
    else:
        with _whole_file(_export_target(args.output, args.db or default_db_path())) as out:
            count = _write_export(args, out)
    print(f"exported {plural(count, 'trace')}", file=sys.stderr)
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
    if target.is_dir():
        raise CommandError(f"{output} is a directory; name a file to export into")
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


def _demo(args: argparse.Namespace) -> int:
    require("openai", "demo", "spanlite demo")  # before run_demo makes the store
    from spanlite.demo import run_demo

    path = args.db or default_db_path()
    count = run_demo(path)
    print(f"wrote {plural(count, 'demo trace')} to {path}")
    print("see them with `spanlite traces list` or `spanlite ui`")
    return 0


def _ui(args: argparse.Namespace) -> int:
    require("streamlit", "viewer", "spanlite ui")  # before any store is made
    from spanlite.viewer.launch import run_viewer

    check_listen(args.host, args.port)  # a clear error now rather than a traceback from Streamlit
    path = args.db or default_db_path()
    # Only the default store is made here: a --db that does not exist is more likely mistyped than new.
    _store(args, create=args.db is None).close()
    return run_viewer(Path(path), port=args.port, host=args.host)


def _serve(args: argparse.Namespace) -> int:
    require("spanlite.otlp.receiver", "otlp", "spanlite serve")
    from spanlite.otlp.receiver import serve
    from spanlite.store.prices import load

    prices = load(args.prices) if args.prices else None  # a bad file: one clear error before the port is taken
    check_listen(args.host, args.port)  # before the store is made
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
    if not command:
        raise CommandError("spanlite run needs a command to run, e.g. spanlite run -- python app.py", code=2)
    return run(command, Path(args.db or default_db_path()), autolog=args.autolog)


def _body_size(text: str) -> int:
    from spanlite.otlp.receiver import MIN_BODY_BYTES

    try:
        return parse_size(text, minimum=MIN_BODY_BYTES)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _write_json(out: TextIO, value: Any) -> None:
    out.write(json_line(value).decode())


if __name__ == "__main__":
    sys.exit(main())
