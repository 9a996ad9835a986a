"""Drives the Countersign MCP gateway with the official Python MCP SDK.

usage: mcp_client.py URL TOKEN OPS_JSON
OPS_JSON is a list of operations run in one session, in order:
  {"op": "list"}
  {"op": "call", "name": ..., "args": {...}, "meta": {...}, "progress": true}
  {"op": "ping"}
  {"op": "prompts"} / {"op": "prompt", "name": ..., "args": {...}}
  {"op": "resources"} / {"op": "read", "uri": ...}
Prints one JSON object: {"protocol": ..., "results": [...]}.
"""
import asyncio
import json
import sys
from datetime import timedelta

from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client


async def main(url, token, ops):
    out = []
    async with streamablehttp_client(url, headers={"Authorization": f"Bearer {token}"}) as (r, w, _):
        async with ClientSession(r, w, read_timeout_seconds=timedelta(seconds=120)) as s:
            init = await s.initialize()
            for op in ops:
                try:
                    if op["op"] == "list":
                        tools = await s.list_tools()
                        out.append({"tools": sorted(t.name for t in tools.tools)})
                    elif op["op"] == "prompts":
                        r = await s.list_prompts()
                        out.append({"prompts": sorted(p.name for p in r.prompts)})
                    elif op["op"] == "prompt":
                        r = await s.get_prompt(op["name"], op.get("args"))
                        out.append({"messages": [m.content.text for m in r.messages]})
                    elif op["op"] == "resources":
                        r = await s.list_resources()
                        out.append({"resources": sorted(str(x.uri) for x in r.resources)})
                    elif op["op"] == "read":
                        r = await s.read_resource(op["uri"])
                        out.append({"contents": [c.text for c in r.contents]})
                    elif op["op"] == "ping":
                        await s.send_ping()
                        out.append({"pong": True})
                    elif op["op"] == "call":
                        progress = []

                        async def on_progress(p, total, message):
                            progress.append(message)

                        res = await s.call_tool(
                            op["name"],
                            op.get("args", {}),
                            progress_callback=on_progress if op.get("progress") else None,
                            meta=op.get("meta"),
                        )
                        out.append({
                            "isError": bool(res.isError),
                            "text": "\n".join(c.text for c in res.content if getattr(c, "type", "") == "text"),
                            "structured": res.structuredContent,
                            "meta": res.meta,
                            "progress": progress,
                        })
                except Exception as e:  # the test asserts on it
                    out.append({"exception": f"{type(e).__name__}: {e}"})
    print(json.dumps({"protocol": init.protocolVersion, "results": out}))


asyncio.run(main(sys.argv[1], sys.argv[2], json.loads(sys.argv[3])))
