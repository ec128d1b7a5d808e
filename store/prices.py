"""What a model call cost: the bundled price table (``prices.csv``), the app's own rows, and the formula.

Prices are USD per million tokens, per provider (the ``gen_ai.provider.name`` of the OTel GenAI conventions) and
model id, each row with the date it was taken and its source. A call is priced from the row of its provider and
model: the same model id served by several providers at different prices (Llama on Groq and on Bedrock) is never
mixed up. A span that names no provider is priced only if exactly one provider lists its model. Rows the app adds
(``configure(prices=...)``) come first, and a row added without a provider prices that model whoever serves it.

Model ids are matched as they are, then without provider prefixes (``openai/gpt-4o``, ``models/gemini-2.5-flash``),
then without a Bedrock region (``us.anthropic.…``), then without a date or version suffix (``gpt-4o-2024-08-06``,
``claude-3-5-sonnet-20241022``, ``-latest``, ``-001``). A call whose model has no price costs ``None``, never 0.
"""

from __future__ import annotations

import csv
import functools
import io
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from spanlite.tracing import attributes as attr

COLUMNS = ("provider", "model", "input", "output", "cache_read", "cache_write", "date", "source")
_REQUIRED = ("input", "output")
_PRICES = ("input", "output", "cache_read", "cache_write")
_ANY_PROVIDER = ""
_REMEMBERED = 1024
_REGION = re.compile(r"^(?:us|eu|apac|global|us-gov|jp|au|ca)\.(?=[a-z])")
_VERSION = re.compile(r"(?:-\d{4}-\d{2}-\d{2}|-\d{8}|@\d{8}|-latest|-\d{3})$")
# Names other instrumentors and older conventions give providers (``gen_ai.system``, OpenInference's
# ``llm.provider``, LiteLLM's), as the GenAI conventions name them.
_PROVIDER_NAMES = {
    "google": "gcp.gemini",
    "gemini": "gcp.gemini",
    "vertex_ai": "gcp.vertex_ai",
    "vertexai": "gcp.vertex_ai",
    "bedrock": "aws.bedrock",
    "aws": "aws.bedrock",
    "mistral": "mistral_ai",
    "mistralai": "mistral_ai",
    "azure": "azure.ai.openai",
}


