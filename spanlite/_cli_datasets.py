"""``spanlite datasets list|show|export|import`` and ``spanlite eval list|show``: evaluation datasets and runs."""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import orjson

from spanlite import _cli_eval, _cli_format
from spanlite._cli_args import positive_int
from spanlite.store import StoreError, default_db_path
from spanlite.store.eval_datasets import check_record

CELL = 40  # characters of a record's inputs or expectations shown in a table
RUNS_LIMIT = 20


def add_commands(commands: Any, db: argparse.ArgumentParser) -> None:
    """Add the ``datasets`` and ``eval`` commands to the ``spanlite`` parser's subcommands."""
    datasets = commands.add_parser("datasets", help="evaluation datasets: list, show, export, import")
    dataset_commands = datasets.add_subparsers(title="dataset commands", required=True, metavar="COMMAND")
    listing = dataset_commands.add_parser("list", parents=[db], help="every dataset, its latest version and size")
    listing.set_defaults(run=_list)
    show = dataset_commands.add_parser("show", parents=[db], help="a dataset's records")
    show.add_argument("name", help="the dataset's name")
    show.add_argument("--version", type=int, help="an earlier version (default: the latest)")
    show.add_argument("--json", action="store_true", help="the records as JSON lines")
    show.set_defaults(run=_show)
    export = dataset_commands.add_parser("export", parents=[db], help="a dataset's records as JSON lines")
    export.add_argument("name", help="the dataset's name")
    export.add_argument("--version", type=int, help="an earlier version (default: the latest)")
    export.add_argument("-o", "--output", type=Path, help="file to write (default: standard output)")
    export.set_defaults(run=_export)
    load = dataset_commands.add_parser(
        "import",
        parents=[db],
        help="add records from a file, as one new version (the dataset is made if need be)",
        description='FILE holds JSON lines {"inputs": {...}, "expectations": {...}} (as `export` writes), or is '
        "a .csv with inputs and expectations columns holding JSON. A bad line is an error naming it, and nothing "
        "is imported.",
    )
    load.add_argument("name", help="the dataset's name")
    load.add_argument("file", type=Path, help="a .jsonl or .csv file of records")
    load.set_defaults(run=_import)

    runs = commands.add_parser("eval", help="evaluation runs: list, show, compare")
    run_commands = runs.add_subparsers(title="evaluation commands", required=True, metavar="COMMAND")
    run_list = run_commands.add_parser("list", parents=[db], help="latest runs first")
    run_list.add_argument("--dataset", help="only runs on this dataset")
    run_list.add_argument(
        "--limit", type=positive_int, default=RUNS_LIMIT, help=f"at most this many runs (default: {RUNS_LIMIT})"
    )
    run_list.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    run_list.set_defaults(run=_runs)
    run_show = run_commands.add_parser("show", parents=[db], help="one run: its metrics and each example's scores")
    run_show.add_argument("run_id", help="the run's id, as `spanlite eval list` shows it")
    run_show.add_argument("--json", action="store_true", help="the run and its results as JSON")
    run_show.set_defaults(run=_run)
    _cli_eval.add_commands(run_commands, db)


