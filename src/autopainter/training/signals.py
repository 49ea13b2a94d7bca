"""Stopping cleanly on Ctrl-C and SIGTERM (cluster pre-emption): the loop finishes the step in
progress, saves a checkpoint and exits, so a half-done step is never saved. ``Interrupted`` tells the
caller which signal it was: the command exits 128 + its number (130 for SIGINT, 143 for SIGTERM), as
shells and schedulers expect of a process stopped by a signal."""

from __future__ import annotations

import signal

__all__ = ["Interrupt", "Interrupted", "StopNow", "ignore_signals_in_worker"]


class Interrupted(KeyboardInterrupt):
    """Training stopped by ``signum`` (SIGINT or SIGTERM) after saving its checkpoint."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        self.signum = int(signum)
        super().__init__(signal.Signals(self.signum).name)


class StopNow(KeyboardInterrupt):
    """A second Ctrl-C: stop at once, in the middle of a step, without saving (the last checkpoint stays)."""

    signum = signal.SIGINT


class Interrupt:
    """A context in which Ctrl-C and SIGTERM only set ``hit`` (and ``signum``, the first one to arrive);
    the loop checks it between two steps. A second Ctrl-C stops at once (``StopNow``)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.hit = False
        self.signum: int | None = None
        self._old: dict = {}

    def __enter__(self) -> "Interrupt":
        for sig in self.SIGNALS:
            try:
                self._old[sig] = signal.signal(sig, self._handler)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def _handler(self, signum, frame) -> None:
        if self.hit and signum == signal.SIGINT:
            raise StopNow
        self.hit = True
        if self.signum is None:
            self.signum = signum

    def __exit__(self, *exc) -> bool:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        return False


def ignore_signals_in_worker(_worker_id: int) -> None:
    """DataLoader ``worker_init_fn``. Workers share the terminal's process group, so Ctrl-C or a
    scheduler's SIGTERM reaches them too; the main process decides when to stop and shuts them down."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
