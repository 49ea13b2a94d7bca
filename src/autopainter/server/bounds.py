"""How much work the app takes on at once: requests (``InFlight``) and image pixels (``PixelBudget``).

``InFlight`` bounds the requests that color, sketch or fetch; it is taken before a request's body is
read, and one more request is refused at once (503), never queued. ``PixelBudget`` bounds the pixels of
the images those requests decode and work on, all together: the work of a request costs memory in
proportion to its pixels (about 40 bytes a pixel for a noisy scan in the flat style), so four 7-megapixel
uploads at once would need four times the memory of one. A request whose images do not fit waits its
turn (first come, first served) in its worker thread; an image larger than the whole budget waits until
it can run alone. Small images (the page's) run side by side as before.
"""

from __future__ import annotations

import collections
import logging
import threading
from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

__all__ = ["InFlight", "PixelBudget"]

log = logging.getLogger("autopainter.server")
T = TypeVar("T")


class InFlight:
    """A counter of requests being worked on, with a bound: enter() is False when full (never waits).

    ``on_idle`` runs (in a thread of its own) once the count has stayed at 0 for ``idle_s`` seconds:
    the app gives freed memory back to the system then (``memory.release_memory``)."""

    def __init__(self, limit: int, on_idle: Callable[[], None] | None = None, idle_s: float = 1.0):
        self.limit, self.count = limit, 0
        self.on_idle, self.idle_s = on_idle, idle_s
        self._lock = threading.Lock()
        self._epoch = 0  # bumped by every enter(): an idle timer started before it knows it is stale

    def enter(self) -> bool:
        with self._lock:
            if self.count >= self.limit:
                return False
            self.count += 1
            self._epoch += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self.count -= 1
            idle, epoch = self.count == 0, self._epoch
        if idle and self.on_idle is not None:
            timer = threading.Timer(self.idle_s, self._when_idle, args=(epoch,))
            timer.daemon = True
            timer.start()

    def _when_idle(self, epoch: int) -> None:
        with self._lock:
            if self.count or epoch != self._epoch:
                return
        try:
            self.on_idle()
        except Exception:  # never worth a failed request
            log.exception("on_idle")


class PixelBudget:
    """Pixels being worked on, all requests together, at most ``limit``; ``hold(n)`` waits its turn.

    ``after_big``: called in the worker thread after a job (``work(job)``) that held ``big`` pixels or
    more, once the job's own objects are gone. The app gives memory back then (``memory.release_memory``):
    each worker thread has its own malloc arena, so big jobs that follow each other on different threads
    would each keep their freed buffers, and the budget alone would not bound memory."""

    def __init__(self, limit: int, after_big: Callable[[], None] | None = None, big: int = 1 << 21):
        self.limit, self.used = limit, 0
        self.after_big, self.big = after_big, big
        self._cond = threading.Condition()
        self._queue: collections.deque = collections.deque()  # waiting holders, first come first served
        self._held = threading.local()  # the pixels the current thread's job has held

    def work(self, job: Callable[[], T]) -> Callable[[], T]:
        """``job`` wrapped to call ``after_big`` when it was big (see the class docstring)."""

        def run() -> T:
            self._held.pixels = 0
            try:
                return job()  # its frame, and the images in it, are freed before the finally block
            finally:
                if self.after_big is not None and self._held.pixels >= self.big:
                    try:
                        self.after_big()
                    except Exception:
                        log.exception("after_big")

        return run

    @contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        need = min(max(int(pixels), 0), self.limit)  # larger than the budget: runs alone
        me = object()
        with self._cond:
            self._queue.append(me)
            while self._queue[0] is not me or self.used + need > self.limit:
                self._cond.wait()
            self._queue.popleft()
            self.used += need
            self._held.pixels = getattr(self._held, "pixels", 0) + need
            self._cond.notify_all()  # the next in line may fit as well
        try:
            yield
        finally:
            with self._cond:
                self.used -= need
                self._cond.notify_all()
