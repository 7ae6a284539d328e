"""A 127.0.0.1 stand-in for an OpenAI-compatible service (no model service is reachable here).

It speaks the Chat Completions streaming wire format as documented: ``POST /v1/chat/
completions`` with ``stream: true`` answers ``text/event-stream`` with ``data: <chunk JSON>``
events (``chat.completion.chunk``: ``choices[].delta.content``, ``delta.tool_calls`` fragments
with their ``index``, a ``finish_reason``), the usage chunk (``choices: []``, ``usage``) when
``stream_options.include_usage`` asks for it, and ``data: [DONE]``. Errors are the documented
JSON bodies (``{"error": {"message", "type", "code"}}``) with their status and headers.

Each test scripts the replies, one per request, in order; the real ``openai`` SDK drives it.
Every request (headers and JSON body) is kept for assertions.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = [
    "Reply",
    "Stub",
    "answer",
    "error",
    "malformed",
    "stall",
    "started_stub",
    "tool_calls",
]


@dataclass
class Reply:
    status: int = 200
    chunks: list[dict[str, Any]] = field(default_factory=list)
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: list[str] = field(default_factory=list)  # SSE data lines sent as they are
    stall_after: int | None = None  # stop sending (and hang) after this many chunks
    usage: tuple[int, int] | None = (11, 7)


_ids = iter(range(1, 10**9))


def _chunk(
    rid: str, model: str, delta: dict[str, Any], finish: str | None = None
) -> dict[str, Any]:
    return {
        "id": rid,
        "object": "chat.completion.chunk",
        "created": 1765000000,
        "model": model,
        "system_fingerprint": "fp_stub",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


def answer(
    *pieces: str, model: str = "stub-model", usage: tuple[int, int] | None = (11, 7)
) -> Reply:
    """A streamed text answer, one delta per piece."""
    rid = f"chatcmpl-{next(_ids)}"
    chunks = [_chunk(rid, model, {"role": "assistant", "content": ""})]
    chunks += [_chunk(rid, model, {"content": p}) for p in pieces]
    chunks.append(_chunk(rid, model, {}, "stop"))
    return Reply(chunks=chunks, usage=usage)


def tool_calls(
    *calls: tuple[str, str, dict[str, Any]],
    split: int = 1,
    content: str = "",
    model: str = "stub-model",
) -> Reply:
    """Tool calls ``(id, name, arguments)``; each call's arguments JSON arrives in ``split``
    fragments, and the calls' fragments interleave (parallel calls), as the service sends them."""
    rid = f"chatcmpl-{next(_ids)}"
    chunks = [_chunk(rid, model, {"role": "assistant", "content": None})]
    if content:
        chunks.append(_chunk(rid, model, {"content": content}))
    texts = [json.dumps(args) for _, _, args in calls]
    for index, (call_id, name, _) in enumerate(calls):
        chunks.append(
            _chunk(
                rid,
                model,
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": call_id,
                            "type": "function",
                            "function": {"name": name, "arguments": ""},
                        }
                    ]
                },
            )
        )
    for part in range(split):
        for index, text in enumerate(texts):
            size = -(-len(text) // split)
            piece = text[part * size : (part + 1) * size]
            if piece:
                chunks.append(
                    _chunk(
                        rid,
                        model,
                        {"tool_calls": [{"index": index, "function": {"arguments": piece}}]},
                    )
                )
    chunks.append(_chunk(rid, model, {}, "tool_calls"))
    return Reply(chunks=chunks)


def error(status: int, message: str, code: str | None = None, **headers: str) -> Reply:
    kind = {401: "invalid_request_error", 404: "invalid_request_error", 429: "requests"}
    return Reply(
        status=status,
        body={
            "error": {"message": message, "type": kind.get(status, "server_error"), "code": code}
        },
        headers={k.replace("_", "-"): v for k, v in headers.items()},
    )


def stall(after: Reply) -> Reply:
    """``after``'s first chunks, then nothing (the connection stays open)."""
    after.stall_after = 2
    return after


def malformed() -> Reply:
    return Reply(
        raw=['{"id": "chatcmpl-bad", "choices": [{"delta": {"content": "x"', "[DONE]"], usage=None
    )


@dataclass
class Stub:
    replies: list[Reply]
    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        if not self.replies:
            return web.json_response(
                {"error": {"message": "the stub has no reply scripted", "type": "stub"}},
                status=500,
            )
        reply = self.replies.pop(0)
        if reply.status != 200:
            return web.json_response(reply.body, status=reply.status, headers=reply.headers)
        resp = web.StreamResponse(
            status=200, headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await resp.prepare(request)
        lines = [json.dumps(c) for c in reply.chunks]
        if reply.usage is not None and (body.get("stream_options") or {}).get("include_usage"):
            last = reply.chunks[-1] if reply.chunks else {"id": "x", "model": "stub-model"}
            prompt, completion = reply.usage
            lines.append(
                json.dumps(
                    {
                        "id": last["id"],
                        "object": "chat.completion.chunk",
                        "created": 1765000000,
                        "model": last["model"],
                        "choices": [],
                        "usage": {
                            "prompt_tokens": prompt,
                            "completion_tokens": completion,
                            "total_tokens": prompt + completion,
                        },
                    }
                )
            )
        lines += reply.raw or ["[DONE]"]
        for n, line in enumerate(lines):
            if reply.stall_after is not None and n >= reply.stall_after:
                await asyncio.sleep(3600)
            await resp.write(f"data: {line}\n\n".encode())
        await resp.write_eof()
        return resp


@asynccontextmanager
async def started_stub(replies: Sequence[Reply]) -> AsyncIterator[Stub]:
    stub = Stub(list(replies))
    app = web.Application()
    app.router.add_post("/v1/chat/completions", stub.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    stub.url = f"http://127.0.0.1:{port}/v1"
    try:
        yield stub
    finally:
        await runner.cleanup()
