"""A typo in a SPANLITE_* variable: the app imports, one warning names the variable and the default, no span is lost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from spanlite.store import TraceStore
from spanlite.tracing import _settings

APP = """
import spanlite
@spanlite.trace
def double(x):
    return x * 2
assert [double(i) for i in range(50)] == [i * 2 for i in range(50)]
print("app finished", flush=True)
"""


def run_app(tmp_path: Path, name: str, value: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    db = tmp_path / "app.db"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "SPANLITE_DB": str(db), "SPANLITE_STRICT": "0", name: value}
    result = subprocess.run([sys.executable, "-c", APP], capture_output=True, text=True, timeout=120, env=env)
    return result, db


@pytest.mark.parametrize(
    "name, value, default",
    [
        ("SPANLITE_MAX_QUEUE", "lots", "20000"),
        ("SPANLITE_MAX_QUEUE", "-5", "20000"),
        ("SPANLITE_MAX_QUEUE", "0", "20000"),  # a queue that holds nothing would drop every span
        ("SPANLITE_MAX_FIELD_BYTES", "256 kilobytes", "262144"),
        ("SPANLITE_MAX_FIELD_BYTES", "10", "262144"),  # too small to hold the truncation marker
        ("SPANLITE_WRITER", "threads", "auto"),
        ("SPANLITE_STRICT", "maybe", "off"),
    ],
)
def test_a_bad_value_warns_once_and_every_span_is_stored(tmp_path: Path, name: str, value: str, default: str) -> None:
    result, db = run_app(tmp_path, name, value)
    assert result.returncode == 0, result.stderr
    assert "app finished" in result.stdout
    [warning] = [line for line in result.stderr.splitlines() if name in line]
    assert repr(value) in warning and f"the default, {default}" in warning and "accepted" in warning
    assert "Traceback" not in result.stderr
    with TraceStore(db) as store:
        assert (store.stats()["spans"], store.stats()["dropped_spans"]) == (50, 0)


@pytest.mark.parametrize(
    "name, value",
    [("SPANLITE_MAX_QUEUE", "20k"), ("SPANLITE_MAX_FIELD_BYTES", "256KiB"), ("SPANLITE_WRITER", " Thread ")],
)
def test_values_with_units_or_spaces_import_and_store_quietly(tmp_path: Path, name: str, value: str) -> None:
    result, db = run_app(tmp_path, name, value)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    with TraceStore(db) as store:
        assert store.stats()["spans"] == 50


def test_units(monkeypatch: pytest.MonkeyPatch) -> None:
    cases = {"20k": 20_000, "1M": 1_000_000, "20_000": 20_000, " 7 ": 7, "1.5k": 1_500}
    for text, expected in cases.items():
        monkeypatch.setenv("SPANLITE_MAX_QUEUE", text)
        assert _settings.count("SPANLITE_MAX_QUEUE", 5) == expected
    sizes = {"256KiB": 262_144, "256kib": 262_144, "1MB": 1_000_000, "1 MiB": 1_048_576, "4096": 4096, "2KB": 2000}
    for text, expected in sizes.items():
        monkeypatch.setenv("SPANLITE_MAX_FIELD_BYTES", text)
        assert _settings.size("SPANLITE_MAX_FIELD_BYTES", 5, minimum=1024) == expected
    monkeypatch.setenv("SPANLITE_MAX_QUEUE", "")
    assert _settings.count("SPANLITE_MAX_QUEUE", 5) == 5  # empty: unset
