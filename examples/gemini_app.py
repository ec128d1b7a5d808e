"""A weather assistant on Gemini that calls a function: the model asks for it, the app runs it and sends the result
back, the model answers. Every request to Gemini becomes a model span under one ``weather question`` trace.

Against the loopback fake Gemini server (no key, no network), from the repository root:

    spanlite run -- python examples/gemini_app.py --fake

``spanlite run`` turns autolog on: the app itself only marks its own steps with ``@spanlite.trace``. Against
Gemini, with ``GEMINI_API_KEY`` (or ``GOOGLE_API_KEY``) set:
``spanlite run -- python examples/gemini_app.py "Weather in Lisbon?"``. Then ``spanlite traces list`` shows the trace.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import spanlite

MODEL = "gemini-2.5-flash"
WEATHER = {
    "name": "get_weather",
    "description": "The current weather in a city.",
    "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]},
}


@spanlite.trace(kind="TOOL")
def get_weather(city: str) -> dict[str, Any]:
    return {"city": city, "forecast": "sunny", "celsius": 21}


@spanlite.trace(name="weather question", kind="AGENT")
def ask(client: Any, question: str) -> str:
    from google.genai import types

    chat = client.chats.create(
        model=MODEL,
        config=types.GenerateContentConfig(
            system_instruction="You answer weather questions in one sentence.",
            tools=[types.Tool(function_declarations=[types.FunctionDeclaration(**WEATHER)])],
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        ),
    )
    response = chat.send_message(question)
    for _ in range(3):  # the model may ask for the function more than once; three rounds is plenty
        calls = response.function_calls or []
        if not calls:
            break
        results = [
            types.Part.from_function_response(name=call.name or "", response=get_weather(**(call.args or {})))
            for call in calls
        ]
        response = chat.send_message(results)
    return response.text or ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("question", nargs="?", default="What's the weather in Paris?")
    parser.add_argument("--fake", action="store_true", help="talk to the loopback fake Gemini server")
    args = parser.parse_args()

    from google import genai

    server = None
    if args.fake:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        from fake_gemini import FakeGeminiServer

        server = FakeGeminiServer().start()
        client = genai.Client(api_key="fake", http_options={"base_url": server.url})
    else:
        client = genai.Client()
    try:
        print(ask(client, args.question))
    finally:
        client.close()
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
