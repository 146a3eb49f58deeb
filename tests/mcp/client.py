"""A real MCP client for the tests: the Python SDK, over streamable HTTP or
over stdio to a command it launches.

Usage: client.py URL, or client.py -- COMMAND ARGS..., with a JSON job on stdin:
  {"token": "<JWT>" | null, "mode": "auto" | "legacy", "env": {...} (stdio),
   "ca": "<CA PEM path>" (https URLs),
   "calls": [{"list_tools": true} | {"tool": NAME, "args": {...}}, ...]}
Prints one JSON object: {"protocol_version": ..., "results": [...]}, each
result in MCP wire form (camelCase), or {"exception": ...} for a call the
server refused at the protocol level. The token travels on stdin, never argv.
"""

import asyncio
import json
import ssl
import sys

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError


def wire(model):
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


async def drive(transport, job):
    results = []
    async with Client(transport, mode=job.get("mode", "auto"), cache=None) as client:
        for call in job["calls"]:
            try:
                if call.get("list_tools"):
                    listed = await client.list_tools()
                    results.append({"tools": [wire(t) for t in listed.tools]})
                else:
                    result = await client.call_tool(call["tool"], call.get("args"))
                    results.append(wire(result))
            except MCPError as e:
                results.append({"exception": {"code": e.error.code, "message": e.error.message}})
        version = client.protocol_version
    return {"protocol_version": version, "results": results}


async def over_http(url, job):
    headers = {}
    if job.get("token"):
        headers["Authorization"] = f"Bearer {job['token']}"
    verify = ssl.create_default_context(cafile=job["ca"]) if job.get("ca") else True
    async with httpx2.AsyncClient(
        headers=headers, verify=verify, timeout=httpx2.Timeout(30, read=300)
    ) as http:
        return await drive(streamable_http_client(url, http_client=http), job)


async def over_stdio(command, job):
    server = StdioServerParameters(command=command[0], args=command[1:], env=job.get("env"))
    return await drive(stdio_client(server), job)


def main():
    job = json.load(sys.stdin)
    if len(sys.argv) > 2 and sys.argv[1] == "--":
        out = asyncio.run(over_stdio(sys.argv[2:], job))
    elif len(sys.argv) == 2:
        out = asyncio.run(over_http(sys.argv[1], job))
    else:
        sys.exit("usage: client.py URL < job.json, or client.py -- COMMAND ARGS... < job.json")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
