"""A real ``facealign serve`` process on a free loopback port, serving a tiny mean-shape aligner."""

from __future__ import annotations

from collections.abc import Iterator

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
