"""Run spanlite's own code so that its failures never reach the user's code."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from . import _settings

logger = logging.getLogger("spanlite")
T = TypeVar("T")


def strict() -> bool:
    """``SPANLITE_STRICT=1`` turns swallowed internal errors into exceptions; the test suite sets it."""
    return _settings.flag("SPANLITE_STRICT")


strict()  # read at import too, so that a typo in it is reported now and not at spanlite's first error


def guard(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """Call ``fn``; on our own error log it and return ``None`` (or re-raise in strict mode)."""
    try:
        return fn(*args, **kwargs)
    except Exception:
        internal_error(fn)
        return None


def internal_error(where: Callable[..., Any]) -> None:
    """Inside ``except``: log our own error raised in ``where`` and go on (re-raise it in strict mode).

    For hot paths that inline ``guard``'s try/except to save a call.
    """
    if strict():
        raise
    log_internal_error(where)


def log_internal_error(where: Callable[..., Any]) -> None:
    """Inside ``except``: log our own error raised in ``where``, in strict mode too: for a thread of ours, where
    there is no caller to raise into."""
    logger.exception("spanlite internal error in %s (ignored; your code is unaffected)", _name(where))


def _name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)
