"""``spanlite.datasets``: evaluation datasets in the configured store (``spanlite.evaluation.datasets`` takes any
store).

>>> qa = spanlite.datasets.create("qa")  # doctest: +SKIP
>>> qa.add([{"inputs": {"question": "2+2?"}, "expectations": {"expected_response": "4"}}])  # doctest: +SKIP
>>> spanlite.datasets.get("qa").to_dataframe()  # doctest: +SKIP
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

from spanlite._config import default_store
from spanlite.evaluation import datasets as _datasets
from spanlite.evaluation.datasets import Dataset

__all__ = ["Dataset", "create", "delete", "get", "list"]


def create(name: str, *, description: str | None = None, tags: Mapping[str, Any] | None = None) -> Dataset:
    """A new, empty dataset (version 0); ``ValueError`` if ``name`` is taken."""
    return _datasets.create(name, description=description, tags=tags, store=default_store())


def get(name: str) -> Dataset:
    """The dataset called ``name``; ``ValueError`` if there is none."""
    return _datasets.get(name, store=default_store())


def list() -> builtins.list[Dataset]:  # shadows the builtin here: `spanlite.datasets.list()` reads best
    """Every dataset, by name."""
    return _datasets.list(store=default_store())


def delete(name: str) -> bool:
    """Delete a dataset and all its versions; ``False`` if there was none."""
    return _datasets.delete(name, store=default_store())
