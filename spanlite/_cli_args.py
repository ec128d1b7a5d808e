"""What the ``spanlite`` command line's values must be, and how a bad one is reported: in one line, exit 2 for a usage
error (as argparse's own), exit 1 for anything else (``CommandError``)."""

from __future__ import annotations

import argparse
import datetime as dt
import errno
import importlib
import socket
import sys
from typing import NoReturn

PORTS = range(65536)


class CommandError(Exception):
    """An error for the user, in one line: exit 1, or 2 when the command line itself is wrong."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class Parser(argparse.ArgumentParser):
    """argparse's parser, but a usage error is one line naming ``--help`` rather than the whole usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def iso_time(text: str) -> dt.datetime:
    """An ISO date or date/time; without a zone, local time."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date/time: {text!r}") from None
    return value if value.tzinfo else value.astimezone()


def positive_int(text: str) -> int:
    """A whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def port_number(text: str) -> int:
    """A TCP port number, 0 to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if value not in PORTS:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, not {value}")
    return value


def check_listen(host: str, port: int) -> None:
    """``CommandError`` unless ``host:port`` can be listened on now: before a server is started (or its store
    made), so that a bad host or a port in use is one line rather than a traceback from the server."""
    name = host.strip("[]") or None  # [::1] as in a URL; "" for every interface
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            name, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) else str(exc)
        raise CommandError(f"cannot listen on {host}: not an address or a name that resolves ({reason})") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do: a closed port's TIME_WAIT
        try:
            probe.bind(address)
        except OSError as exc:
            reason = "the port is in use (pick another with --port)" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise CommandError(f"cannot listen on {host}:{port}: {reason}") from None


def require(module: str, extra: str, what: str) -> None:
    """``CommandError`` naming the extra to install when ``module`` cannot be imported."""
    try:
        importlib.import_module(module)
    except ImportError:
        raise CommandError(f"{what} needs the {extra} extra: pip install 'spanlite[{extra}]'") from None


def confirm(question: str) -> bool:
    """Whether the user at the terminal answers yes (``y``/``yes``); end of input is no."""
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")
