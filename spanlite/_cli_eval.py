"""``spanlite eval compare RUN_A RUN_B``: how run b scored against run a, per scorer and per example."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

from spanlite import _cli_format


def add_commands(run_commands: Any, db: argparse.ArgumentParser) -> None:
    """Add ``compare`` to the ``spanlite eval`` subcommands."""
    compare = run_commands.add_parser(
        "compare",
        parents=[db],
        help="run b against run a: per-scorer means and deltas, then the examples that changed, regressed first",
    )
    compare.add_argument("run_a", help="the run compared against (the baseline)")
    compare.add_argument("run_b", help="the run compared")
    compare.add_argument("--json", action="store_true", help="the whole comparison as JSON")
    compare.set_defaults(run=_compare)


def _compare(args: argparse.Namespace) -> int:
    from spanlite import cli
    from spanlite._cli_datasets import _cell  # imported late: that module adds these commands
    from spanlite.evaluation.compare import compare_runs

    with cli._store(args) as store:
        diff = compare_runs(args.run_a, args.run_b, store=store)
    if args.json:
        cli._write_json(
            sys.stdout,
            {
                "run_a": diff.run_a.to_dict(),
                "run_b": diff.run_b.to_dict(),
                "scorers": [dataclasses.asdict(s) for s in diff.scorers],
                "examples": [dataclasses.asdict(e) for e in diff.examples],
            },
        )
        return 0
    for side, run in (("a", diff.run_a), ("b", diff.run_b)):
        print(f"run {side}: {run.name or '-'}  {run.run_id}  {run.status}  {_cli_format.clock(run.created_ns)}")
    print(f"\n{'SCORER':24}  {'MEAN A':>8}  {'MEAN B':>8}  {'DELTA':>8}")
    for s in diff.scorers:
        print(f"{s.name:24}  {_number(s.mean_a):>8}  {_number(s.mean_b):>8}  {_number(s.delta, signed=True):>8}")
    changed = [e for e in diff.examples if e.change != "same"]
    print(f"\n{'CHANGE':9}  {'DELTAS':24}  {'TRACE A':32}  {'TRACE B':32}  INPUTS")
    for e in changed:
        deltas = ",".join(f"{name}:{d:+g}" for name, d in e.deltas.items() if d) or "-"
        print(f"{e.change:9}  {deltas:24}  {e.trace_a or '-':32}  {e.trace_b or '-':32}  {_cell(e.inputs)}")
    print(f"{len(diff.examples) - len(changed)} of {len(diff.examples)} examples the same")
    return 0


def _number(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.3f}" if signed else f"{value:.3f}"
