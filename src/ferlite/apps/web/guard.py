"""Who may use a ``ferlite serve``: one ASGI middleware that applies the same rules to every HTTP request and
WebSocket, before any route runs.

- **Origin.** A browser names the page that makes a request. A page of another site may not use the server (no
  decoding of its images, no tying up of the one inference worker with videos, no camera stream), unless its origin
  is allowed by name. Requests without an Origin (curl, scripts) are not browsers' cross-site requests.
- **API key.** With ``--api-key``, everything but the page's own static files needs the key: the REST calls, the
  WebSocket, the models, ``/config.json``, ``/health`` and the API docs. Scripts send it in an ``X-API-Key`` header;
  the page, which cannot set a WebSocket's headers, passes on the ``key`` of its own address (``/?key=...``).
- **Upload size.** A REST request whose declared or streamed body is over the cap gets 413 as soon as that is
  known, not after the whole body was read.
"""

from __future__ import annotations

import hmac
import json
from urllib.parse import parse_qs, urlsplit

# The page itself: served to anyone, so that a visitor can load it and then give the key.
PUBLIC_PATHS = ("/", "/favicon.svg", "/favicon.ico")
PUBLIC_PREFIXES = ("/static/",)
# Multipart framing around the files of one upload: boundaries and part headers.
MULTIPART_SLACK = 64 * 1024


def origin_allowed(origin: str | None, host: str | None, allowed_origins: tuple[str, ...]) -> bool:
    """No Origin (not a browser's cross-site request), the server's own, or one allowed by name.

    Example:
        >>> origin_allowed("https://evil.example", "127.0.0.1:8000", ())
        False
        >>> origin_allowed("http://127.0.0.1:8000", "127.0.0.1:8000", ())
        True
    """
    return origin is None or urlsplit(origin).netloc == host or origin in allowed_origins


def _upload_too_large(detail: str):
    """A 413 raised from inside the body's stream: an HTTPException, which FastAPI's form parsing passes on as it is
    (any other exception there becomes a 400 "error parsing the body")."""
    from starlette.exceptions import HTTPException

    return HTTPException(status_code=413, detail=detail)


class RequestGuard:
    """The ASGI middleware (see the module docstring)."""

    def __init__(self, app, api_key: str | None, allowed_origins: tuple[str, ...], max_upload_bytes: int) -> None:
        self.app, self.api_key, self.allowed_origins = app, api_key, allowed_origins
        self.max_body = max_upload_bytes + MULTIPART_SLACK

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        if not origin_allowed(headers.get("origin"), headers.get("host"), self.allowed_origins):
            return await self._refuse(scope, receive, send, 403, "origin not allowed", 1008)
        if self.api_key and not self._public(scope["path"]) and not self._has_key(scope, headers):
            return await self._refuse(scope, receive, send, 401, "a valid X-API-Key header (or ?key=) is needed", 1008)
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT"):
            declared = headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_body:
                return await self._refuse(scope, receive, send, 413, self._too_large())
            return await self._limited(scope, receive, send)
        return await self.app(scope, receive, send)

    async def _limited(self, scope, receive, send) -> None:
        """Count a body without a declared length as it streams in, and stop it at the cap."""
        seen = [0]
        started = [False]

        async def counted():
            message = await receive()
            seen[0] += len(message.get("body", b""))
            if seen[0] > self.max_body:
                raise _upload_too_large(self._too_large())
            return message

        async def watched(message):
            started[0] = started[0] or message["type"] == "http.response.start"
            await send(message)

        from starlette.exceptions import HTTPException

        try:
            await self.app(scope, counted, watched)
        except HTTPException as e:  # raised by counted() outside a route that answers it itself
            if e.status_code != 413 or started[0]:
                raise
            await _json_response(send, 413, self._too_large())

    def _too_large(self) -> str:
        return f"uploads are over the limit of {self.max_body - MULTIPART_SLACK} bytes"

    @staticmethod
    def _public(path: str) -> bool:
        return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)

    def _has_key(self, scope, headers: dict[str, str]) -> bool:
        assert self.api_key is not None
        given = headers.get("x-api-key") or parse_qs(scope.get("query_string", b"").decode("latin-1")).get("key", [""])[0]
        return bool(given) and hmac.compare_digest(given.encode(), self.api_key.encode())

    async def _refuse(self, scope, receive, send, status: int, detail: str, ws_code: int = 1008) -> None:
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": ws_code, "reason": detail})
            return
        await _json_response(send, status, detail)


async def _json_response(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# A connection whose request headers are not complete this long after it opened (or after its last response) is
# closed: a slow client sending a header a minute would otherwise hold its socket open for ever (uvicorn times out
# only idle keep-alive connections).
HEADER_TIMEOUT_S = 10.0


def header_timeout_protocol(header_timeout: float = HEADER_TIMEOUT_S):
    """uvicorn's h11 protocol class, closing connections whose request headers are slower than ``header_timeout``
    (for ``uvicorn.run(..., http=...)``)."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimeoutH11Protocol(H11Protocol):
        _header_timer = None

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            self._arm()
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE and self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def connection_lost(self, exc) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
            super().connection_lost(exc)

        def _arm(self) -> None:
            if self._header_timer is None and self.conn.their_state is h11.IDLE:
                self._header_timer = self.loop.call_later(header_timeout, self._drop_if_still_waiting)

        def _drop_if_still_waiting(self) -> None:
            self._header_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.close()

    return HeaderTimeoutH11Protocol
