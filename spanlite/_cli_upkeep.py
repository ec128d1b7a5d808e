"""``spanlite traces delete`` and ``spanlite stats``: the commands that clear out or take stock of a store."""

from __future__ import annotations

import argparse
import sys

import orjson

from spanlite._cli_args import CommandError, confirm
from spanlite._cli_format import clock, clock_of, plural, size
from spanlite.store import TraceFilter


def delete(args: argparse.Namespace) -> int:
    """``spanlite traces delete``: by id, or every trace started before a time, asked first on a terminal."""
    from spanlite import cli

    if bool(args.trace_ids) == (args.before is not None):
        raise CommandError("give trace ids or --before (one of the two)", code=2)
    if args.trace_ids:
        return _delete_ids(args)
    with cli._store(args) as store:
        doomed = TraceFilter(until=args.before)
        if args.dry_run:
            listed = 0
            for summary in store.iter_traces(doomed):
                print(f"{summary.trace_id}  {clock(summary.start_ns)}  {summary.name or ''}")
                listed += 1
            print(f"would delete {plural(listed, 'trace')} started before {clock_of(args.before)}")
            return 0
        matching = store.count_traces(doomed)
        question = f"delete {plural(matching, 'trace')} started before {clock_of(args.before)} from {store.path}?"
        if matching and not args.yes:
            # Off a terminal (a script, cron, CI) there is no one to ask: the command must say --yes itself, so that
            # deleting by date is never a side effect of a mistyped date in an unattended job.
            if not sys.stdin.isatty():
                raise CommandError(f"would {question[:-1]}; add --yes to do it, or --dry-run to list them", code=2)
            if not confirm(question):
                print("deleted nothing", file=sys.stderr)
                return 1
        deleted = store.delete_traces(before=args.before)
    print(f"deleted {plural(deleted, 'trace')}")
    return 0


def _delete_ids(args: argparse.Namespace) -> int:
    """Delete the traces named; each that is not stored is an error, after the others are deleted (as ``rm``)."""
    from spanlite import cli

    wanted = list(dict.fromkeys(args.trace_ids))
    with cli._store(args) as store:
        listed = "SELECT trace_id FROM traces WHERE trace_id IN (SELECT value FROM json_each(?))"
        stored = {r["trace_id"] for r in store.rows(listed, [orjson.dumps(wanted).decode()])}
        deleted = store.delete_traces([t for t in wanted if t in stored])
    missing = [t for t in wanted if t not in stored]
    print(f"deleted {plural(deleted, 'trace')}")
    if missing:
        raise CommandError(f"no trace {', '.join(missing)}")
    return 0


def stats(args: argparse.Namespace) -> int:
    """``spanlite stats``: for people, or with ``--json`` one object for scripts."""
    from spanlite import cli

    with cli._store(args) as store:
        stats = store.stats()
    if args.json:
        cli._write_json(sys.stdout, stats)
        return 0
    oldest, newest = stats["oldest_ns"], stats["newest_ns"]
    rejected = ", ".join(f"{reason} {n}" for reason, n in stats["rejected_requests"].items()) or "none"
    rows = [
        ("store", f"{stats['path']} ({size(stats['size_bytes'])})"),
        ("traces", f"{stats['traces']:,}"),
        ("spans", f"{stats['spans']:,}"),
        ("feedback", f"{stats['feedback']:,}"),
        ("oldest", clock(oldest) if oldest is not None else "-"),
        ("newest", clock(newest) if newest is not None else "-"),
        ("dropped spans", f"{stats['dropped_spans']:,} (spans writers could not store; 0 is healthy)"),
        ("refused requests", f"{rejected} (by `spanlite serve`)"),
    ]
    for label, value in rows:
        print(f"{label + ':':18}{value}")
    return 0
