"""Keep the server's resident memory flat: glibc malloc settings for a long-running server.

Decoding an upload allocates buffers of megabytes (bodies, PIL images, numpy arrays) that
are freed a moment later.  glibc's default raises its mmap threshold after each such free
(up to 32 MB), so later large buffers come from the heap arenas, where freed memory is
fragmented and stays resident; every thread that allocates may also get its own arena.
Over a soak the server's RSS then creeps up.  :func:`tune_malloc` fixes the mmap threshold
(large buffers are mapped and unmapped, returned to the system on free) and caps the
number of arenas; :func:`release_free_memory` hands free heap pages back (``malloc_trim``).
Both do nothing where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger("serving")

M_MMAP_THRESHOLD = -3  # mallopt parameters (glibc malloc.h)
M_ARENA_MAX = -8


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def tune_malloc(mmap_threshold_bytes: int, arena_max: int) -> bool:
    """Fix glibc's mmap threshold (bytes; buffers at least this large are mmapped) and cap
    its arenas.  Returns whether the settings took effect (False off glibc)."""
    libc = _libc()
    if libc is None:
        return False
    ok = bool(libc.mallopt(M_MMAP_THRESHOLD, int(mmap_threshold_bytes)))
    ok = bool(libc.mallopt(M_ARENA_MAX, int(arena_max))) and ok
    if ok:
        log.info("malloc: mmap threshold %d bytes, at most %d arenas", mmap_threshold_bytes, arena_max)
    return ok


def release_free_memory() -> None:
    """Return free heap memory to the system (glibc ``malloc_trim(0)``; a no-op elsewhere)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
