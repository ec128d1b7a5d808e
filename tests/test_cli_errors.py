"""Every ``spanlite`` command, given bad input, says so in one line and exits 2 (usage) or 1 (anything else), never
with a traceback, and leaves no file behind it did not mean to make."""

from __future__ import annotations

import argparse
import os
import pty
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import spanlite
from _helpers import cli
from spanlite import cli as spanlite_cli
from spanlite.store import TraceStore

# A command whose subprocess finds an extra missing, as on a machine without it: the module reads as not installed.
WITHOUT = """
import sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None  # `import name` now raises ModuleNotFoundError
from spanlite.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _leaves(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every runnable command of the parser (``traces list``, ``stats``, ...) with its own parser."""
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers:
        yield path, parser
    for action in subparsers:
        for name, sub in action.choices.items():
            yield from _leaves(sub, (*path, name))


COMMANDS = dict(_leaves(spanlite_cli._parser()))


def _one_line_error(result: subprocess.CompletedProcess[str], code: int) -> None:
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("spanlite"), result.stderr


def test_commands_are_enumerated() -> None:
    expected = {("traces", "list"), ("traces", "show"), ("serve",), ("ui",), ("eval", "compare"), ("score",)}
    assert expected <= set(COMMANDS)


@pytest.mark.parametrize("command", [" ".join(c) for c in COMMANDS])
def test_every_command_rejects_an_unknown_option_in_one_line(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    parser = COMMANDS[tuple(command.split())]
    positionals = ["x" for a in parser._actions if not a.option_strings and a.nargs not in (0, "...")]
    with pytest.raises(SystemExit) as exit_:
        spanlite_cli.main([*command.split(), *positionals, "--no-such-option"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert err.count("\n") == 1 and "--no-such-option" in err and "Traceback" not in err, err


# Left out: the commands that make a store where they are told (demo, serve) or run a program.
@pytest.mark.parametrize("command", [" ".join(c) for c in COMMANDS if c not in {("run",), ("demo",), ("serve",)}])
def test_every_command_on_a_missing_store_or_bad_values_says_so_in_one_line(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each positional argument given a placeholder, each option that takes a number or a time a bad one, then
    each positional alone against a store that does not exist: one line, exit 2 then 1, no file made."""
    parser = COMMANDS[tuple(command.split())]
    positionals = ["x" for a in parser._actions if not a.option_strings and a.nargs != 0]
    missing = tmp_path / "nowhere" / "missing.db"
    bad_values = {"int": "abc", "float": "abc", "iso_time": "yesterday", "port_number": "99999", "positive_int": "0"}
    for action in parser._actions:
        kind = getattr(action.type, "__name__", None)
        if action.option_strings and kind in bad_values:
            argv = [*command.split(), *positionals, action.option_strings[-1], bad_values[kind], "--db", str(missing)]
            with pytest.raises(SystemExit) as exit_:
                spanlite_cli.main(argv)
            err = capsys.readouterr().err
            assert exit_.value.code == 2, (argv, err)
            assert err.count("\n") == 1 and "Traceback" not in err, (argv, err)
    if command == "score":
        positionals = ["--judge", "safety"]
    code = spanlite_cli.main([*command.split(), *positionals, "--db", str(missing)])
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.startswith("spanlite: ") and err.count("\n") == 1, err
    assert not missing.parent.exists() or not any(missing.parent.iterdir())


def test_run_without_a_command_is_a_usage_error() -> None:
    _one_line_error(cli("run"), 2)


@pytest.mark.parametrize("command", ["serve", "ui"])
def test_a_port_out_of_range_is_a_usage_error(command: str, tmp_path: Path) -> None:
    result = cli(command, "--port", "99999", db=tmp_path / "t.db")
    _one_line_error(result, 2)
    assert "port" in result.stderr and not (tmp_path / "t.db").exists()


@pytest.mark.parametrize("command", ["serve", "ui"])
def test_a_host_that_does_not_resolve_is_one_line(command: str, tmp_path: Path) -> None:
    for host in ("256.1.1.1", "no-such-host.invalid"):
        result = cli(command, "--host", host, db=tmp_path / "t.db")
        _one_line_error(result, 1)
        assert host in result.stderr
    assert not (tmp_path / "t.db").exists()


@pytest.mark.parametrize("command", ["serve", "ui"])
def test_a_port_in_use_is_one_line(command: str, tmp_path: Path) -> None:
    spanlite.configure(db=tmp_path / "t.db")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli(command, "--port", str(port), db=tmp_path / "t.db")
    _one_line_error(result, 1)
    assert f"127.0.0.1:{port}" in result.stderr and "in use" in result.stderr


@pytest.mark.parametrize(
    ("command", "blocked", "extra"),
    [("serve", "opentelemetry.proto", "otlp"), ("ui", "streamlit", "viewer"), ("demo", "openai", "demo")],
)
def test_a_missing_extra_is_one_line_and_makes_no_file(command: str, blocked: str, extra: str, tmp_path: Path) -> None:
    (tmp_path / "new").mkdir()  # beside the test's own store, which the autouse fixture makes
    db = tmp_path / "new" / "fresh.db"
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT, blocked, command, "--db", str(db)],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    _one_line_error(result, 1)
    assert f"spanlite[{extra}]" in result.stderr
    assert list(db.parent.iterdir()) == []


def test_ui_with_a_mistyped_db_says_there_is_no_store(tmp_path: Path) -> None:
    result = cli("ui", db=tmp_path / "tarces.db")
    _one_line_error(result, 1)
    assert "no trace store at" in result.stderr and not (tmp_path / "tarces.db").exists()


def test_export_to_a_missing_directory_or_a_directory(db_path: Path, tmp_path: Path) -> None:
    with spanlite.start_span("one"):
        pass
    spanlite.flush()
    result = cli("traces", "export", "-o", str(tmp_path / "missing_dir" / "x.jsonl"), db=db_path)
    _one_line_error(result, 1)
    assert "no such directory" in result.stderr and ".tmp" not in result.stderr
    result = cli("traces", "export", "-o", str(tmp_path), db=db_path)
    _one_line_error(result, 1)
    assert "is a directory" in result.stderr


def _two_traces(db_path: Path) -> list[str]:
    for name in ("first", "second"):
        with spanlite.start_span(name):
            pass
    spanlite.flush()
    with TraceStore(db_path) as store:
        return [t.trace_id for t in store.search_traces()]


def test_delete_before_a_far_date_and_its_dry_run(db_path: Path) -> None:
    _two_traces(db_path)
    dry = cli("traces", "delete", "--before", "9999-01-01", "--dry-run", db=db_path)
    assert dry.returncode == 0, dry.stderr
    assert "would delete 2 traces" in dry.stdout and dry.stdout.count("\n") == 3  # the two ids, then the count
    refused = cli("traces", "delete", "--before", "9999-01-01", db=db_path)  # stdin is not a terminal
    _one_line_error(refused, 2)
    assert "--yes" in refused.stderr
    with TraceStore(db_path) as store:
        assert store.count_traces() == 2
    deleted = cli("traces", "delete", "--before", "9999-01-01", "--yes", db=db_path)
    assert deleted.returncode == 0 and deleted.stdout == "deleted 2 traces\n", deleted.stderr


@pytest.mark.parametrize(("answer", "left"), [("n", 2), ("y", 0)])
def test_delete_before_asks_on_a_terminal(db_path: Path, answer: str, left: int) -> None:
    _two_traces(db_path)
    main, terminal = pty.openpty()
    command = [sys.executable, "-m", "spanlite.cli", "traces", "delete", "--before", "9999-01-01", "--db", str(db_path)]
    with subprocess.Popen(command, stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        os.close(terminal)
        os.write(main, f"{answer}\n".encode())
        _, err = proc.communicate(timeout=60)
    os.close(main)
    assert "Traceback" not in err
    assert proc.returncode == (0 if answer == "y" else 1), err
    with TraceStore(db_path) as store:
        assert store.count_traces() == left


def test_delete_of_an_unknown_id_says_not_found(db_path: Path) -> None:
    first, _ = _two_traces(db_path)
    result = cli("traces", "delete", first, "0" * 32, db=db_path)
    _one_line_error(result, 1)
    assert f"no trace {'0' * 32}" in result.stderr and result.stdout == "deleted 1 trace\n"
