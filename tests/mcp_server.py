"""A small MCP server for the tests and the example: tools, a resource and a prompt, over stdio or streamable HTTP.

``python tests/mcp_server.py --stdio`` or ``--http PORT`` (on 127.0.0.1). It traces with spanlite into the store
``spanlite.configure`` picks (``$SPANLITE_DB``) and autologs MCP, so its spans join the client's trace.
"""

from __future__ import annotations

import argparse

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

import spanlite

server = MCPServer("weather", version="1.2.0")


@server.tool()
def get_weather(city: str) -> str:
    """Today's weather in a city."""
    return f"Sunny in {city}, 21 °C"


@server.tool()
def check_city(city: str) -> str:
    """Refuses a city it does not know: the caller gets an error result (``isError``), not an exception."""
    raise ToolError(f"unknown city: {city}")


@server.tool()
def broken_forecast(city: str) -> str:
    """Fails inside the tool, as a bug would."""
    raise ZeroDivisionError(f"no forecast model for {city}")


@server.resource("weather://cities")
def cities() -> str:
    """The cities the server knows."""
    return "Paris, Lyon"


@server.prompt()
def forecast(city: str) -> str:
    """A prompt asking for a forecast."""
    return f"Write a short weather forecast for {city}."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--stdio", action="store_true", help="serve over stdin/stdout")
    where.add_argument("--http", type=int, metavar="PORT", help="serve streamable HTTP on 127.0.0.1:PORT/mcp")
    options = parser.parse_args()
    spanlite.autolog("mcp")
    if options.stdio:
        server.run("stdio")
    else:
        server.run("streamable-http", host="127.0.0.1", port=options.http)


if __name__ == "__main__":
    main()
