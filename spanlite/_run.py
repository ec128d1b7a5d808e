"""``spanlite run -- COMMAND``: run any program with its Python processes traced, without changing its code.

The command replaces this process (``exec``), so it keeps the pid, stdin, stdout, stderr, exit code and signals as if
it were run directly. What reaches it is its environment: ``PYTHONPATH`` starts with the folder of
``spanlite/_bootstrap/sitecustomize.py``, which every Python process of the command then imports at start-up (see
there), ``SPANLITE_DB`` names the store (absolute: the program may change directory), and ``SPANLITE_AUTOLOG`` the
libraries to autolog.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from spanlite.autolog import import_names
from spanlite.store._db import open_connection

BOOTSTRAP = str(Path(__file__).resolve().parent / "_bootstrap")
COMMAND_NOT_FOUND, NOT_EXECUTABLE = 127, 126  # a shell's exit codes for these


def environment(base: Mapping[str, str], db: Path, *, autolog: bool) -> dict[str, str]:
    """``base`` with what the bootstrap reads: the command's Python processes trace into ``db``."""
    env = dict(base)
    given = env.get("PYTHONPATH")
    paths = [p for p in given.split(os.pathsep) if p != BOOTSTRAP] if given else []  # "" is a path: the working dir
    env["PYTHONPATH"] = os.pathsep.join([BOOTSTRAP, *paths])
    env["SPANLITE_DB"] = str(db.expanduser().absolute())
    if autolog:
        env["SPANLITE_AUTOLOG"] = ",".join(import_names())
    else:
        env.pop("SPANLITE_AUTOLOG", None)  # an outer `spanlite run` may have set it
    env.pop("SPANLITE_RUN_WARNED", None)
    return env


def run(command: Sequence[str], db: Path, *, autolog: bool = True) -> int:
    """Replace this process with ``command``; returns (an exit code) only if it cannot be started."""
    if not command:
        raise ValueError("give the command to run, e.g. `spanlite run -- python app.py`")
    # As the program's writer will open it: a file that is not a store is refused here, and never written.
    open_connection(db, fill_empty=True).close()
    env = environment(os.environ, db, autolog=autolog)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(command[0], list(command), env)
    except FileNotFoundError:
        print(f"spanlite run: command not found: {command[0]}", file=sys.stderr)
        return COMMAND_NOT_FOUND
    except PermissionError:
        print(f"spanlite run: permission denied: {command[0]}", file=sys.stderr)
        return NOT_EXECUTABLE
    except OSError as exc:
        print(f"spanlite run: cannot run {command[0]}: {exc.strerror or exc}", file=sys.stderr)
        return NOT_EXECUTABLE
