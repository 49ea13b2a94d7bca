"""How ``autopainter serve`` holds its connections: deadlines for request heads and bodies, a connection
cap that closes idle sockets first, and refusals that the client receives as HTTP, not as a reset.

uvicorn has a keep-alive timeout (idle time *after* a response) and ``limit_concurrency`` (beyond it, a
plain 503 and a close, before the request body is read: the client usually sees a reset). It has no
deadline for a request head or body, so a socket that connects and sends nothing, or half a head, or a
byte now and then, is held for ever; and 64 of them took every slot of the old cap. nginx and Apache
solve this with per-connection timers (``client_header_timeout``, ``mod_reqtimeout``) and by closing
idle keep-alive connections when connections run out; this module does the same inside uvicorn.

``GuardedH11Protocol`` subclasses uvicorn's h11 protocol (the one it picks without ``httptools``) and
keeps one timer per connection, in three phases:

* **head**: from the moment the connection opens (or a response ends, for the next request on it), the
  whole request head must arrive within ``header_timeout_s``; else the socket is closed (nothing is
  answered: there is no request to answer);
* **body**: the body must arrive at ``min_body_rate`` bytes/s on average after ``body_timeout_s`` of
  grace (Apache's ``MinRate`` rule: one byte every 5 s fails, a slow but steady upload passes);
  else 408 and close. While the app is not reading (flow control paused), the clock does not run;
* **response**: a client that reads nothing of its answer for ``SEND_TIMEOUT_S`` is dropped.

The cap (``max_connections``, well above the in-flight bound): when a new connection makes one too
many, the open connections that have waited for a request head (idle, half a head) longer than
``EVICT_GRACE_S`` are closed, the longest waiting first. When there are none (every connection is in
the middle of a request, or has just arrived), requests over the cap are refused with 503 +
Retry-After through ``guard.refuse`` (the answer first, then the body read and dropped).
A request head is at most ``MAX_HEAD_BYTES`` (16 KB), however it arrives (h11 only checks heads that arrive
in pieces): larger is answered 400, after which the rest of what the client sends is read and dropped for
up to ``LINGER_S`` (a lingering close, as nginx's): closing with unread data would reset the connection
before the client reads the answer. A body is at most the app's byte cap.

Stopping (``DeadlineServer``): on SIGTERM or Ctrl+C uvicorn stops accepting and waits for the requests in
flight, with no deadline of its own; colorizing runs in worker threads that cannot be cancelled, so one
long request held a stopping server for minutes. Here the requests in flight get
``ServerSettings.shutdown_timeout_s``; then the process exits at once with 128 + the signal (143 for SIGTERM).

A subclass of a server's protocol class leans on its internals (``cycle``, ``on_response_complete``):
``tests/test_connections.py`` runs a real ``autopainter serve`` against each rule, so an uvicorn
upgrade that moves them fails there, not in production.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import threading
import time
from typing import Any, ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from .guard import refuse
from .settings import ServerSettings

__all__ = ["GuardedH11Protocol", "DeadlineServer", "protocol_class", "uvicorn_config", "run_server", "SEND_TIMEOUT_S",
           "EVICT_GRACE_S", "CANCEL_GRACE_S"]

log = logging.getLogger("autopainter.server")


SEND_TIMEOUT_S = 30.0  # a client that reads nothing of its answer for this long is dropped
CANCEL_GRACE_S = 1.0  # after the shutdown deadline, how long cancelled requests get to unwind before the hard exit
EVICT_GRACE_S = 0.5  # connections waiting for a head this long (or half the header timeout) may be closed for room


MAX_HEAD_BYTES = 16 * 1024  # a request head (request line and headers); larger: 400
LINGER_S = 2.0  # after refusing a head, how long the rest of it is read and dropped before the socket closes
_HEAD_BODY = json.dumps({"error": f"request head larger than {MAX_HEAD_BYTES // 1024} KB"}).encode()
_TIMEOUT_BODY = json.dumps({"error": "request timeout: the request body came too slowly"}).encode()


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the deadlines and the cap of the module docstring."""

    settings: ClassVar[ServerSettings] = ServerSettings()  # the rules (protocol_class binds the app's)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._app, self.app = self.app, self._guarded_app  # handle_events runs self.app for each request
        self._phase = "head"  # head | body | response
        self._since = 0.0  # when the phase began (loop time)
        self._received = 0  # body bytes so far
        self._timer: asyncio.TimerHandle | None = None
        self._send_timer: asyncio.TimerHandle | None = None
        self._cycle_seen = None
        self._head = b""  # the start of the request head being received (at most MAX_HEAD_BYTES + 3 bytes)

    # ------------------------------------------------------------------ phases
    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._wait_for_head()
        self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._phase == "drain":  # a refused head: read and drop until the client stops or LINGER_S
            return
        if self._phase == "head" and self._head is not None:
            seen = self._head + data[:MAX_HEAD_BYTES + 4 - len(self._head)]
            if b"\r\n\r\n" in seen:
                self._head = None  # complete and within the limit: h11 takes it from here
            elif len(seen) > MAX_HEAD_BYTES:
                return self._refuse_head()
            else:
                self._head = seen
        if self._phase == "body":
            self._received += len(data)
        super().data_received(data)  # parses, and calls handle_events

    def handle_events(self) -> None:
        super().handle_events()
        cycle = self.cycle
        if cycle is not None and cycle is not self._cycle_seen and not cycle.response_complete:
            self._cycle_seen = cycle  # a new request head arrived
            self._phase, self._since, self._received = "body", self.loop.time(), 0
            self._arm(self._since + self.settings.body_timeout_s)
        if self._phase == "body" and cycle is not None and not cycle.more_body:
            self._phase = "response"
            self._cancel()

    def on_response_complete(self) -> None:
        if not self.transport.is_closing():
            self._wait_for_head()  # before uvicorn handles a pipelined request, which moves the phase on
        super().on_response_complete()

    def _refuse_head(self) -> None:
        log.debug("request head larger than %d bytes: 400", MAX_HEAD_BYTES)
        self._cancel()
        self._phase = "drain"
        self.transport.write(b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
                             b"content-length: %d\r\nconnection: close\r\n\r\n" % len(_HEAD_BODY) + _HEAD_BODY)
        if self.transport.can_write_eof():
            self.transport.write_eof()  # the answer, then FIN: the client reads it while it still sends
        self.loop.call_later(LINGER_S, self.transport.abort)

    def _wait_for_head(self) -> None:
        self._head = b""
        self._phase, self._since = "head", self.loop.time()
        self._arm(self._since + self.settings.header_timeout_s)

    # ------------------------------------------------------------------ the timer
    def _arm(self, when: float) -> None:
        self._cancel()
        self._timer = self.loop.call_at(when, self._on_timer)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        now = self.loop.time()
        if self._phase == "head":
            log.debug("closing a connection that sent no complete request head in %gs", self.settings.header_timeout_s)
            self.transport.close()
        elif self._phase == "body":
            lim = self.settings
            if self.flow.read_paused:  # the app is not reading: restart the clock where the client stands
                self._since = now - self._received / lim.min_body_rate
            deadline = self._since + lim.body_timeout_s + self._received / lim.min_body_rate
            if now < deadline:
                self._arm(deadline)
            else:
                self._body_timed_out()

    def _body_timed_out(self) -> None:
        cycle = self.cycle
        log.debug("request body too slow: %d bytes in %.1fs", self._received, self.loop.time() - self._since)
        if cycle is not None and not cycle.response_started:
            try:
                out = self.conn.send(h11.Response(status_code=408, reason=b"Request Timeout", headers=[
                    (b"content-type", b"application/json"), (b"content-length", str(len(_TIMEOUT_BODY)).encode()),
                    (b"connection", b"close")]))
                out += self.conn.send(h11.Data(data=_TIMEOUT_BODY)) + self.conn.send(h11.EndOfMessage())
                self.transport.write(out)
            except h11.LocalProtocolError:
                pass
            cycle.response_started = cycle.response_complete = True  # the app's own answer, if any, is dropped
        if cycle is not None:
            cycle.disconnected = True  # the app's receive() sees a disconnect
            cycle.message_event.set()
        self.transport.close()

    # ------------------------------------------------------------------ a client that does not read
    def pause_writing(self) -> None:
        super().pause_writing()
        if self._send_timer is None:
            self._send_timer = self.loop.call_later(SEND_TIMEOUT_S, self._send_timed_out)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None

    def _send_timed_out(self) -> None:
        self._send_timer = None
        log.debug("dropping a client that read nothing for %gs", SEND_TIMEOUT_S)
        self.transport.abort()  # close() would wait for the unread buffer to drain

    # ------------------------------------------------------------------ the connection cap
    def _open(self) -> list["GuardedH11Protocol"]:
        return [c for c in self.connections if not c.transport.is_closing()]

    def _make_room(self) -> None:
        """Over the cap: close connections that wait for a request head, the longest waiting first."""
        open_ = self._open()
        excess = len(open_) - self.settings.max_connections
        if excess <= 0:
            return
        # Not the youngest: a connection accepted a moment ago may have its request head in the kernel's
        # buffer, unread yet; closing it would reset a client that did nothing wrong.
        oldest = self.loop.time() - min(EVICT_GRACE_S, self.settings.header_timeout_s / 2)
        waiting = [c for c in open_ if c is not self and getattr(c, "_phase", None) == "head" and c._since <= oldest]
        waiting.sort(key=lambda c: c._since)
        for c in waiting[:excess]:
            c.transport.close()
        if len(waiting) < excess:
            log.debug("%d connections open and none idle long enough to close: requests over the cap get 503", len(open_))

    async def _guarded_app(self, scope, receive, send) -> None:
        if scope["type"] == "http" and len(self._open()) > self.settings.max_connections:
            return await refuse(scope, receive, send, 503, "busy: too many open connections; try again in a moment",
                                {"Retry-After": str(self.settings.retry_after_s)})
        return await self._app(scope, receive, send)


