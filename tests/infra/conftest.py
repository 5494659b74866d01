"""Fixtures of the infra tests: real PostgreSQL and MLflow servers, the real CLI parsers.

PostgreSQL comes from the machine's own binaries (Debian's ``postgresql`` package, which
``.ci/run`` installs): ``initdb`` into a temporary directory, ``postgres`` on a free
loopback port with its unix socket in that directory. When the tests run as root (CI),
the server runs as the unprivileged ``postgres`` user, as PostgreSQL requires. Without
the binaries the tests that need them skip and say why.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from infra_support import (
    PG_DB,
    PG_USER,
    MlflowServer,
    Postgres,
    free_port,
    postgres_bindir,
    stop,
    tail,
    venv_command,
    wait_for_http,
)


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


@pytest.fixture(scope="session")
def facealign_parser():
    """The real ``facealign`` argument parser (every subcommand that is built)."""
    from commands.cli import build_parser

    return build_parser()


@pytest.fixture(scope="session")
def sweep_parser():
    """The real ``python tuning/sweep.py`` argument parser."""
    try:
        from tuning.cli import build_parser
    except ImportError as exc:
        pytest.skip(f"tuning/sweep.py's parser (tuning.cli.build_parser) is not importable: {exc}")
    return build_parser()
