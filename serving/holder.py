"""The model a service answers with, following a registry alias without failing a request.

A :class:`ModelHolder` resolves its spec (``models:/face-alignment@champion``), loads the
pinned version and keeps it as one immutable :class:`Loaded` value.  A background thread
re-resolves the alias every ``poll_interval_s``; when the version changed it loads the new
one *beside* the old (requests keep using the old) and then swaps the reference, which is
atomic.  A request takes the current value once and uses it to the end, so a swap never
fails or mixes models.  A failed load keeps the old model and is reported by ``/healthz``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from facealign.registry.info import ModelRef, resolve

log = logging.getLogger("serving")


@dataclass(frozen=True)
class Loaded:
    """An aligner and what it is: its registry reference and when it was loaded (UTC s)."""

    aligner: Any
    ref: ModelRef
    loaded_at: float


def load_ref(ref: ModelRef, face_model_path: str | None = None) -> Any:
    """Load the aligner of a resolved reference (the pinned version for registry specs) and
    warm it up on a blank 128 px image, so that JIT compilation and first-call allocations
    happen before it answers (or is swapped in), not in a user's request."""
    import numpy as np

    from facealign.registry.loading import load_aligner

    aligner = load_aligner(ref.pinned, face_model_path)
    aligner.align([np.full((128, 128, 3), 128, np.uint8)], np.array([[32.0, 32.0, 96.0, 96.0]]))
    return aligner


class ModelHolder:
    """Holds the current model; ``check()`` follows the alias; a thread calls it periodically."""

    def __init__(self, spec: str, poll_interval_s: float = 30.0,
                 resolver: Callable[[str], ModelRef] = resolve,
                 loader: Callable[[ModelRef], Any] = load_ref) -> None:
        self.spec = spec
        self.poll_interval_s = poll_interval_s
        self._resolve, self._load = resolver, loader
        self._loaded: Loaded | None = None
        self._check_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None
        self.last_check: float | None = None
        self.follows_alias = spec.startswith("models:/") and "@" in spec

    def current(self) -> Loaded:
        """The model to answer with now (loaded; see :meth:`load_initial`)."""
        loaded = self._loaded
        if loaded is None:
            raise RuntimeError("no model loaded yet")
        return loaded

    @property
    def ready(self) -> bool:
        return self._loaded is not None

    def load_initial(self) -> Loaded:
        """Resolve and load synchronously (startup: errors propagate)."""
        ref = self._resolve(self.spec)
        self._loaded = Loaded(self._load(ref), ref, time.time())
        self.last_check = time.time()
        log.info("serving %s (version %s)", self.spec, ref.version)
        return self._loaded

    def check(self) -> bool:
        """Re-resolve the spec; load and swap in a new version. True when the model changed."""
        with self._check_lock:  # one load at a time; requests never wait on this lock
            try:
                ref = self._resolve(self.spec)
                self.last_check = time.time()
                current = self._loaded
                if current is not None and ref.version == current.ref.version:
                    if ref.tags != current.ref.tags:  # e.g. re-measured: refresh what /v1/model says
                        self._loaded = Loaded(current.aligner, ref, current.loaded_at)
                    self.last_error = None
                    return False
                aligner = self._load(ref)
                self._loaded = Loaded(aligner, ref, time.time())  # the swap: one reference assignment
                self.last_error = None
                log.info("swapped in %s version %s", self.spec, ref.version)
                return True
            except Exception as exc:  # noqa: BLE001 - keep serving the old model
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("reload of %s failed, keeping the current model: %s", self.spec, exc)
                return False

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_interval_s):
            self.check()

    def start(self) -> None:
        """Start the polling thread (for alias specs with a positive interval)."""
        if self.follows_alias and self.poll_interval_s > 0 and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._poll, name="alias-poll", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
