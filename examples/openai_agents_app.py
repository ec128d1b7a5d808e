"""A support desk on the OpenAI Agents SDK: a triage agent, behind a guardrail, hands billing questions off to a billing
agent that looks the customer up and checks the invoice with two tools. The run is one trace: the workflow, each
agent, its model calls, the tool calls and the handoff.

Against the loopback fake OpenAI server (no key, no network), from the repository root:

    spanlite run -- python examples/openai_agents_app.py --fake

``spanlite run`` turns autolog on: the app itself has no tracing code. Against OpenAI, with ``OPENAI_API_KEY`` set:
``spanlite run -- python examples/openai_agents_app.py "Why was I charged twice?"``. Then ``spanlite traces list``
shows the trace. The SDK also sends its traces to OpenAI's dashboard when a key is set; ``--local`` keeps them here
only (``agents.set_trace_processors([])``, which ``--fake`` implies).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from agents import (
    Agent,
    GuardrailFunctionOutput,
    OpenAIResponsesModel,
    RunConfig,
    RunContextWrapper,
    Runner,
    function_tool,
    input_guardrail,
    set_trace_processors,
)
from openai import AsyncOpenAI

MODEL = "gpt-4.1-mini"
INVOICES = {"ada@example.com": [{"id": "INV-7", "amount": 42.0}, {"id": "INV-7", "amount": 42.0}]}


@function_tool
def find_customer(email: str) -> dict[str, Any]:
    """The customer's account, by email."""
    return {"email": email, "plan": "pro", "invoices": len(INVOICES.get(email, []))}


@function_tool
def check_invoices(email: str) -> str:
    """Whether the customer was charged twice for one invoice."""
    ids = [invoice["id"] for invoice in INVOICES.get(email, [])]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    return f"charged twice for {', '.join(twice)}" if twice else "no double charge"


@input_guardrail
def on_topic(context: RunContextWrapper[Any], agent: Agent[Any], question: Any) -> GuardrailFunctionOutput:
    """Trips on anything that is not a support question (a crude keyword check, enough for the example)."""
    off_topic = "poem" in str(question).lower()
    return GuardrailFunctionOutput(output_info={"off_topic": off_topic}, tripwire_triggered=off_topic)


def desk(client: AsyncOpenAI, triage_model: str = MODEL, billing_model: str = MODEL) -> Agent[Any]:
    billing = Agent(
        name="billing",
        instructions="You sort out billing questions. Look the customer up, check the invoices, answer briefly.",
        tools=[find_customer, check_invoices],
        model=OpenAIResponsesModel(model=billing_model, openai_client=client),
    )
    return Agent(
        name="triage",
        instructions="You route support questions: hand billing questions to the billing agent.",
        handoffs=[billing],
        input_guardrails=[on_topic],
        model=OpenAIResponsesModel(model=triage_model, openai_client=client),
    )


def script(server: Any) -> None:
    """What the fake model answers, one script per model name: triage hands off, billing calls both tools at once,
    then answers."""
    server.script("triage", [[("transfer_to_billing", {}, "call_handoff")]])
    email = {"email": "ada@example.com"}
    calls = [("find_customer", email, "call_find"), ("check_invoices", email, "call_check")]
    server.script("billing", [calls, "You were charged twice for INV-7; a refund is on its way."])


async def ask(agent: Agent[Any], question: str) -> str:
    config = RunConfig(workflow_name="support desk", group_id="ticket-1001")  # the group is the trace's session
    result = await Runner.run(agent, question, run_config=config)
    return str(result.final_output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("question", nargs="?", default="Why was I charged twice? I'm ada@example.com.")
    parser.add_argument("--fake", action="store_true", help="talk to the loopback fake OpenAI server")
    parser.add_argument("--local", action="store_true", help="keep the SDK's traces from OpenAI's dashboard")
    args = parser.parse_args()
    if args.fake or args.local:
        set_trace_processors([])  # the SDK's exporter to OpenAI's backend goes; spanlite's processor stays

    server = None
    if args.fake:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        from fake_llm_server import FakeLLMServer

        server = FakeLLMServer().start()
        script(server)
        client = AsyncOpenAI(base_url=server.url + "/v1", api_key="fake")
        agent = desk(client, "triage", "billing")
    else:
        client = AsyncOpenAI()
        agent = desk(client)
    try:
        print(asyncio.run(ask(agent, args.question)))
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
