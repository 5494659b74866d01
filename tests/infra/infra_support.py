"""Helpers of the infra tests (imported by name: a unique module name, unlike ``conftest``).

Servers: PostgreSQL comes from the machine's own binaries (Debian's ``postgresql`` package, which
``.ci/run`` installs): ``initdb`` into a temporary directory, ``postgres`` on a free
loopback port with its unix socket in that directory. When the tests run as root (CI),
the server runs as the unprivileged ``postgres`` user, as PostgreSQL requires. Without
the binaries the tests that need them skip and say why. The fixtures that start them are
in this folder's ``conftest.py``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA = REPO_ROOT / "infra"
PG_DB = "mlflow"
PG_USER = "facealign"


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def venv_command(name: str) -> list[str]:
    """The console script ``name`` of the running interpreter's environment."""
    script = Path(sys.executable).parent / name
    return [str(script)] if script.is_file() else [sys.executable, "-m", name]


def wait_for_http(url: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    """Poll ``url`` until it answers 200; fail with the server's log if it dies or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{url}: server exited with {proc.returncode}:\n{tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    pytest.fail(f"{url}: no answer within {timeout:.0f} s:\n{tail(log)}")


def tail(log: Path, n: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-n:]) if log.is_file() else "(no log)"


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 10) -> None:
    """Signal the process group we started (``start_new_session``), then kill it if it lingers."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=timeout)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def postgres_bindir(debian_root: Path = Path("/usr/lib/postgresql")) -> Path | None:
    """``$FACEALIGN_PG_BINDIR``, else the newest ``<debian_root>/<ver>/bin``, else ``PATH``."""
    candidates = []
    if os.environ.get("FACEALIGN_PG_BINDIR"):
        candidates.append(Path(os.environ["FACEALIGN_PG_BINDIR"]))
    versions = debian_root.glob("*/bin")
    candidates += sorted(versions, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
                         reverse=True)
    if shutil.which("initdb"):
        candidates.append(Path(shutil.which("initdb")).parent)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "postgres").is_file():
            return bindir
    return None


@dataclass
class Postgres:
    """A running throwaway cluster; ``url`` is the SQLAlchemy URL of database ``mlflow``."""

    host: str
    port: int
    user: str
    password: str
    database: str

    @property
    def url(self) -> str:
        # The driver is named: SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3.
        return f"postgresql+psycopg2://{self.user}:{self.password}@{self.host}:{self.port}/{self.database}"

    def connect(self):  # noqa: ANN201 - psycopg2 connection
        import psycopg2

        return psycopg2.connect(host=self.host, port=self.port, user=self.user,
                                password=self.password, dbname=self.database, connect_timeout=5)


@dataclass
class MlflowServer:
    url: str
    artifacts: Path
    log: Path


# ---- static checks: the deployment files against the code -----------------------------


def load_yaml(path: Path) -> list:
    """Every document of a YAML file (anchors and merge keys resolved, as kubectl/compose do)."""
    import yaml

    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def argv_errors(parser, argv: list[str]) -> str | None:  # noqa: ANN001 - argparse parser
    """None when ``parser`` accepts ``argv``, else argparse's complaint."""
    import contextlib
    import io

    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            parser.parse_args(argv)
    except SystemExit as exc:
        return err.getvalue().strip() or f"exit {exc.code}"
    return None


def check_facealign_argv(parser, argv: list[str]) -> None:  # noqa: ANN001
    """``argv`` (starting with ``facealign``) is a command the CLI accepts."""
    from commands.cli import COMMANDS

    assert argv[0] == "facealign", argv
    assert argv[1] in COMMANDS, f"`facealign {argv[1]}` is not a facealign command ({sorted(COMMANDS)})"
    problem = argv_errors(parser, argv[1:])
    assert problem is None, f"`{' '.join(argv)}` is rejected by the facealign CLI: {problem}"
