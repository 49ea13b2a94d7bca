"""The app's front door, an ASGI middleware: who is served, how much body, how busy, which headers.

For every request, before any endpoint runs and before the body is read:

1. the ``Host`` must be one the server answers to (421 otherwise; ``hosts.HostAllowList``);
2. a request that is not GET, HEAD or OPTIONS must not come from another site (403; ``hosts.cross_site``);
3. a declared ``Content-Length`` over the byte cap is refused (413);
4. a request to an endpoint that colors, sketches or fetches takes a slot of the in-flight bound
   (``bounds.InFlight``) *now*, and is refused with 503 + Retry-After when there is none: a burst is turned away
   before its uploads are read, so memory holds at most ``max_in_flight`` uploads, not one per client.

Then the body streams to the endpoint (the multipart parser spools files over 1 MB to disk), counted
as it arrives: past the cap the request ends with 413 at once. Every response gets ``nosniff``,
``no-referrer``, ``X-Frame-Options: DENY``, and the page's Content-Security-Policy (all but the API
docs, whose Swagger page needs inline script: so every path that can serve the page has it).

**Refusals that arrive.** A server that answers before it has read the request body and then closes
the connection makes the kernel send a reset, and the client (still sending) usually gets
"connection reset" instead of the answer. ``refuse`` sends the answer, then reads and drops the rest
of the body (up to ``DRAIN_BYTES``, ``DRAIN_SECONDS``) before the connection closes: a lingering
close, as nginx and Apache do. A client that sent ``Expect: 100-continue`` has not sent its body, and
is answered at once.
"""

from __future__ import annotations

import json
import logging

import anyio

from .bounds import InFlight
from .hosts import HostAllowList, cross_site

__all__ = ["Guard", "refuse", "busy_message", "GATED_PATHS", "SLOT_KEY", "PAGE_CSP"]

log = logging.getLogger("autopainter.server")

PAGE_CSP = ("default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
            "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
GATED_PATHS = frozenset({"/api/v1/colorize", "/api/v1/regions", "/api/v1/sketchify", "/api/v1/fetch"})
SLOT_KEY = "autopainter_slot"  # in scope["state"]: this request holds a slot of the in-flight bound
DOCS_PREFIXES = ("/docs", "/static-docs/")  # Swagger UI: inline script, so not under the page's CSP
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DRAIN_BYTES = 64 << 20  # a refused request's body read and dropped at most, so that closing does not reset
DRAIN_SECONDS = 10.0
MAX_ERROR_CHARS = 500  # error messages are cut here: a client's input is never echoed back whole


def busy_message(limit: int) -> str:
    return f"busy: {limit} requests are being worked on; try again in a moment"


def clip_message(message: str) -> str:
    return message if len(message) <= MAX_ERROR_CHARS else message[:MAX_ERROR_CHARS - 3] + "..."


def _header(scope, name: bytes) -> str | None:
    for k, v in scope.get("headers", ()):
        if k.lower() == name:
            return v.decode("latin-1")
    return None


def _may_have_body(scope) -> bool:
    length = _header(scope, b"content-length")
    if length is not None:
        return length.strip() != "0"
    return _header(scope, b"transfer-encoding") is not None


async def refuse(scope, receive, send, status: int, message: str, headers: dict[str, str] | None = None,
                 body_read: bool = False) -> None:
    """Answer ``{"error": message}`` with ``status`` and ``Connection: close``, so that the client receives it
    (see the module docstring): the answer first, then whatever body is still coming is read and dropped
    (``body_read``: the whole body has arrived already, so there is nothing to wait for)."""
    body = json.dumps({"error": clip_message(message)}).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"), *((k.lower().encode(), str(v).encode()) for k, v in (headers or {}).items())]
    await send({"type": "http.response.start", "status": status, "headers": head})
    expect = (_header(scope, b"expect") or "").lower()
    declared = _header(scope, b"content-length")
    if (body_read or not _may_have_body(scope) or "100-continue" in expect
            or (declared is not None and declared.isdigit() and int(declared) > DRAIN_BYTES)):
        await send({"type": "http.response.body", "body": body})
        return
    await send({"type": "http.response.body", "body": body, "more_body": True})
    drained = 0
    with anyio.move_on_after(DRAIN_SECONDS):
        while drained <= DRAIN_BYTES:
            message_ = await receive()
            if message_["type"] != "http.request":
                break
            drained += len(message_.get("body", b""))
            if not message_.get("more_body", False):
                break
    await send({"type": "http.response.body", "body": b""})


class _BodyTooLarge(Exception):
    """Raised into the endpoint's body parsing when the body passes the cap."""


class Guard:
    """ASGI middleware: see the module docstring. ``gate``: the app's in-flight bound."""

    def __init__(self, app, max_body: int, gate: InFlight, hosts: HostAllowList, retry_after_s: int):
        self.app, self.max_body, self.gate, self.hosts, self.retry_after_s = app, max_body, gate, hosts, retry_after_s

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        send = self._with_headers(scope["path"], send)
        host = _header(scope, b"host")
        if not self.hosts.allows(host):
            shown = host if len(host) <= 80 else host[:77] + "..."
            return await refuse(scope, receive, send, 421, f"this server does not answer to the host {shown!r}; "
                                "start it with --allowed-hosts NAME to add a name (see docs/web.md)")
        method = scope["method"]
        if method not in SAFE_METHODS and (why := cross_site({k: _header(scope, k.encode()) for k in ("sec-fetch-site", "origin")}, host)):
            return await refuse(scope, receive, send, 403, f"cross-site request refused ({why})")
        if method in SAFE_METHODS:
            return await self.app(scope, receive, send)
        length = _header(scope, b"content-length")
        if length is not None and (not length.strip().isdigit() or int(length) > self.max_body):
            return await refuse(scope, receive, send, 413, too_large_message(self.max_body))
        slot = method == "POST" and scope["path"] in GATED_PATHS
        if slot:
            if not self.gate.enter():
                return await refuse(scope, receive, send, 503, busy_message(self.gate.limit),
                                    {"Retry-After": str(self.retry_after_s)})
            scope.setdefault("state", {})[SLOT_KEY] = True
        try:
            await self._capped(scope, receive, send)
        finally:
            if slot:
                self.gate.leave()

    async def _capped(self, scope, receive, send):
        """The app, with the body counted as it streams in: past the cap, 413 instead of the app's answer."""
        total, over, started, ended = 0, False, False, False

        async def counted():
            nonlocal total, over, ended
            message = await receive()
            if message["type"] == "http.request":
                total += len(message.get("body", b""))
                ended = not message.get("more_body", False)
                if total > self.max_body:
                    over = True
                    raise _BodyTooLarge()
            return message

        async def sending(message):
            nonlocal started
            if over:  # whatever the app makes of the broken-off body, the answer is 413
                return
            started = True
            await send(message)

        try:
            await self.app(scope, counted, sending)
        except _BodyTooLarge:
            pass
        if over and not started:
            # the over-cap part may have been the last: then waiting for more would hold the answer open
            await refuse(scope, receive, send, 413, too_large_message(self.max_body), body_read=ended)

    @staticmethod
    def _with_headers(path: str, send):
        page = not path.startswith(DOCS_PREFIXES)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                            (b"x-frame-options", b"DENY")]
                if page:
                    headers.append((b"content-security-policy", PAGE_CSP.encode()))
                message = {**message, "headers": headers}
            await send(message)

        return send_with_headers


def too_large_message(limit: int) -> str:
    return f"request too large: the limit is {limit:,} bytes (all of a request's files together)"
