"""A real MCP client for the tests: the Python SDK over streamable HTTP.

Usage: client.py URL, with a JSON job on stdin:
  {"token": "<JWT>" | null, "mode": "auto" | "legacy",
   "calls": [{"list_tools": true} | {"tool": NAME, "args": {...}}, ...]}
Prints one JSON object: {"protocol_version": ..., "results": [...]}, each
result in MCP wire form (camelCase), or {"exception": ...} for a call the
server refused at the protocol level. The token travels on stdin, never argv.
"""

import asyncio
import json
import sys

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError


def wire(model):
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


async def run(url, job):
    headers = {}
    if job.get("token"):
        headers["Authorization"] = f"Bearer {job['token']}"
    http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300))
    results = []
    async with http:
        transport = streamable_http_client(url, http_client=http)
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


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: client.py URL < job.json")
    job = json.load(sys.stdin)
    print(json.dumps(asyncio.run(run(sys.argv[1], job))))


if __name__ == "__main__":
    main()
