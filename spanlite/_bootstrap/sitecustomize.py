"""``spanlite run``'s start-up hook: Python imports it at start-up because ``spanlite run`` puts this folder first on
``PYTHONPATH``, in the program it runs and in every Python process that program starts.

It runs in each of them, so it costs almost nothing: it imports no spanlite. It watches imports for the libraries
autolog patches (``$SPANLITE_AUTOLOG``, their import names) and, at the first, imports spanlite and turns autolog on;
spans then go to the default store, ``$SPANLITE_DB``, which ``spanlite run`` set. Then it runs the ``sitecustomize``
Python would have imported without this one (Debian's, a user's), as that one, so nothing the user had stops working.

An interpreter that cannot import spanlite (another virtual environment, one ``uv run`` made) runs the program
untraced, saying so in one line on stderr, once for the whole tree of processes.
"""

from __future__ import annotations

import _thread
import os
import sys
from importlib.machinery import ModuleSpec, PathFinder

TYPE_CHECKING = False  # not from typing, which would add a tenth to the start-up of every Python process
if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import ModuleType

_HERE = os.path.dirname(os.path.abspath(__file__))
_WARNED = "SPANLITE_RUN_WARNED"  # set once the line is written: child processes do not write it again


class _AutologOnImport:
    """On ``sys.meta_path``: the first import of a watched library turns autolog on before that library loads.

    autolog patches a library from a post-import hook, a finder of its own that the imports under way do not ask (it
    joins ``sys.meta_path`` while they walk it): so this finder looks the library up again once autolog is on,
    through the whole ``sys.meta_path``, and answers with what that lookup found.
    """

    def __init__(self, names: set[str]) -> None:
        self.names = names
        self.lock = _thread.RLock()
        self.done = False
        self.on = False

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname not in self.names:
            return None
        with self.lock:  # another thread importing a watched library meanwhile waits until autolog is on
            if not self.done:
                self.done = True
                try:
                    sys.meta_path.remove(self)  # asked no more, and never while autolog starts
                except ValueError:
                    pass
                self.on = _turn_on_autolog()
        if not self.on:
            return None
        from importlib.util import find_spec

        return find_spec(fullname)


def _turn_on_autolog() -> bool:
    """Never raises: a program whose tracing cannot start still runs, untraced, and says so once."""
    try:
        import spanlite

        spanlite.autolog()
        return True
    except Exception as exc:
        if not os.environ.get(_WARNED):
            os.environ[_WARNED] = "1"
            reason = f"cannot import spanlite ({exc})" if isinstance(exc, ImportError) else f"cannot autolog ({exc!r})"
            print(f"spanlite run: {sys.executable} {reason}; this program runs untraced", file=sys.stderr)
        return False


def _start() -> None:
    names = {name for name in os.environ.get("SPANLITE_AUTOLOG", "").split(",") if name}
    if not names:
        return
    if any(name in sys.modules for name in names):  # imported already, by a .pth file
        _turn_on_autolog()
        return
    sys.meta_path.insert(0, _AutologOnImport(names))


def _chain() -> None:
    """Import the next ``sitecustomize`` on ``sys.path``, the one Python imports without ``spanlite run``, as Python
    would have: its errors reach ``site``, which reports them as it would have, and ``import sitecustomize`` gives it.

    This folder leaves ``sys.path``, where the program would not expect it (``PYTHONPATH`` keeps it, for children).
    """
    sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or os.curdir) != _HERE]
    if PathFinder.find_spec("sitecustomize", sys.path) is None:
        return
    del sys.modules[__name__]  # so that importing the name finds the next one (our module lives on in our finder)
    __import__("sitecustomize")


_start()
_chain()
