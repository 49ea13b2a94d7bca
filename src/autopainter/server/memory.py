"""Giving memory back to the system after a burst of big requests.

The work of a request runs in worker threads, and glibc gives each thread its own malloc arena. When a
large image's buffers are freed, glibc keeps most of those pages mapped for the next allocation (its
mmap threshold also grows to the largest block freed), so after a burst of 20 MB uploads the server
stays gigabytes large although it holds nothing. ``malloc_trim(0)`` returns the free pages of every
arena. The app calls it once it has been idle for a second (``guard.InFlight``): steady traffic keeps its
warm buffers (page faults are dear on some machines), a burst leaves no footprint.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ["release_memory"]

_libc = None


def release_memory() -> bool:
    """Return the free heap pages of every malloc arena to the system; False where that is not possible
    (not glibc)."""
    global _libc
    if not sys.platform.startswith("linux"):
        return False
    if _libc is None:
        try:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _libc.malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):  # musl has no malloc_trim
            _libc = False
    if not _libc:
        return False
    _libc.malloc_trim(0)
    return True
