"""LLM judges: scorers that ask a model for a verdict on an example, as JSON ``{"rationale": ..., "result": ...}``.

Names and expectation keys follow MLflow 3 (``Correctness`` reads ``expected_response`` / ``expected_facts``). An
answer that cannot be read, a call that keeps failing, or an example without what the judge needs comes back as
``Score(error=...)`` (with the ``raw`` answer), never as an exception. Judges keep no state between calls, so
``evaluate()`` runs them from several threads at once. They open no spans of their own: ``evaluate()`` wraps each
call in an EVALUATOR span, and an autologged SDK records the model call under it.

>>> judge = Correctness(model="openai:/gpt-4o-mini")  # doctest: +SKIP
>>> judge(inputs={"question": "2+2?"}, outputs="4", expectations={"expected_response": "4"})  # doctest: +SKIP
Score(value=True, rationale='The response states 4, as expected.', error=None, raw=None)
"""

from __future__ import annotations

import json
import math
import re
from typing import TYPE_CHECKING, Any, ClassVar

from spanlite.tracing.kinds import SpanKind

from . import _judge_prompts as prompts
from ._judge_models import DEFAULT_MODEL, ModelCallError, call, resolve
from .scorer import Score, Scorer, ScoreValue

if TYPE_CHECKING:
    from spanlite.store.records import Trace

__all__ = [
    "DEFAULT_MODEL",
    "Correctness",
    "Groundedness",
    "Guidelines",
    "Judge",
    "RelevanceToQuery",
    "Safety",
    "make_judge",
]

PLACEHOLDERS = ("inputs", "outputs", "expectations")
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_YES = ("yes", "true", "pass")
_NO = ("no", "false", "fail")


class Missing(Exception):
    """The example lacks what the judge needs (expectations, retrieved documents): its error, not a verdict."""


class Judge(Scorer):
    """An LLM judge. ``model``: ``"openai:/<model>"``, ``"anthropic:/<model>"``, ``"litellm:/<model>"`` (default
    ``DEFAULT_MODEL``, ``openai:/gpt-4.1-mini`` as in MLflow), or a client object (``openai.OpenAI``,
    ``anthropic.Anthropic``; give ``model`` as well to choose its model). Each call waits at most ``timeout``
    seconds and is tried up to ``attempts`` times on 429s, 5xx and timeouts. Subclasses say what to ask
    (``prompt``) and what the result means (``value``)."""

    source: ClassVar[str] = "llm_judge"
    default_name: ClassVar[str] = "judge"
    result: ClassVar[str] = prompts.YES_NO  # what the system message says "result" is

    def __init__(
        self,
        *,
        name: str | None = None,
        model: Any = None,
        client: Any = None,
        timeout: float = 60.0,
        attempts: int = 4,
    ) -> None:
        if attempts < 1 or not timeout > 0:
            raise ValueError(f"judge {name or self.default_name!r}: attempts must be >= 1 and timeout > 0")
        self.name = name or self.default_name
        self._model = resolve(model, client)
        self.timeout = timeout
        self.attempts = attempts

    @property
    def model(self) -> str:
        """The model asked, as ``provider:/name``."""
        return self._model.uri

    def prompt(self, inputs: Any, outputs: Any, expectations: dict[str, Any], trace: Trace | None) -> str:
        """The user message for one example; raises ``Missing`` when the example lacks what it needs."""
        raise NotImplementedError

    def value(self, result: Any) -> ScoreValue:
        """The score of the model's ``result``; ``ValueError`` when it is not one this judge asked for."""
        return yes_no(result)

    def score(self, **fields: Any) -> Score:
        try:
            user = self.prompt(fields["inputs"], fields["outputs"], fields["expectations"] or {}, fields["trace"])
        except Missing as exc:
            return Score(error=f"{self.name}: {exc}")
        try:
            system = prompts.SYSTEM.format(result=self.result)
            text = call(self._model, system, user, timeout=self.timeout, attempts=self.attempts)
        except ModelCallError as exc:
            return Score(error=f"{self.name} ({self.model}): {exc}")
        except Exception as exc:  # a client object's own error, or an answer of an unexpected shape
            return Score(error=f"{self.name} ({self.model}): {type(exc).__name__}: {exc}")
        return self._verdict(text)

    def _verdict(self, text: str) -> Score:
        answer = parse_answer(text)
        if answer is None:
            return Score(error=f"{self.name}: the judge's answer is not JSON with a 'result'", raw=text)
        rationale = answer.get("rationale")
        rationale = None if rationale is None else str(rationale)
        try:
            return Score(self.value(answer["result"]), rationale)
        except ValueError as exc:
            return Score(rationale=rationale, error=f"{self.name}: {exc}", raw=text)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, model={self.model!r})"


class Correctness(Judge):
    """Is the answer right? Against ``expectations["expected_response"]`` and/or ``["expected_facts"]``;
    ``True`` / ``False``."""

    default_name = "correctness"

    def prompt(self, inputs: Any, outputs: Any, expectations: dict[str, Any], trace: Trace | None) -> str:
        expected = prompts.expected(expectations)
        if expected is None:
            raise Missing("needs expectations['expected_response'] or expectations['expected_facts']")
        return prompts.CORRECTNESS.format(
            inputs=prompts.render(inputs), outputs=prompts.render(outputs), expected=expected
        )


class RelevanceToQuery(Judge):
    """Does the answer address what was asked (right or wrong)? ``True`` / ``False``."""

    default_name = "relevance_to_query"

    def prompt(self, inputs: Any, outputs: Any, expectations: dict[str, Any], trace: Trace | None) -> str:
        return prompts.RELEVANCE_TO_QUERY.format(inputs=prompts.render(inputs), outputs=prompts.render(outputs))


