"""A real ``facealign serve`` process on a free loopback port, serving a tiny mean-shape aligner,
and an in-process app served from a thread (for fake model holders)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from server_proc import start_server, stop_server, write_params
from tiny_faces import mean_shape_dir


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """``{"base": URL, "proc": Popen}`` of a server for a saved mean-shape aligner directory."""
    folder = tmp_path_factory.mktemp("serve")
    aligner = mean_shape_dir(folder / "aligner")
    params = write_params(folder, f"sqlite:///{folder / 'mlflow.db'}")
    proc, base = start_server(params, str(aligner), folder)
    yield {"base": base, "proc": proc}
    stop_server(proc)


@pytest.fixture
def client(served: dict) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served["base"], timeout=60) as c:
        yield c


@contextmanager
def serving_in_thread(app: Any) -> Iterator[str]:
    """Serve an in-process ``app`` (e.g. over a fake model holder) with uvicorn on a free
    loopback port in a thread; yields its base URL and stops it afterwards."""
    import uvicorn

    from serving.process import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def serve_in_thread():
    """:func:`serving_in_thread`, for tests: ``with serve_in_thread(app) as base: ...``."""
    return serving_in_thread
