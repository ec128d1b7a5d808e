"""A Pydantic AI trip planner: an agent that looks up the weather with a tool and answers with a typed forecast.
The run becomes one trace: the agent, each model request, the tool call with its arguments and result.

Against the loopback fake OpenAI server (no key, no network), from the repository root:

    spanlite run -- python examples/pydantic_ai_app.py --fake

``spanlite run`` turns autolog on: the app itself knows nothing of spanlite. Against OpenAI, with ``OPENAI_API_KEY``
set: ``spanlite run -- python examples/pydantic_ai_app.py "Should I pack an umbrella for Lisbon?"``. Then
``spanlite traces list`` and ``spanlite traces show <trace id>`` show the trace.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

MODEL = "gpt-4o-mini"
CITIES = {"paris": (21, "sunny"), "lisbon": (17, "showers"), "oslo": (4, "snow")}


class Forecast(BaseModel):
    """What the planner answers: typed, so the app can use it rather than parse prose."""

    city: str
    celsius: int
    umbrella: bool
    advice: str


def get_weather(city: str) -> dict[str, Any]:
    """The current weather in a city."""
    celsius, sky = CITIES.get(city.lower(), (15, "cloudy"))
    return {"city": city, "celsius": celsius, "sky": sky}


def planner(model: Any) -> Any:
    from pydantic_ai import Agent

    agent = Agent(
        model,
        name="trip_planner",
        output_type=Forecast,
        instructions="You help travellers pack. Look up the weather before you answer.",
    )
    agent.tool_plain(get_weather)
    return agent


async def ask(model: Any, question: str) -> Forecast:
    async with model.client:  # the HTTP client closes with the event loop that used it
        result = await planner(model).run(question)
    forecast: Forecast = result.output
    return forecast


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("question", nargs="?", default="Should I pack an umbrella for Paris?")
    parser.add_argument("--fake", action="store_true", help="talk to the loopback fake OpenAI server")
    args = parser.parse_args()

    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    server = None
    if args.fake:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        from fake_llm_server import FakeLLMServer

        server = FakeLLMServer().start()
        # The fake has no model behind it: it is told the two turns a real model would take here.
        answer = {"city": "Paris", "celsius": 21, "umbrella": False, "advice": "Sunglasses, not an umbrella."}
        server.script(MODEL, [[("get_weather", {"city": "Paris"})], [("final_result", answer)]])
        model = OpenAIChatModel(MODEL, provider=OpenAIProvider(base_url=server.url + "/v1", api_key="fake"))
    else:
        model = OpenAIChatModel(MODEL)
    try:
        print(asyncio.run(ask(model, args.question)).model_dump_json())
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
