"""Real servers for the infra tests: a throwaway PostgreSQL cluster and an MLflow server on it.

PostgreSQL comes from the machine's own binaries (Debian's ``postgresql`` package, which
``.ci/run`` installs): ``initdb`` into a temporary directory, ``postgres`` on a free
loopback port with its unix socket in that directory. When the tests run as root (CI),
the server runs as the unprivileged ``postgres`` user, as PostgreSQL requires. Without
the binaries the tests that need them skip and say why.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
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


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A real PostgreSQL server on 127.0.0.1 with an empty database ``mlflow``.

    Password authentication (scram-sha-256) as in the deployment; fsync off, since the
    data is thrown away.
    """
    bindir = postgres_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, postgres) not found: install Debian's "
                    "`postgresql` package (.ci/run does) or set FACEALIGN_PG_BINDIR")
    try:
        import psycopg2
    except ImportError:
        pytest.skip("psycopg2 is not installed (it is in the dev extra: pip install -e '.[dev]')")

    run_as = {}
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no `postgres` user to run the server as")
        run_as = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}

    # Directly under the system temp dir: pytest's tmp_path is private to the test user,
    # which the `postgres` user could not enter.
    base = Path(tempfile.mkdtemp(prefix="facealign-pg-"))
    password = secrets.token_urlsafe(16)
    (base / "pwfile").write_text(password + "\n")
    if run_as:
        for path in (base, base / "pwfile"):
            os.chown(path, run_as["user"], run_as["group"])
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    initdb = subprocess.run(
        [str(bindir / "initdb"), "-D", str(base / "data"), "-U", PG_USER, "--auth=scram-sha-256",
         f"--pwfile={base / 'pwfile'}", "--encoding=UTF8", "--no-instructions"],
        cwd=base, env=env, capture_output=True, text=True, timeout=120, **run_as)
    if initdb.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"initdb failed:\n{initdb.stdout}\n{initdb.stderr}")

    port = free_port()
    log = base / "postgres.log"
    with open(log, "w") as log_file:
        if run_as:
            os.chown(log, run_as["user"], run_as["group"])
        proc = subprocess.Popen(
            [str(bindir / "postgres"), "-D", str(base / "data"), "-p", str(port), "-k", str(base),
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off",
             "-c", "synchronous_commit=off"],
            cwd=base, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
            **run_as)
    server = Postgres("127.0.0.1", port, PG_USER, password, "postgres")
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"postgres exited with {proc.returncode}:\n{tail(log)}")
            try:
                conn = server.connect()
                break
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    pytest.fail(f"postgres did not accept connections within 60 s:\n{tail(log)}")
                time.sleep(0.2)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {PG_DB}")
        conn.close()
        server.database = PG_DB
        yield server
    finally:
        stop(proc, signal.SIGINT)  # SIGINT: PostgreSQL's "fast" shutdown
        shutil.rmtree(base, ignore_errors=True)


@dataclass
class MlflowServer:
    url: str
    artifacts: Path
    log: Path


@pytest.fixture(scope="session")
def mlflow_server(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """``mlflow server`` on 127.0.0.1, PostgreSQL backend store, proxied artifacts.

    The deployment proxies artifacts to a MinIO bucket; here a local directory stands in
    for the bucket (same proxying code path on the server, same ``mlflow-artifacts:/``
    URIs on the clients).
    """
    root = tmp_path_factory.mktemp("mlflow_server")
    artifacts = root / "artifacts"
    log = root / "mlflow-server.log"
    port = free_port()
    env = {**os.environ, "MLFLOW_BACKEND_STORE_URI": postgres.url,
           "MLFLOW_ARTIFACTS_DESTINATION": str(artifacts)}
    env.pop("MLFLOW_TRACKING_URI", None)
    with open(log, "w") as log_file:
        proc = subprocess.Popen(
            [*venv_command("mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
             "--workers", "1"],
            cwd=root, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{url}/health", proc, log, timeout=120)
        yield MlflowServer(url, artifacts, log)
    finally:
        stop(proc, timeout=5)  # throwaway server: no need to wait for a graceful drain


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


@pytest.fixture(scope="session")
def facealign_parser():
    """The real ``facealign`` argument parser (every subcommand that is built)."""
    from facealign.cli import build_parser

    return build_parser()


@pytest.fixture(scope="session")
def sweep_parser():
    """The real ``python tuning/sweep.py`` argument parser."""
    try:
        from tuning.cli import build_parser
    except ImportError as exc:
        pytest.skip(f"tuning/sweep.py's parser (tuning.cli.build_parser) is not importable: {exc}")
    return build_parser()


def check_facealign_argv(parser, argv: list[str]) -> None:  # noqa: ANN001
    """``argv`` (starting with ``facealign``) is a command the CLI accepts."""
    from facealign.cli import COMMANDS

    assert argv[0] == "facealign", argv
    assert argv[1] in COMMANDS, f"`facealign {argv[1]}` is not a facealign command ({sorted(COMMANDS)})"
    if importlib.util.find_spec(COMMANDS[argv[1]]) is None:
        pytest.skip(f"`facealign {argv[1]}` is declared but {COMMANDS[argv[1]]} is not built yet")
    problem = argv_errors(parser, argv[1:])
    assert problem is None, f"`{' '.join(argv)}` is rejected by the facealign CLI: {problem}"
