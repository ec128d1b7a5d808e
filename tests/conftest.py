"""Each test gets its own store and strict mode; no socket may leave the machine."""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

os.environ["SPANLITE_STRICT"] = "1"
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # else LiteLLM fetches prices at import
for _var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "SPANLITE_DB"):
    os.environ.pop(_var, None)

import spanlite  # noqa: E402
from spanlite import _config  # noqa: E402
from spanlite.store import TraceStore  # noqa: E402
from spanlite.tracing._guard import logger, strict  # noqa: E402

if TYPE_CHECKING:
    from spanlite.otlp import Receiver

_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: Any) -> Any:
    if self.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0]
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise ConnectionRefusedError(f"tests may not reach the network ({host})")
    return _real_connect(self, address)


socket.socket.connect = _loopback_only  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def no_internal_errors() -> Iterator[None]:
    """Strict mode for spanlite's own threads too: an internal error they log (there is no caller to raise into)
    fails the test. Set up first, so that it still listens while the store's fixture flushes."""
    errors: list[str] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if strict() and "internal error" in record.getMessage():
                errors.append(self.format(record))

    handler = Catch(logging.ERROR)
    logger.addHandler(handler)
    yield
    logger.removeHandler(handler)
    assert not errors, errors


@pytest.fixture(autouse=True)
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh store for every test, configured as the default."""
    path = tmp_path / "traces.db"
    monkeypatch.setenv("SPANLITE_DB", str(path))
    spanlite.configure(db=path)
    yield path
    _config._shutdown()


@pytest.fixture
def otlp_backend(tmp_path: Path, db_path: Path) -> Iterator[Receiver]:
    """An OTLP/HTTP backend to export to: our own receiver, writing into a store of its own."""
    from spanlite.otlp import start_receiver

    with start_receiver(tmp_path / "backend.db") as r:
        yield r
        spanlite.configure(db=db_path)  # drop the OTLP pipeline while its backend still listens


@pytest.fixture
def store(db_path: Path) -> Iterator[TraceStore]:
    """The test's store for reading; call ``spanlite.flush()`` after the code under test and before reading."""
    with TraceStore(db_path) as s:
        yield s


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[Any]]]:
    """Processes the test starts (append them): one a failed assertion leaves running is killed at the end, and
    every pipe closed, so that it is not reported as still running in whichever later test collects it."""
    processes: list[subprocess.Popen[Any]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
        with process:  # closes its pipes and waits for it
            pass
