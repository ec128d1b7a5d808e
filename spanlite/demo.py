"""``spanlite demo``: a small customer-support agent, traced end to end into the store, offline.

The agent plans with a chat model, calls tools (document search with embeddings, an order lookup that can fail,
a calculator), and answers; some questions stream, some share a chat session. The model is scripted
(``_demo_model``) but reached through the real OpenAI SDK, so its spans come from ``autolog`` as in a real app.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import orjson

import spanlite

DOCS = {
    "refund-policy": "Refunds are issued to the original payment method within 5 business days of receiving the item.",
    "returns": "Items can be returned within 30 days of delivery if unused and in their original packaging.",
    "warranty": "Electronics carry a 2-year limited warranty covering manufacturing defects.",
    "shipping": "Standard shipping takes 3-5 business days; express shipping arrives the next business day.",
}
ORDERS = {"1042": "shipped on Nov 24, arriving Nov 28", "2077": "delivered on Nov 20"}
TOOLS = [
    {"type": "function", "function": {"name": "search_docs", "description": "Search the help centre.",
     "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}},
    {"type": "function", "function": {"name": "get_order_status", "description": "Look up an order.",
     "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}},
    {"type": "function", "function": {"name": "calculator", "description": "Evaluate arithmetic.",
     "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]}}},
]  # fmt: skip
CONVERSATIONS = [
    ("session-ada", "ada", ["What is your refund policy?", "And where is my order 1042?"]),
    ("session-grace", "grace", ["How do returns work for a blender?", "Is there a warranty on it?"]),
    ("session-linus", "linus", ["Where is order 9999?"]),
    ("session-ada-2", "ada", ["What would the blender cost with a 15% discount?"]),
    ("session-margaret", "margaret", ["hello!", "Cancel all my orders right now!"]),
]
EMBEDDER = "text-embedding-3-small"
SYSTEM = "You are a concise support agent for an online shop. Use the tools; never invent order details."


class UnknownOrder(LookupError):
    pass


def run_demo(db: str | Path) -> int:
    """Run the example agent over a few conversations into ``db``; returns how many traces it wrote."""
    try:
        import openai
    except ImportError:
        raise SystemExit("the demo needs the OpenAI SDK: pip install 'spanlite[demo]'") from None
    from spanlite._demo_model import transport

    spanlite.configure(db=db)
    spanlite.autolog("openai")
    http_client = openai.DefaultHttpxClient(transport=transport())
    client = openai.OpenAI(
        api_key="demo-key", base_url="http://scripted-model.invalid/v1", http_client=http_client, max_retries=0
    )
    agent = SupportAgent(client)
    turns = 0
    for session_id, user, questions in CONVERSATIONS:
        history: list[dict[str, Any]] = []
        for turn, question in enumerate(questions):
            turns += 1
            try:
                agent.answer(question, history, session_id, user, stream=turn % 2 == 1)
            except openai.APIError:  # the scripted model fails some calls, as real ones do; the trace shows it
                pass
    spanlite.flush()
    return turns


class SupportAgent:
    """Plan with the model, act with tools, answer; every step is a span."""

    def __init__(self, client: Any) -> None:
        self.client = client

    @spanlite.trace(name="support agent", kind="AGENT", capture_inputs=False)
    def answer(self, question: str, history: list[dict[str, Any]], session_id: str, user: str, stream: bool) -> str:
        spanlite.current_span().set_inputs({"question": question, "turn": len(history) // 2 + 1})
        spanlite.update_current_trace(
            session_id=session_id, user_id=user, tags=["demo", "support-agent"], metadata={"app_version": "1.4.2"}
        )
        history.append({"role": "user", "content": question})
        messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}, *history]
        for _ in range(4):  # plan, act, answer
            reply = self.client.chat.completions.create(
                model="gpt-4o-mini", messages=messages, tools=TOOLS, temperature=0.2
            )
            message = reply.choices[0].message
            if not message.tool_calls:
                break
            messages.append(message.model_dump(exclude_none=True))
            for call in message.tool_calls:
                result = self.run_tool(call.function.name, orjson.loads(call.function.arguments))
                messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
        answer = self.stream_answer(messages) if stream else message.content or ""
        history.append({"role": "assistant", "content": answer})
        return answer

    def stream_answer(self, messages: list[dict[str, Any]]) -> str:
        """Stream the answer as a chat UI would; the autolog span records the reassembled text."""
        if messages[-1]["role"] == "assistant":
            messages = messages[:-1]
        chunks = self.client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True)
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)

    @spanlite.trace(kind="TOOL")
    def run_tool(self, name: str, arguments: dict[str, Any]) -> str:
        try:
            if name == "search_docs":
                return " ".join(d["text"] for d in self.search_docs(arguments["query"]))
            if name == "get_order_status":
                return f"Order {arguments['order_id']}: {self.get_order_status(arguments['order_id'])}."
            if name == "calculator":
                return self.calculator(arguments["expression"])
            return f"error: no tool {name}"
        except UnknownOrder as exc:
            return f"error: {exc}"

    @spanlite.trace(kind="RETRIEVER")
    def search_docs(self, query: str, k: int = 2) -> list[dict[str, Any]]:
        texts = list(DOCS.values())
        vectors = [e.embedding for e in self.client.embeddings.create(model=EMBEDDER, input=[query, *texts]).data]
        scores = [_similarity(vectors[0], v) for v in vectors[1:]]
        words = {w.strip("?,.") for w in query.lower().split()}
        ranked = sorted(zip(scores, DOCS, texts), key=lambda s: (-sum(w in s[2].lower() for w in words), -s[0]))
        return [{"id": key, "score": round(score, 3), "text": text} for score, key, text in ranked[:k]]

    @spanlite.trace(kind="TOOL")
    def get_order_status(self, order_id: str) -> str:
        time.sleep(0.02)
        if order_id not in ORDERS:
            raise UnknownOrder(f"no order #{order_id}")
        return ORDERS[order_id]

    @spanlite.trace(kind="TOOL")
    def calculator(self, expression: str) -> str:
        left, right = (float(x) for x in expression.split("*"))
        return f"{left * right:.2f}"


def _similarity(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))
