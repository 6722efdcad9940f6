"""Request body limits: pure ASGI middleware, so a body the API cannot take is refused before it is read whole.

A declared ``Content-Length`` above the limit is refused at once; a chunked body is counted as it
streams and refused as soon as it passes the limit. Either way the answer is 413 with a JSON
``{"detail": ...}``. (The streamed case raises an ``HTTPException``: FastAPI passes those through from
body reading, where any other exception would become a 400.) A body declared as something other than
JSON (``curl -d`` sends a form) is 415: FastAPI would read it as a form and blame the fields; so is a body
declared as nothing (FastAPI would take it for bytes, not JSON).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.exceptions import HTTPException


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int):
        super().__init__(413, f"request body exceeds the limit of {limit} bytes")


async def _reply(send: Any, status: int, detail: str, close: bool = False) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status,
                "headers": headers + ([(b"connection", b"close")] if close else [])})
    await send({"type": "http.response.body", "body": body})


async def _reply_413(send: Any, limit: int) -> None:
    await _reply(send, 413, f"request body exceeds the limit of {limit} bytes", close=True)


_WITH_BODY = ("POST", "PUT", "PATCH")


def _json(content_type: bytes) -> bool:
    kind = content_type.split(b";", 1)[0].strip().lower()
    return kind == b"application/json" or kind.startswith(b"application/") and kind.endswith(b"+json")


_AS_JSON = "send the body as JSON (Content-Type: application/json)"


class BodySizeLimit:
    def __init__(self, app: Any, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with_body = scope.get("method") in _WITH_BODY
        typed, declared, chunked = False, None, False
        for name, value in scope.get("headers", ()):
            if name == b"content-type" and with_body and value.strip():
                typed = True
                if not _json(value):
                    shown = value.decode("latin-1")[:80]
                    await _reply(send, 415, f"header Content-Type {shown!r} is not supported; {_AS_JSON}")
                    return
            if name == b"transfer-encoding":
                chunked = True
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared < 0:
                    await _reply(send, 400, "header Content-Length is not a valid length")
                    return
                if declared > self.max_bytes:
                    await _reply_413(send, self.max_bytes)
                    return
        # a request without a body is left to the route, whose answer names the fields it needs
        if with_body and not typed and (chunked or (declared or 0) > 0):
            await _reply(send, 415, f"header Content-Type is missing; {_AS_JSON}")
            return
        received = 0
        started = False

        async def counting_receive() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: dict) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:  # read outside FastAPI's body parsing (no handler turned it into a response)
            if not started:
                await _reply_413(send, self.max_bytes)

