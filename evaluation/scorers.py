"""The built-in scorers, as ``spanlite.scorers``: code checks on an example's output and trace, and the LLM judges.

Names and expectation keys follow MLflow 3 where it has the same check (``ExactMatch`` compares the output with
``expectations["expected_response"]``; ``Contains`` takes MLflow's arguments). Each returns a ``Score`` with a
short rationale; pass ``name=`` to tell two of a kind apart in one run. The trace checks read the example's trace:
without one, or without the numbers they need (a cost needs a price for the model), they say so rather than fail.

>>> ExactMatch()(outputs="Paris", expectations={"expected_response": "Paris"})
Score(value=True, rationale='The output is the expected response.', error=None, raw=None)
>>> Contains(["paris", "france"])(outputs="Paris is in France.").value
True
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from spanlite.tracing import attributes as attr
from spanlite.tracing.kinds import SpanKind

from .judges import Correctness, Groundedness, Guidelines, Judge, RelevanceToQuery, Safety, make_judge
from .scorer import Score, Scorer

if TYPE_CHECKING:
    from spanlite.store.records import SpanRecord

__all__ = [
    "Contains",
    "Correctness",
    "CostUnder",
    "ExactMatch",
    "Groundedness",
    "Guidelines",
    "JsonValid",
    "Judge",
    "LatencyUnder",
    "MatchesJsonSchema",
    "Regex",
    "RelevanceToQuery",
    "Safety",
    "TokensUnder",
    "ToolCalled",
    "make_judge",
]

_SHOWN = 80  # characters of an output a rationale quotes
_MODEL_KINDS = (SpanKind.CHAT_MODEL.value, SpanKind.LLM.value)


class ExactMatch(Scorer):
    """Is the output the expected response (``expectations["expected_response"]``)? Text is compared as it is;
    anything else as canonical JSON, so ``{"a": 1}`` matches ``'{"a": 1}'``."""

    def __init__(self, *, name: str = "exact_match") -> None:
        self.name = name

    def score(self, **fields: Any) -> Score:
        expectations = fields["expectations"] or {}
        if "expected_response" not in expectations:
            return Score(error=f"{self.name} needs expectations['expected_response']")
        got, expected = _text(fields["outputs"]), _text(expectations["expected_response"])
        if got == expected:
            return Score(True, "The output is the expected response.")
        return Score(False, f"Expected {_quote(expected)}, got {_quote(got)}.")


class Contains(Scorer):
    """Does the output contain ``needles`` (all of them, or any with ``match_any``)? Case-insensitive unless
    ``case_sensitive``, as MLflow's ``Contains``."""

    def __init__(
        self,
        needles: str | list[str],
        *,
        match_any: bool = False,
        case_sensitive: bool = False,
        name: str | None = None,
    ) -> None:
        self.needles = [needles] if isinstance(needles, str) else list(needles)
        if not self.needles or not all(isinstance(n, str) and n for n in self.needles):
            raise ValueError("Contains needs at least one non-empty string to look for")
        self.match_any = match_any
        self.case_sensitive = case_sensitive
        self.name = name or "contains_" + "_".join(_slug(n) for n in self.needles[:3])[:40]

    def score(self, **fields: Any) -> Score:
        text = _text(fields["outputs"])
        fold = (lambda s: s) if self.case_sensitive else str.casefold
        found = [n for n in self.needles if fold(n) in fold(text)]
        missing = [n for n in self.needles if n not in found]
        if self.match_any:
            return (
                Score(True, f"Found {found}.") if found else Score(False, f"None of {self.needles} is in the output.")
            )
        return Score(False, f"Missing {missing}.") if missing else Score(True, f"Found all of {self.needles}.")


class Regex(Scorer):
    """Does the output match ``pattern`` (anywhere, or as a whole with ``full_match``)? Flags go in the pattern
    (``(?i)``)."""

    def __init__(self, pattern: str, *, full_match: bool = False, name: str = "regex_match") -> None:
        try:
            self.pattern = re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"Regex: {pattern!r} is not a regular expression: {exc}") from None
        self.full_match = full_match
        self.name = name

    def score(self, **fields: Any) -> Score:
        text = _text(fields["outputs"])
        match = self.pattern.fullmatch(text) if self.full_match else self.pattern.search(text)
        if match is None:
            how = "match" if self.full_match else "contain a match of"
            return Score(False, f"The output does not {how} {self.pattern.pattern!r}.")
        return Score(True, f"Matched {_quote(match.group(0))}.")


class JsonValid(Scorer):
    """Is the output JSON? Text must parse; an output that is already data (a dict, a list) is JSON."""

    def __init__(self, *, name: str = "json_valid") -> None:
        self.name = name

    def score(self, **fields: Any) -> Score:
        parsed, error = _parsed(fields["outputs"])
        return Score(False, error) if error else Score(True, f"The output is valid JSON ({_json_type(parsed)}).")


class MatchesJsonSchema(Scorer):
    """Is the output JSON that ``schema`` (a JSON Schema) accepts? Needs ``jsonschema``:
    ``pip install 'spanlite[evaluation]'``. The schema is checked here, once."""

    def __init__(self, schema: dict[str, Any], *, name: str = "matches_json_schema") -> None:
        try:
            import jsonschema
        except ImportError:
            raise ImportError("MatchesJsonSchema needs jsonschema: pip install 'spanlite[evaluation]'") from None
        validator = jsonschema.validators.validator_for(schema)
        try:
            validator.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise ValueError(f"MatchesJsonSchema: not a valid JSON Schema: {exc.message}") from None
        self.validator = validator(schema)
        self.name = name

    def score(self, **fields: Any) -> Score:
        import jsonschema

        parsed, error = _parsed(fields["outputs"])
        if error:
            return Score(False, error)
        if (problem := jsonschema.exceptions.best_match(self.validator.iter_errors(parsed))) is None:
            return Score(True, "The output matches the schema.")
        where = "/".join(str(p) for p in problem.absolute_path) or "the top level"
        return Score(False, f"At {where}: {problem.message[:200]}")


