"""OTLP, both ways: the receiver that stores spans any OpenTelemetry SDK sends (``spanlite serve``), and the exporter
that sends spanlite's own spans, redacted, to any OTLP backend (``configure(otlp_endpoint=...)``).

>>> from spanlite.otlp import start_receiver
>>> with start_receiver("traces.db", port=0) as receiver:  # doctest: +SKIP
...     print(receiver.endpoint)
http://127.0.0.1:40123/v1/traces
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .receiver import Receiver, serve, start_receiver

# Loaded on first use: the receiver needs the optional ``otlp`` extra (protobuf, OTLP protos), and ``import spanlite``
# loads this package for the exporter's settings.
_LAZY = {"Receiver": "receiver", "serve": "receiver", "start_receiver": "receiver"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = globals()[name] = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    return value


__all__ = ["Receiver", "serve", "start_receiver"]