class PriceError(ValueError):
    """A price file or row that cannot be used; the message says which and why, in one line."""


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens; a cache price of ``None`` bills those tokens at the input price."""

    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None
    date: str | None = None
    source: str | None = None


class Usage(NamedTuple):
    """What a stored span says about one model call, to price it (``usage_of``); ``tuple(usage)`` is plain values."""

    models: tuple[str, ...]  # the response's model first, then the request's
    provider: str | None
    input_tokens: int | None
    output_tokens: int | None
    cache_read: int | None
    cache_write: int | None


class PriceTable:
    """The bundled prices with the app's rows on top (``with_rows``); immutable, so one table can serve any thread.

    >>> PriceTable.bundled().cost(Usage(("gpt-4o-2024-08-06",), "openai", 1000, 100, None, None))  # doctest: +SKIP
    0.0035
    """

    def __init__(self, rows: Mapping[tuple[str, str], Price], added: Mapping[tuple[str, str], Price]) -> None:
        self._rows = dict(rows)
        self._added = dict(added)
        providers: dict[str, set[str]] = {}
        for provider, model in self._rows:
            providers.setdefault(model, set()).add(provider)
        self._only_provider = {model: next(iter(p)) for model, p in providers.items() if len(p) == 1}
        self._found: dict[tuple[str, str | None], Price | None] = {}  # lookups made, the writer's every model span

    @classmethod
    def bundled(cls) -> PriceTable:
        """The table shipped with spanlite (``store/prices.csv``)."""
        return _bundled()

    @property
    def added(self) -> list[dict[str, Any]]:
        """The rows the app added, as plain values: what a writer process is handed to rebuild this table."""
        fields = (*_PRICES, "date", "source")
        return [
            {"provider": provider or None, "model": model, **{k: getattr(price, k) for k in fields}}
            for (provider, model), price in self._added.items()
        ]

    def with_rows(self, prices: str | Path | Mapping[str, Any] | Iterable[Mapping[str, Any]]) -> PriceTable:
        """This table with ``prices`` added, overriding rows of the same model: a path to a ``.csv`` (the bundled
        table's columns) or ``.json`` file, a ``{model: {"input": …, "output": …}}`` mapping, or a list of rows.
        Prices are USD per million tokens; ``cache_read``, ``cache_write``, ``provider``, ``date`` and ``source`` are
        optional. ``PriceError`` (one line) for anything that cannot be used, and then nothing is added."""
        added = dict(self._added)
        added.update(_parse(prices))
        return PriceTable(self._rows, added)

    def price(self, model: str, provider: str | None) -> Price | None:
        """The price of ``model`` served by ``provider`` (``None``: not said), or ``None`` if the table has none."""
        key = (model, provider)
        try:
            return self._found[key]
        except KeyError:
            pass
        if len(self._found) >= _REMEMBERED:  # a receiver's senders can name any number of models
            self._found.clear()
        found = self._found[key] = self._look_up(model, provider)
        return found

    def _look_up(self, model: str, provider: str | None) -> Price | None:
        provider = _provider(provider)
        for candidate in candidates(model):
            for table in (self._added, self._rows):
                if provider is not None and (found := table.get((provider, candidate))) is not None:
                    return found
                if (found := table.get((_ANY_PROVIDER, candidate))) is not None:
                    return found
            if provider is None and (only := self._only_provider.get(candidate)) is not None:
                return self._rows[only, candidate]
        return None

    def cost(self, usage: Usage) -> float | None:
        """USD for one call, ``None`` without token counts or a price.

        ``input_tokens`` counts every input token, cached ones too; cache reads and writes are billed at their own
        prices (the input price where the table has none), the rest of the input at the input price.
        """
        if usage.input_tokens is None and usage.output_tokens is None:
            return None
        price = next((p for m in usage.models if (p := self.price(m, usage.provider)) is not None), None)
        if price is None:
            return None
        read, write = usage.cache_read or 0, usage.cache_write or 0
        uncached = max((usage.input_tokens or 0) - read - write, 0)
        total = (
            uncached * price.input
            + read * (price.input if price.cache_read is None else price.cache_read)
            + write * (price.input if price.cache_write is None else price.cache_write)
            + (usage.output_tokens or 0) * price.output
        )
        return total / 1e6

    def __len__(self) -> int:
        return len(self._rows) + len(self._added)


def format_usd(cost: float | None, none: str = "") -> str:
    """A cost for people: ``$0.0042``, ``$1.25``; ``none`` for an unknown one (never ``$0``, which it is not)."""
    if cost is None:
        return none
    if cost == 0 or cost >= 1:
        return f"${cost:,.2f}"
    whole, _, cents = f"{cost:.{max(2, 3 - math.floor(math.log10(cost)))}f}".rstrip("0").partition(".")
    return f"${whole}.{cents.ljust(2, '0')}"


def candidates(model: str) -> list[str]:
    """The ids ``model`` is looked up by, most exact first."""
    found = [model.strip()]
    name = found[0].lower()
    found.append(name)
    while "/" in name:  # a router's or SDK's prefix: openai/gpt-4o, models/gemini-2.5-flash, bedrock/us.anthropic…
        name = name.split("/", 1)[1]
        found.append(name)
    if (bare := _REGION.sub("", name)) != name:
        found.append(name := bare)
    if (undated := _VERSION.sub("", name)) != name:
        found.append(undated)
    return list(dict.fromkeys(found))


def usage_of(attributes: Mapping[str, Any]) -> Usage | None:
    """What a span's attributes (spanlite's keys) say to price it; ``None`` for a span that reports no tokens."""
    input_tokens = _count(attributes.get(attr.GEN_AI_USAGE_INPUT_TOKENS))
    output_tokens = _count(attributes.get(attr.GEN_AI_USAGE_OUTPUT_TOKENS))
    if input_tokens is None and output_tokens is None:
        return None
    models = tuple(
        str(m) for m in (attributes.get(attr.GEN_AI_RESPONSE_MODEL), attributes.get(attr.GEN_AI_REQUEST_MODEL)) if m
    )
    provider = attributes.get(attr.GEN_AI_PROVIDER_NAME) or attributes.get(attr.GEN_AI_SYSTEM)
    return Usage(
        models=tuple(dict.fromkeys(models)),
        provider=str(provider) if provider else None,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read=_count(attributes.get(attr.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS)),
        cache_write=_count(attributes.get(attr.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS)),
    )


def load(prices: str | Path | Mapping[str, Any] | Iterable[Mapping[str, Any]] | None) -> PriceTable:
    """The bundled table with ``prices`` added (``PriceTable.with_rows``); the bundled one alone for ``None``."""
    table = PriceTable.bundled()
    return table if prices is None else table.with_rows(prices)


@functools.cache
def _bundled() -> PriceTable:
    text = resources.files(__package__).joinpath("prices.csv").read_text(encoding="utf-8")
    return PriceTable(_csv_rows(text, "the bundled prices.csv"), {})


def _parse(prices: Any) -> dict[tuple[str, str], Price]:
    if isinstance(prices, (str, Path)):
        path = Path(prices).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PriceError(f"cannot read prices from {path}: {exc}") from None
        if path.suffix.lower() == ".csv":
            return _csv_rows(text, str(path))
        try:
            prices = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise PriceError(f"prices file {path} is neither CSV (by its name) nor JSON: {exc}") from None
        return _rows(prices, str(path))
    return _rows(prices, "prices")


def _rows(prices: Any, where: str) -> dict[tuple[str, str], Price]:
    if isinstance(prices, Mapping):
        items = []
        for model, row in prices.items():
            if not isinstance(row, Mapping):
                example = "{'input': 2.5, 'output': 10}"
                raise PriceError(f"{where}: the price of {model!r} must be a mapping like {example}")
            items.append({**row, "model": model})
    elif isinstance(prices, Iterable) and not isinstance(prices, (str, bytes)):
        items = list(prices)
    else:
        raise PriceError(f"{where}: expected a path, a mapping of model to prices or a list of rows, not {prices!r}")
    return dict(_row(item, f"{where} row {i + 1}") for i, item in enumerate(items))


def _csv_rows(text: str, where: str) -> dict[tuple[str, str], Price]:
    reader = csv.DictReader(io.StringIO(text))
    missing = {"model", *_REQUIRED} - set(reader.fieldnames or ())
    if missing:
        raise PriceError(f"{where}: no column {', '.join(sorted(missing))} (columns: {', '.join(COLUMNS)})")
    return dict(_row(row, f"{where} line {reader.line_num}") for row in reader)


def _row(row: Any, where: str) -> tuple[tuple[str, str], Price]:
    if not isinstance(row, Mapping):
        raise PriceError(f"{where}: a row must be a mapping, not {row!r}")
    unknown = set(row) - set(COLUMNS)
    if unknown:
        names = ", ".join(sorted(map(str, unknown)))
        raise PriceError(f"{where}: unknown field {names} (fields: {', '.join(COLUMNS)})")
    model = str(row.get("model") or "").strip()
    if not model:
        raise PriceError(f"{where}: no model")
    values = {k: _number(row.get(k), f"{where} ({model}) {k}", required=k in _REQUIRED) for k in _PRICES}
    text = {k: (str(row[k]).strip() or None) if row.get(k) is not None else None for k in ("date", "source")}
    provider = _provider(row.get("provider")) or _ANY_PROVIDER
    return (provider, model.lower()), Price(**values, **text)  # type: ignore[arg-type]


def _number(value: Any, where: str, *, required: bool) -> float | None:
    if value is None or value == "":
        if required:
            raise PriceError(f"{where}: missing (USD per million tokens)")
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PriceError(f"{where}: {value!r} is not a number (USD per million tokens)") from None
    if isinstance(value, bool) or not math.isfinite(number) or number < 0:
        raise PriceError(f"{where}: {value!r} is not a price (a number, 0 or more, USD per million tokens)")
    return number


def _provider(name: Any) -> str | None:
    if not name:
        return None
    text = str(name).strip().lower()
    return _PROVIDER_NAMES.get(text, text) or None


def _count(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if number >= 0 else None
