"""Wall time of the parts of an inference call, for the benches' per-part tables."""

from __future__ import annotations

import time


class StageTimer:
    """Seconds between consecutive :meth:`mark` calls, summed per label.

    ``StageTimer(enabled=False)`` records nothing (the aligners' default, so that the timed
    and the untimed call run the same code).
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.parts: dict[str, float] = {}
        self._last = time.perf_counter()

    def start(self) -> None:
        """Restart the clock (the next mark measures from here)."""
        if self.enabled:
            self._last = time.perf_counter()

    def mark(self, label: str) -> None:
        """Add the time since the previous mark (or :meth:`start`) to ``label``."""
        if self.enabled:
            now = time.perf_counter()
            self.parts[label] = self.parts.get(label, 0.0) + now - self._last
            self._last = now
