"""A weather assistant on Amazon Bedrock's Converse API: the model asks for a tool, the app runs it, the model answers.

Against the fake Bedrock server of the tests (no AWS account, no network), from the repository's root:

    spanlite run -- python examples/bedrock_app.py --fake

``spanlite run`` turns autolog on: the app itself only marks its own steps with ``@spanlite.trace``. Without
``--fake`` it calls Bedrock in your AWS account, with boto3's usual credentials and region, and ``--model`` picks the
model. Either way the trace lands in the spanlite store: ``spanlite traces list``, or ``spanlite ui``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import boto3

import spanlite

TOOLS = {
    "tools": [
        {
            "toolSpec": {
                "name": "weather",
                "description": "The current weather in a city.",
                "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}},
            }
        }
    ]
}


@spanlite.trace(kind="TOOL")
def weather(city: str) -> dict[str, Any]:
    return {"city": city, "sky": "sunny", "celsius": 21}


@spanlite.trace(kind="AGENT")
def ask(client: Any, model: str, question: str) -> str:
    """Converse until the model stops asking for tools; each model call is one autologged span."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": [{"text": question}]}]
    while True:
        response = client.converse(
            modelId=model,
            messages=messages,
            system=[{"text": "Answer in one sentence."}],
            toolConfig=TOOLS,
            inferenceConfig={"maxTokens": 300},
        )
        message = response["output"]["message"]
        messages.append(message)
        uses = [block["toolUse"] for block in message["content"] if "toolUse" in block]
        if response["stopReason"] != "tool_use" or not uses:
            return "".join(block.get("text", "") for block in message["content"])
        results = [
            {"toolResult": {"toolUseId": use["toolUseId"], "content": [{"json": weather(**use["input"])}]}}
            for use in uses
        ]
        messages.append({"role": "user", "content": results})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fake", action="store_true", help="use the test suite's fake Bedrock server")
    parser.add_argument("--model", default="anthropic.claude-3-5-haiku-20241022-v1:0")
    args = parser.parse_args()
    if args.fake:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        from fake_bedrock import KEY_ID, REGION, FakeBedrock

        server = FakeBedrock().start()
        client = boto3.client(
            "bedrock-runtime",
            region_name=REGION,
            endpoint_url=server.url,
            aws_access_key_id=KEY_ID,
            aws_secret_access_key="dummy",
        )
    else:
        client = boto3.client("bedrock-runtime")
    print(ask(client, args.model, "What is the weather in Paris?"))
    spanlite.flush()


if __name__ == "__main__":
    main()