class Groundedness(Judge):
    """Is every claim in the answer supported by what the app retrieved: the outputs of the trace's RETRIEVER
    spans? ``True`` / ``False``; an error for an example without a trace or without retrieved documents."""

    default_name = "groundedness"

    def prompt(self, inputs: Any, outputs: Any, expectations: dict[str, Any], trace: Trace | None) -> str:
        if trace is None:
            raise Missing("needs the example's trace, to read what was retrieved")
        documents = retrieved_documents(trace)
        if not documents:
            raise Missing("the trace has no RETRIEVER span with documents in its outputs")
        return prompts.GROUNDEDNESS.format(
            inputs=prompts.render(inputs), context=prompts.numbered(documents), outputs=prompts.render(outputs)
        )


class Safety(Judge):
    """Is the answer free of harmful content? ``True`` when it is safe."""

    default_name = "safety"

    def prompt(self, inputs: Any, outputs: Any, expectations: dict[str, Any], trace: Trace | None) -> str:
        return prompts.SAFETY.format(outputs=prompts.render(outputs))


class Guidelines(Judge):
    """Does the answer follow every guideline given? ``True`` / ``False``, the rationale says which it broke.

    >>> Guidelines(name="polite", guidelines=["Never blames the user."])  # doctest: +SKIP
    """

    default_name = "guidelines"

    def __init__(self, *, guidelines: str | list[str], name: str | None = None, **options: Any) -> None:
        self.guidelines = [guidelines] if isinstance(guidelines, str) else list(guidelines)
        if not self.guidelines or not all(isinstance(g, str) and g.strip() for g in self.guidelines):
            raise ValueError("Guidelines needs at least one guideline, each a non-empty string")
        super().__init__(name=name, **options)

    def prompt(self, inputs: Any, outputs: Any, expectations: dict[str, Any], trace: Trace | None) -> str:
        listed = "\n".join(f"- {g}" for g in self.guidelines)
        return prompts.GUIDELINES.format(
            guidelines=listed, inputs=prompts.render(inputs), outputs=prompts.render(outputs)
        )


class InstructionsJudge(Judge):
    """A judge of any rubric (``make_judge``); its value is the result as the model gives it."""

    result = prompts.ANY_RESULT

    def __init__(self, *, name: str, instructions: str, **options: Any) -> None:
        used = _PLACEHOLDER.findall(instructions)
        if unknown := sorted(set(used) - set(PLACEHOLDERS)):
            allowed = ", ".join("{{ %s }}" % p for p in PLACEHOLDERS)  # noqa: UP031 - the braces are the point
            raise ValueError(f"judge {name!r}: unknown placeholder {{{{ {unknown[0]} }}}}; use {allowed}")
        if not used:
            raise ValueError(f"judge {name!r}: the instructions show the judge nothing; use {{{{ outputs }}}} etc.")
        self.instructions = instructions
        super().__init__(name=name, **options)

    def prompt(self, inputs: Any, outputs: Any, expectations: dict[str, Any], trace: Trace | None) -> str:
        values = {"inputs": inputs, "outputs": outputs, "expectations": expectations or None}
        filled = _PLACEHOLDER.sub(lambda m: prompts.render(values[m.group(1)]), self.instructions)
        return prompts.CUSTOM.format(instructions=filled)

    def value(self, result: Any) -> ScoreValue:
        if isinstance(result, bool | int | str) or (isinstance(result, float) and math.isfinite(result)):
            return result
        raise ValueError(f"the judge's result is {json.dumps(result)[:80]}; expected a string, number or true/false")


def make_judge(name: str, instructions: str, model: Any = None, **options: Any) -> Judge:
    """A judge of your own rubric: ``instructions`` shows the example through ``{{ inputs }}``, ``{{ outputs }}``
    and ``{{ expectations }}`` (anything else is a ``ValueError`` here) and says what result to give.

    >>> tone = make_judge("tone", "Is {{ outputs }} friendly? Result 'yes' or 'no'.", model="openai:/gpt-4o-mini")
    """
    return InstructionsJudge(name=name, instructions=instructions, model=model, **options)


def parse_answer(text: str) -> dict[str, Any] | None:
    """The judge's JSON object, read leniently (a code fence or words around it); ``None`` without a ``result``."""
    candidates = [text.strip()]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            answer = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(answer, dict) and "result" in answer:
            return answer
    return None


def yes_no(result: Any) -> bool:
    """A yes/no verdict as a bool (MLflow's judges answer ``"yes"`` / ``"no"``)."""
    if isinstance(result, bool):
        return result
    word = str(result).strip().lower() if isinstance(result, str) else None
    if word in _YES:
        return True
    if word in _NO:
        return False
    raise ValueError(f'the judge\'s result is {json.dumps(result)[:80]}; expected "yes" or "no"')


def retrieved_documents(trace: Trace) -> list[str]:
    """The text of each document the trace's RETRIEVER spans returned, in order: LangChain's and MLflow's
    ``page_content``, OpenInference's ``content`` (as ingested), a ``text`` field, or plain strings."""
    documents: list[str] = []
    for span in trace.spans:
        if span.kind != SpanKind.RETRIEVER.value or span.outputs is None:
            continue
        outputs = span.outputs
        if isinstance(outputs, dict) and isinstance(outputs.get("documents"), list):
            outputs = outputs["documents"]
        for document in outputs if isinstance(outputs, list) else [outputs]:
            documents.append(_document_text(document))
    return [d for d in documents if d]


def _document_text(document: Any) -> str:
    if isinstance(document, dict):
        for key in ("page_content", "content", "text"):
            if isinstance(document.get(key), str):
                return str(document[key])
    return prompts.render(document) if document is not None else ""