class LatencyUnder(Scorer):
    """Did the example's trace take under ``ms`` milliseconds, from its first span's start to its last's end?"""

    def __init__(self, ms: float, *, name: str = "latency_under") -> None:
        self.ms = _positive(ms, "LatencyUnder(ms)")
        self.name = name

    def score(self, **fields: Any) -> Score:
        if (trace := fields["trace"]) is None:
            return Score(error=f"{self.name} needs the example's trace")
        took = trace.info.duration_ms
        under = took < self.ms
        return Score(under, f"The trace took {took:.0f} ms, {'under' if under else 'not under'} {self.ms:g} ms.")


class TokensUnder(Scorer):
    """Did the example's model calls use under ``n`` tokens, input and output together (the trace's totals)?
    A trace with no token counts has no verdict (value ``None``), which the rationale says."""

    def __init__(self, n: int, *, name: str = "tokens_under") -> None:
        self.n = _positive(n, "TokensUnder(n)")
        self.name = name

    def score(self, **fields: Any) -> Score:
        if (trace := fields["trace"]) is None:
            return Score(error=f"{self.name} needs the example's trace")
        counts = (trace.info.input_tokens, trace.info.output_tokens)
        if counts == (None, None):
            return Score(None, "Token counts unknown: no span in the trace reported usage.")
        total = sum(c or 0 for c in counts)
        under = total < self.n
        return Score(under, f"{total} tokens ({counts[0] or 0} in, {counts[1] or 0} out), under {self.n}: {under}.")


class CostUnder(Scorer):
    """Did the example's model calls cost under ``usd`` dollars (the trace's total, from ``spanlite.store.prices``)?
    An unknown cost (no price for the model) has no verdict (value ``None``), which the rationale says."""

    def __init__(self, usd: float, *, name: str = "cost_under") -> None:
        self.usd = _positive(usd, "CostUnder(usd)")
        self.name = name

    def score(self, **fields: Any) -> Score:
        if (trace := fields["trace"]) is None:
            return Score(error=f"{self.name} needs the example's trace")
        cost = trace.info.cost
        if cost is None:
            return Score(None, "Cost unknown: no model call in the trace has token counts and a known price.")
        under = cost < self.usd
        return Score(under, f"The trace cost ${cost:.6g}, {'under' if under else 'not under'} ${self.usd:g}.")


class ToolCalled(Scorer):
    """Was the tool ``tool`` called? Counted from the trace's TOOL spans; where none ran (an app that runs its
    tools untraced), from the tool calls its model spans asked for."""

    def __init__(self, tool: str, *, name: str | None = None) -> None:
        if not isinstance(tool, str) or not tool:
            raise ValueError("ToolCalled needs the tool's name")
        self.tool = tool
        self.name = name or f"tool_called_{_slug(tool)}"

    def score(self, **fields: Any) -> Score:
        if (trace := fields["trace"]) is None:
            return Score(error=f"{self.name} needs the example's trace")
        runs = sum(1 for s in trace.spans if s.kind == SpanKind.TOOL.value and _tool_name(s) == self.tool)
        if runs:
            return Score(True, f"Tool {self.tool!r} ran {runs} time{'s' if runs > 1 else ''}.")
        asked = sum(
            1 for s in trace.spans if s.kind in _MODEL_KINDS for name in _requested_tools(s) if name == self.tool
        )
        if asked:
            return Score(True, f"The model called tool {self.tool!r} {asked} time{'s' if asked > 1 else ''}.")
        called = sorted({_tool_name(s) for s in trace.spans if s.kind == SpanKind.TOOL.value})
        return Score(False, f"Tool {self.tool!r} was not called" + (f" (called: {called})." if called else "."))


def _text(value: Any) -> str:
    """An output as text: text as it is, ``None`` as empty, anything else as canonical JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _quote(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "...")


def _slug(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", text.lower()).strip("_") or "text"


def _parsed(outputs: Any) -> tuple[Any, str | None]:
    """The output as JSON data, or why it is not JSON."""
    if outputs is None:
        return None, "There is no output."
    if not isinstance(outputs, str):
        return outputs, None
    try:
        return json.loads(outputs), None
    except ValueError as exc:
        return None, f"The output is not JSON: {exc}."


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _positive(bound: float, what: str) -> float:
    if isinstance(bound, bool) or not isinstance(bound, int | float) or not bound > 0:
        raise ValueError(f"{what} must be a positive number, not {bound!r}")
    return bound


def _tool_name(span: SpanRecord) -> str:
    name = span.attributes.get(attr.GEN_AI_TOOL_NAME)
    if isinstance(name, str) and name:
        return name
    return span.name.removeprefix("execute_tool ")  # the GenAI semconv names a tool span "execute_tool <tool>"


def _requested_tools(span: SpanRecord) -> list[str]:
    """The names of the tools a model span's output messages call (GenAI parts: ``{"type": "tool_call"}``)."""
    messages = span.attributes.get(attr.GEN_AI_OUTPUT_MESSAGES)
    if isinstance(messages, str):
        try:
            messages = json.loads(messages)
        except ValueError:
            return []
    names = []
    for message in messages if isinstance(messages, list) else []:
        for part in (message.get("parts") or []) if isinstance(message, dict) else []:
            if isinstance(part, dict) and part.get("type") == "tool_call" and isinstance(part.get("name"), str):
                names.append(part["name"])
    return names
