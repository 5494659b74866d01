"""What all requests together may hold in memory at once: request bytes and decoded pixels.

A :class:`Budget` counts one resource in flight across requests (bytes of request bodies
being read or held, pixels of images admitted for decoding and alignment).  A request
takes its share before it allocates it and gives it back when it is answered; when the
share does not fit the request is refused at once with 503 and ``Retry-After`` instead
of waiting, so a burst of large uploads costs the server a bounded amount of memory and
the clients a retry, never the machine its memory.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from serving.limits import ApiError


class Budget:
    """A thread-safe counter of ``unit`` in flight, at most ``limit`` (> 0) at once."""

    def __init__(self, name: str, limit: int, unit: str, retry_after_s: float = 1.0) -> None:
        if limit <= 0:
            raise ValueError(f"serve: the {name} budget must be positive, got {limit}")
        self.name, self.limit, self.unit, self.retry_after_s = name, int(limit), unit, retry_after_s
        self._used = 0
        self._lock = threading.Lock()

    @property
    def used(self) -> int:
        return self._used

    def take(self, amount: int) -> None:
        """Take ``amount`` now or raise :class:`ApiError` 503 (with ``Retry-After``).

        An amount over the whole limit can never fit; callers refuse such requests (413)
        before they get here, and it is refused here too rather than waited for.
        """
        amount = max(int(amount), 0)
        with self._lock:
            if self._used + amount <= self.limit:
                self._used += amount
                return
            used = self._used
        raise ApiError(503, "busy",
                       f"the server is busy: {used} of its {self.limit} {self.unit} of {self.name} "
                       f"in flight are taken and this request needs {amount}; retry in "
                       f"{self.retry_after_s:g} s",
                       headers={"Retry-After": str(max(1, round(self.retry_after_s)))})

    def give(self, amount: int) -> None:
        """Give back what :meth:`take` took."""
        with self._lock:
            self._used = max(self._used - max(int(amount), 0), 0)

    @contextmanager
    def hold(self, amount: int) -> Iterator[None]:
        """``take(amount)`` for the duration of a ``with`` block."""
        self.take(amount)
        try:
            yield
        finally:
            self.give(amount)
