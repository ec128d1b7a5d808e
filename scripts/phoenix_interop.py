"""What a real Arize Phoenix shows for spanlite's spans, without and with the OpenInference attributes.

Not part of the test suite: Phoenix is a large install, kept in a virtualenv of its own so that its pins do not
change the project's::

    python -m venv .venv-phoenix && .venv-phoenix/bin/pip install arize-phoenix
    .venv/bin/python scripts/phoenix_interop.py [--phoenix .venv-phoenix/bin/phoenix]

It starts ``phoenix serve`` on 127.0.0.1 (free ports, a temporary working directory, telemetry off) and sends one
small app's spans (a CHAIN around an AGENT that calls a RETRIEVER, a TOOL and a model through the real ``openai``
SDK, against the tests' fake server) into two Phoenix projects: ``before``, with ``otlp_conventions=("gen_ai",)``
(what spanlite sent until it wrote OpenInference's keys), and ``after``, with the default. Then it prints what
Phoenix's REST API returns for each span: its kind, input, output, model, tokens and retrieved documents.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import openai  # noqa: E402

import spanlite  # noqa: E402
from fake_llm_server import FakeLLMServer  # noqa: E402

PROJECTS = {"before": ("gen_ai",), "after": ("gen_ai", "openinference")}
SPANS = 5  # what the app below makes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phoenix", default=str(ROOT / ".venv-phoenix" / "bin" / "phoenix"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, FakeLLMServerRunning() as llm:
        work = Path(tmp)
        port = free_port()
        phoenix = start_phoenix(args.phoenix, port, work)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_up(base, phoenix, work / "phoenix.log")
            print(f"Phoenix {phoenix_version(args.phoenix)} on {base}\n")
            for project, conventions in PROJECTS.items():
                os.environ["OTEL_RESOURCE_ATTRIBUTES"] = f"openinference.project.name={project}"  # read by configure
                spanlite.configure(db=work / "local.db", otlp_endpoint=base, otlp_conventions=conventions)
                run_app(llm)
                assert spanlite.flush()
                show(project, conventions, spans_in(base, project))
        finally:
            spanlite.configure(db=work / "local.db")
            phoenix.terminate()
            phoenix.wait(30)


class FakeLLMServerRunning:
    def __enter__(self) -> FakeLLMServer:
        self.server = FakeLLMServer().start()
        return self.server

    def __exit__(self, *exc: object) -> None:
        self.server.stop()


def run_app(llm: FakeLLMServer) -> None:
    @spanlite.trace(kind="RETRIEVER")
    def search(query: str) -> list[dict[str, Any]]:
        return [{"id": "doc-1", "content": "Paris is the capital of France.", "score": 0.92,
                 "metadata": {"source": "atlas"}}]  # fmt: skip

    @spanlite.trace(kind="TOOL")
    def weather(city: str) -> dict[str, str]:
        return {"city": city, "forecast": "sunny"}

    @spanlite.trace(kind="AGENT")
    def answer(question: str) -> str:
        documents = search(question)
        forecast = weather("Paris")
        with openai.OpenAI(base_url=llm.url, api_key="test", max_retries=0) as client:
            reply = client.chat.completions.create(model="gpt-4o", temperature=0.2, messages=[
                {"role": "system", "content": f"Answer from: {documents[0]['content']} {forecast}"},
                {"role": "user", "content": question},
            ])  # fmt: skip
        return reply.choices[0].message.content or ""

    spanlite.autolog("openai")
    try:
        with spanlite.start_span("request", inputs={"question": "Where is Paris?"}) as span:
            span.set_outputs(answer("Where is Paris?"))
    finally:
        spanlite.autolog("openai", disable=True)


def show(project: str, conventions: tuple[str, ...], spans: list[dict[str, Any]]) -> None:
    print(f"== project {project!r}: otlp_conventions={conventions!r}")
    print(f"{'span':<12} {'kind':<10} {'input':<34} {'output':<34} {'model':<12} {'tokens':<7} {'messages':<9} docs")
    for span in sorted(spans, key=lambda s: s["start_time"]):
        a = span["attributes"]
        tokens = f"{a.get('llm.token_count.prompt', '')}/{a.get('llm.token_count.completion', '')}".strip("/")
        messages = f"{indices(a, 'llm.input_messages.')}/{indices(a, 'llm.output_messages.')}".replace("0/0", "")
        row = [span["name"], span["span_kind"], cut(a.get("input.value")), cut(a.get("output.value")),
               a.get("llm.model_name") or "", tokens, messages, indices(a, "retrieval.documents.") or ""]  # fmt: skip
        print(" ".join(f"{cell!s:<{width}}" for cell, width in zip(row, (12, 10, 34, 34, 12, 7, 9, 4))))
    print()


def indices(attributes: dict[str, Any], prefix: str) -> int:
    """How many items a flattened OpenInference list (``prefix.N.*``) has."""
    return len({k[len(prefix) :].split(".", 1)[0] for k in attributes if k.startswith(prefix)})


def cut(value: Any, width: int = 34) -> str:
    text = "-" if value is None else str(value).replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def spans_in(base: str, project: str, timeout_s: float = 60.0) -> list[dict[str, Any]]:
    """The project's spans, once Phoenix has them all (it writes what it receives in batches)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            spans = get_json(f"{base}/v1/projects/{project}/spans?limit=100")["data"]
        except urllib.error.HTTPError as exc:  # 404 until the project's first span is written
            if exc.code != 404:
                raise
            spans = []
        if len(spans) >= SPANS or time.monotonic() > deadline:
            return spans
        time.sleep(0.5)


def start_phoenix(command: str, port: int, work: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PHOENIX_HOST": "127.0.0.1", "PHOENIX_PORT": str(port), "PHOENIX_GRPC_PORT": str(free_port()),
           "PHOENIX_WORKING_DIR": str(work / "phoenix"), "PHOENIX_TELEMETRY_ENABLED": "false"}  # fmt: skip
    with open(work / "phoenix.log", "wb") as log:  # the child has its own copy of the file
        return subprocess.Popen([command, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_until_up(base: str, phoenix: subprocess.Popen[bytes], log: Path, timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if phoenix.poll() is not None:
            raise SystemExit(f"phoenix serve ended with {phoenix.returncode} before it answered:\n{log.read_text()}")
        try:
            get_json(f"{base}/v1/projects")
            return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.5)
    raise SystemExit(f"phoenix serve did not answer on {base} within {timeout_s:g} s:\n{log.read_text()}")


def phoenix_version(command: str) -> str:
    python = Path(command).with_name("python")
    result = subprocess.run([str(python), "-c", "import phoenix; print(phoenix.__version__)"], capture_output=True,
                            text=True, check=False)  # fmt: skip
    return result.stdout.strip() or "(version unknown)"


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


if __name__ == "__main__":
    main()
