"""Stopping cleanly on Ctrl-C and SIGTERM (cluster pre-emption): the loop finishes the step in
progress, saves a checkpoint and exits, so a half-done step is never saved."""

from __future__ import annotations

import signal

__all__ = ["Interrupt", "ignore_signals_in_worker"]


class Interrupt:
    """A context in which Ctrl-C and SIGTERM only set ``hit``; the loop checks it between two steps.
    A second Ctrl-C stops at once (KeyboardInterrupt)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.hit = False
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
            raise KeyboardInterrupt
        self.hit = True

    def __exit__(self, *exc) -> bool:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        return False


def ignore_signals_in_worker(_worker_id: int) -> None:
    """DataLoader ``worker_init_fn``. Workers share the terminal's process group, so Ctrl-C or a
    scheduler's SIGTERM reaches them too; the main process decides when to stop and shuts them down."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