def protocol_class(settings: ServerSettings) -> type[GuardedH11Protocol]:
    """A ``GuardedH11Protocol`` class bound to ``settings`` (uvicorn builds one protocol per connection)."""
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"settings": settings})


def uvicorn_config(app, settings, **kwargs: Any):
    """``uvicorn.Config`` for ``app`` with ``settings``' connection rules (``ServerSettings``); ``kwargs`` go to
    uvicorn (``log_level``, ``access_log``, ...)."""
    import uvicorn

    return uvicorn.Config(app, http=protocol_class(settings), ws="none", timeout_keep_alive=5, limit_concurrency=None,
                          timeout_graceful_shutdown=settings.shutdown_timeout_s, **kwargs)


def _deadline_server_class():
    import uvicorn

    class DeadlineServer(uvicorn.Server):
        """uvicorn's server, stopped by a deadline: ``config.timeout_graceful_shutdown`` seconds after the first
        SIGTERM or SIGINT uvicorn cancels what is still running; a request's worker thread goes on (threads
        cannot be cancelled) and would hold the process, so when the deadline has passed the process exits
        as soon as uvicorn's shutdown is done (the visitor counter flushed), or ``CANCEL_GRACE_S`` later if
        that shutdown is stuck, with 128 + the signal number (the shell's convention: 143 for SIGTERM)."""

        _signal: int | None = None
        _signalled_at = 0.0

        @property
        def deadline_s(self) -> float:
            return float(self.config.timeout_graceful_shutdown or 0)

        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            if self._signal is None:
                self._signal, self._signalled_at = int(sig), time.monotonic()
                watchdog = threading.Timer(self.deadline_s + CANCEL_GRACE_S, self._hard_exit)
                watchdog.daemon = True
                watchdog.start()

        async def shutdown(self, sockets=None) -> None:
            await super().shutdown(sockets=sockets)
            if self._signal is not None and time.monotonic() - self._signalled_at >= self.deadline_s:
                self._hard_exit()  # cancelled requests' threads would hold the exit: leave without them

        def _hard_exit(self) -> None:
            try:
                print(f"autopainter: error: requests still running {self.deadline_s:g} s after the signal to stop "
                      "(--shutdown-timeout); stopped without them", file=sys.stderr, flush=True)
            finally:
                os._exit(128 + (self._signal or 15))

    return DeadlineServer


def __getattr__(name: str):  # DeadlineServer subclasses uvicorn's server: built when first asked for
    if name == "DeadlineServer":
        return _deadline_server_class()
    raise AttributeError(name)


def run_server(app, settings: ServerSettings, sockets=None, **kwargs: Any) -> None:
    """Serve ``app`` under uvicorn with ``settings``' connection rules and shutdown deadline (``kwargs`` go to
    ``uvicorn.Config``). Returns after a graceful stop; a stop past the deadline exits the process (143)."""
    server = _deadline_server_class()(uvicorn_config(app, settings, **kwargs))
    server.run(sockets=sockets)
