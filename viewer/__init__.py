"""The Streamlit trace viewer; ``run_viewer`` serves it (what ``spanlite ui`` calls).

>>> from spanlite.viewer import run_viewer
>>> run_viewer(Path("traces.db"), port=8501)  # doctest: +SKIP
"""

from __future__ import annotations

from .launch import run_viewer, viewer_command

__all__ = ["run_viewer", "viewer_command"]
