"""A trip planner that asks an MCP weather server (``tests/mcp_server.py``, started over stdio) for the forecast:
the client's tool calls and the server's handling of them come out as one ``plan trip`` trace, the server's spans
under the client's, though they are two processes.

From the repository root (no key, no network):

    spanlite run -- python examples/mcp_app.py

``spanlite run`` turns autolog on in this process; the server turns it on for itself and writes to the same store
(``$SPANLITE_DB``, or the default one). ``spanlite traces show <id>`` prints the tree.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

import spanlite

SERVER = Path(__file__).resolve().parent.parent / "tests" / "mcp_server.py"


@spanlite.trace(name="plan trip", kind="AGENT")
async def plan_trip(cities: list[str]) -> str:
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    # The server gets this process's environment: the store to write to, and `spanlite run`'s start-up hook.
    server = StdioServerParameters(command=sys.executable, args=[str(SERVER), "--stdio"], env=dict(os.environ))
    async with stdio_client(server) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        known = (await session.read_resource("weather://cities")).contents[0]
        lines = [f"Known cities: {getattr(known, 'text', '')}"]
        for city in cities:
            result = await session.call_tool("get_weather", {"city": city})
            lines.append(" ".join(getattr(block, "text", "") for block in result.content))
        return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cities", nargs="*", default=["Paris", "Lyon"])
    print(asyncio.run(plan_trip(parser.parse_args().cities)))


if __name__ == "__main__":
    main()
