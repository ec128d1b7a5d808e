"""The spanlite command follows the conventions of command-line tools: --version, help for everything, counts in
words, times in local time with the zone named, ids shortened as git's."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
from pathlib import Path

import pytest

import spanlite
from _helpers import cli
from spanlite import cli as spanlite_cli
from spanlite.store import TraceStore
from test_cli_errors import COMMANDS

PARSERS = {"spanlite": spanlite_cli._parser()} | {" ".join(path): parser for path, parser in COMMANDS.items()}
NO_DEFAULT = (None, False, argparse.SUPPRESS, [])


def test_spanlite_alone_prints_help_and_succeeds() -> None:
    result = cli()
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.startswith("usage: spanlite") and "traces" in result.stdout


def test_version() -> None:
    result = cli("--version")
    assert result.returncode == 0 and result.stdout == f"spanlite {importlib.metadata.version('spanlite')}\n"


@pytest.mark.parametrize("name", list(PARSERS))
def test_every_argument_has_help_and_says_its_default(name: str) -> None:
    parser = PARSERS[name]
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
            continue
        label = "/".join(action.option_strings) or action.dest
        assert action.help, f"{name} {label} has no help"
        if action.option_strings and action.default not in NO_DEFAULT and not isinstance(action.default, bool):
            assert "default" in action.help, f"{name} {label}: default {action.default!r} not said"
    texts = [parser.description or "", parser.format_help()]
    assert not any("``" in text for text in texts), f"{name}: raw RST in its help"


def _traces(n: int) -> list[str]:
    for i in range(n):
        with spanlite.start_span(f"t{i}"):
            pass
    spanlite.flush()
    with TraceStore(spanlite._config.default_store().path) as store:
        return [t.trace_id for t in store.search_traces(limit=n)]


def test_counts_in_words_and_status_in_any_case(db_path: Path) -> None:
    (trace_id,) = _traces(1)
    assert cli("traces", "export", "-o", "/dev/null", db=db_path).stderr == "exported 1 trace\n"
    listed = cli("traces", "list", "--status", "ok", "--json", db=db_path)
    assert listed.returncode == 0 and json.loads(listed.stdout)["trace_id"] == trace_id
    assert cli("traces", "list", "--limit", "0", db=db_path).returncode == 2
    assert cli("traces", "export", "--json", db=db_path).returncode == 2  # it did nothing: gone
    assert cli("traces", "delete", trace_id, db=db_path).stdout == "deleted 1 trace\n"


def test_times_are_local_with_the_zone_named_and_stats_are_read_by_people(db_path: Path) -> None:
    (trace_id,) = _traces(1)
    zone = {"TZ": "EST5EDT"}  # a POSIX zone: glibc reads it without tzdata; December is EST
    listed = cli("traces", "list", db=db_path, env=zone)
    assert " EST " in listed.stdout.splitlines()[1]
    assert " EST " in cli("traces", "show", trace_id, db=db_path, env=zone).stdout.splitlines()[0]
    stats = cli("stats", db=db_path, env=zone).stdout
    assert "traces:" in stats and "EST" in stats and "iB" in stats and "{" not in stats
    assert json.loads(cli("stats", "--json", db=db_path).stdout)["traces"] == 1


def test_show_takes_a_unique_prefix_of_a_trace_id(db_path: Path) -> None:
    ids = _traces(17)  # more than the 16 hex digits: two of them start alike
    unique = next(i for i in ids if sum(j.startswith(i[:6]) for j in ids) == 1)
    shown = cli("traces", "show", unique[:6].upper(), db=db_path)
    assert shown.returncode == 0 and unique in shown.stdout.splitlines()[0]
    first = next(c for c in "0123456789abcdef" if sum(i.startswith(c) for i in ids) >= 2)
    ambiguous = cli("traces", "show", first, db=db_path)
    assert ambiguous.returncode == 1 and ambiguous.stderr.count("\n") == 1
    assert "ambiguous" in ambiguous.stderr
    assert sum(i in ambiguous.stderr for i in ids if i.startswith(first)) >= 2
    missing = cli("traces", "show", "zz", db=db_path)
    assert missing.returncode == 1 and missing.stderr == "spanlite: no trace 'zz'\n"