def _list(args: argparse.Namespace) -> int:
    from spanlite import cli

    with cli._store(args) as store:
        datasets = store.list_datasets()
    if not datasets:
        print("no datasets")
        return 0
    print(f"{'NAME':24}  {'VERSION':>7}  {'RECORDS':>7}  {'UPDATED':{_cli_format.clock_width()}}  DESCRIPTION")
    for d in datasets:
        print(f"{d.name:24}  {d.version:>7}  {d.size:>7}  {_cli_format.clock(d.updated_ns)}  {d.description or ''}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from spanlite import cli

    with cli._store(args) as store:
        records = store.records(args.name, args.version)
        info = store.get_dataset(args.name)
    if args.json:
        for record in records:
            cli._write_json(sys.stdout, record.to_dict())
        return 0
    version = args.version if args.version is not None else info.version if info else 0
    tags = "  ".join(f"{k}={v}" for k, v in info.tags.items()) if info else ""
    print(f"{args.name}  version {version}  {len(records)} records  {tags}".rstrip())
    if info and info.description:
        print(info.description)
    print(f"{'ID':>6}  {'ADDED':>5}  {'INPUTS':{CELL}}  EXPECTATIONS")
    for r in records:
        print(f"{r.record_id:>6}  {r.added_in:>5}  {_cell(r.inputs):{CELL}}  {_cell(r.expectations)}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from spanlite import cli

    with cli._store(args) as store:
        records = store.records(args.name, args.version)
    rows = [
        {"inputs": r.inputs, "expectations": r.expectations, "tags": r.tags, "source_trace_id": r.source_trace_id}
        for r in records
    ]
    if args.output is None:
        for row in rows:
            cli._write_json(sys.stdout, row)
    else:
        with cli._whole_file(cli._export_target(args.output, args.db or default_db_path())) as out:
            for row in rows:
                cli._write_json(out, row)
    print(f"exported {len(rows)} record{'' if len(rows) == 1 else 's'}", file=sys.stderr)
    return 0


def _import(args: argparse.Namespace) -> int:
    from spanlite import cli

    records = list(_read_records(args.file))  # every line checked before anything is written
    with cli._store(args, create=True) as store:
        if store.get_dataset(args.name) is None:
            store.create_dataset(args.name)
            print(f"created dataset {args.name}")
        added = store.add_records(args.name, records)
        version = store.get_dataset(args.name).version  # type: ignore[union-attr]
    skipped = len(records) - len(added)
    already = f"; {skipped} {'was' if skipped == 1 else 'were'} in it already" if skipped else ""
    print(f"imported {len(added)} record{'' if len(added) == 1 else 's'} into {args.name} (version {version}){already}")
    return 0


def _read_records(path: Path) -> Iterator[dict[str, Any]]:
    """The records in a JSON lines or CSV file, each checked; ``ValueError`` naming the first bad line."""
    try:
        with path.open(encoding="utf-8", newline="") as file:
            lines = _csv_records(file) if path.suffix.lower() == ".csv" else _json_records(file)
            for number, record in lines:
                where = f"{path} line {number}"
                check_record(record, where)
                yield record
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not UTF-8 text ({exc.reason})") from None


def _json_records(file: TextIO) -> Iterator[tuple[int, Any]]:
    for number, line in enumerate(file, start=1):
        if not line.strip():
            continue
        try:
            yield number, orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"{file.name} line {number}: not JSON ({exc})") from None


def _csv_records(file: TextIO) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(file)
    if reader.fieldnames is None or "inputs" not in reader.fieldnames:
        raise ValueError(f"{file.name}: a CSV of records needs an 'inputs' column (and 'expectations', in JSON)")
    for row in reader:
        record: dict[str, Any] = {}
        for column, text in row.items():
            if column is None:
                raise ValueError(f"{file.name} line {reader.line_num}: more cells than columns")
            if text is None or text == "":
                continue
            if column == "source_trace_id":
                record[column] = text
                continue
            try:
                record[column] = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                raise ValueError(f"{file.name} line {reader.line_num}: column {column!r} is not JSON ({exc})") from None
        yield reader.line_num, record


def _runs(args: argparse.Namespace) -> int:
    from spanlite import cli

    with cli._store(args) as store:
        runs = store.list_runs(dataset=args.dataset, limit=args.limit)
    if args.json:
        for run in runs:
            cli._write_json(sys.stdout, run.to_dict())
        return 0
    if not runs:
        print("no evaluation runs")
        return 0
    print(f"{'RUN ID':32}  {'STARTED':{_cli_format.clock_width()}}  {'STATUS':8}  {'DATASET':16}  {'NAME':16}  METRICS")
    for run in runs:
        dataset = f"{run.dataset}@{run.dataset_version}" if run.dataset else "-"
        print(
            f"{run.run_id:32}  {_cli_format.clock(run.created_ns)}  {run.status:8}  {dataset:16}  "
            f"{run.name or '-':16}  {_metrics(run.metrics)}"
        )
    return 0


def _run(args: argparse.Namespace) -> int:
    from spanlite import cli

    with cli._store(args) as store:
        run = store.get_run(args.run_id)
        if run is None:
            raise StoreError(f"no evaluation run {args.run_id!r}")
        results = store.run_results(args.run_id)
    if args.json:
        cli._write_json(sys.stdout, {**run.to_dict(), "results": [r.to_dict() for r in results]})
        return 0
    dataset = f"  dataset {run.dataset} version {run.dataset_version}" if run.dataset else ""
    print(f"{run.name or '-'}  {run.run_id}  {run.status}  {_cli_format.clock(run.created_ns)}{dataset}")
    if run.tags:
        print("tags: " + "  ".join(f"{k}={v}" for k, v in run.tags.items()))
    if run.error:
        print(f"error: {run.error}")
    for name, value in run.metrics.items():
        print(f"  {name}: {value}")
    print(f"{'EXAMPLE':>7}  {'TRACE ID':32}  " + "  ".join(f"{s:>12}" for s in run.scorers) + "  ERROR")
    for r in results:
        values = [_score(r.scores.get(s)) for s in run.scorers]
        print(
            f"{r.example_index:>7}  {r.trace_id or '-':32}  "
            + "  ".join(f"{v:>12}" for v in values)
            + "  "
            + (r.error or "")
        )
    return 0


def _score(score: Any) -> str:
    if score is None:
        return "-"
    if score.error:
        return "error"
    return _cell(score.value, 12)


def _metrics(metrics: dict[str, Any]) -> str:
    return "  ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items())


def _cell(value: Any, width: int = CELL) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
