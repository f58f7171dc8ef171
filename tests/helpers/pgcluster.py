"""A throwaway PostgreSQL cluster for the tests, built from the server binaries on the machine.

The cluster lives in a temporary directory, listens on a free TCP port on 127.0.0.1 with
durability switched off (fsync, synchronous_commit, full_page_writes), trusts local
connections, and is removed when stopped. PostgreSQL refuses to run as root, so under uid 0
every server command runs as the ``postgres`` system user through ``runuser``.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql

__all__ = ["PostgresCluster", "PostgresUnavailable", "find_bindir"]

SERVER_USER = "postgres"
SUPERUSER = "postgres"
START_TIMEOUT_S = 60
START_ATTEMPTS = 3

_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "32MB",
    "log_min_messages": "warning",
}


class PostgresUnavailable(Exception):
    """PostgreSQL cannot be run here; the message says why and how to fix it."""


def find_bindir() -> Path:
    """Return the directory holding ``initdb`` and ``pg_ctl``, or raise PostgresUnavailable.

    Uses ``$PSYCHOGRAPH_PG_BINDIR`` when set; otherwise looks at ``pg_config --bindir`` and
    ``PATH``, then Debian's ``/usr/lib/postgresql/<version>/bin`` (newest version first).
    """
    tools = ("initdb", "pg_ctl", "postgres")
    if env := os.environ.get("PSYCHOGRAPH_PG_BINDIR"):
        if all((Path(env) / tool).is_file() for tool in tools):
            return Path(env)
        raise PostgresUnavailable(
            f"PSYCHOGRAPH_PG_BINDIR={env} does not hold the PostgreSQL server binaries "
            f"({', '.join(tools)})"
        )
    candidates: list[Path] = []
    if pg_config := shutil.which("pg_config"):
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True
            ).stdout
            candidates.append(Path(out.strip()))
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).parent)
    debian = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(v) if (v := Path(p).parent.name).isdigit() else 0,
        reverse=True,
    )
    candidates.extend(Path(p) for p in debian)
    for bindir in candidates:
        if all((bindir / tool).is_file() for tool in tools):
            return bindir
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install them "
        "(Debian/Ubuntu: apt-get install postgresql) or set PSYCHOGRAPH_PG_BINDIR"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresCluster:
    """One initdb'd data directory and the server running on it.

    Use :meth:`start` and :meth:`stop` (or the instance as a context manager); then
    :meth:`create_database` / :meth:`drop_database` and :meth:`url` for SQLAlchemy URLs.
    """

    def __init__(self, bindir: Path | None = None) -> None:
        self.bindir = bindir or find_bindir()
        self.port: int | None = None
        self._as_root = os.geteuid() == 0
        if self._as_root:
            try:
                self._server_user = pwd.getpwnam(SERVER_USER)
            except KeyError:
                raise PostgresUnavailable(
                    f"running as root and there is no {SERVER_USER!r} user to run PostgreSQL "
                    "as (PostgreSQL refuses to run as root): create one, or run the tests as "
                    "an ordinary user"
                ) from None
        self._dir: Path | None = None
        self._admin: psycopg.Connection[tuple[object, ...]] | None = None

    # --- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> PostgresCluster:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def datadir(self) -> Path:
        assert self._dir is not None, "cluster not started"
        return self._dir / "data"

    def start(self) -> None:
        """Create the data directory, start the server and connect the admin connection."""
        self._dir = Path(tempfile.mkdtemp(prefix="psychograph-pg-"))
        # If the test session dies without tearing down, still stop the server on exit.
        atexit.register(self.stop)
        if self._as_root:
            os.chown(self._dir, self._server_user.pw_uid, self._server_user.pw_gid)
        try:
            self._run(
                "initdb",
                "--pgdata",
                str(self.datadir),
                "--username",
                SUPERUSER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
            )
            self._start_server()
            self._admin = psycopg.connect(self._conninfo("postgres"), autocommit=True)
        except BaseException:
            self.stop()
            raise

    def _start_server(self) -> None:
        conf = self.datadir / "postgresql.conf"
        base = conf.read_text()
        last_error = ""
        for _attempt in range(START_ATTEMPTS):
            # Another process may take the port between choosing and binding it: retry.
            self.port = _free_port()
            settings = {
                **_SETTINGS,
                "port": str(self.port),
                "unix_socket_directories": f"'{self._dir}'",
            }
            conf.write_text(base + "".join(f"\n{k} = {v}" for k, v in settings.items()) + "\n")
            try:
                self._pg_ctl_start()
                return
            except PostgresUnavailable as exc:
                last_error = str(exc)
        raise PostgresUnavailable(f"PostgreSQL did not start: {last_error}")

    def _pg_ctl_start(self) -> None:
        self._run(
            "pg_ctl",
            "--pgdata",
            str(self.datadir),
            "--log",
            str(self.logfile),
            "--wait",
            "--timeout",
            str(START_TIMEOUT_S),
            "start",
        )

    def stop_server(self, *, mode: str = "fast") -> None:
        """Stop the server but keep its data (``immediate`` is a crash: no checkpoint)."""
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        self._run("pg_ctl", "--pgdata", str(self.datadir), "--mode", mode, "--wait", "stop")

    def start_server(self) -> None:
        """Start the stopped server again on the same port and data."""
        self._pg_ctl_start()
        self._admin = psycopg.connect(self._conninfo("postgres"), autocommit=True)

    def set(self, name: str, value: str) -> None:
        """Change a server setting (``ALTER SYSTEM``) and reload the configuration."""
        assert self._admin is not None, "cluster not started"
        self._admin.execute(
            sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value))
        )
        self._admin.execute("SELECT pg_reload_conf()")

    @property
    def logfile(self) -> Path:
        assert self._dir is not None
        return self._dir / "server.log"

    def stop(self) -> None:
        """Stop the server at once and remove its directory (the data is thrown away)."""
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        if self._dir is None:
            return
        if (self.datadir / "postmaster.pid").exists():
            with contextlib.suppress(PostgresUnavailable):
                self._run("pg_ctl", "--pgdata", str(self.datadir), "--mode", "immediate", "stop")
        shutil.rmtree(self._dir, ignore_errors=True)
        self._dir = None
        atexit.unregister(self.stop)

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(self.bindir / tool), *args]
        if self._as_root:
            cmd = ["runuser", "-u", SERVER_USER, "--", *cmd]
        # cwd: the server user may not be allowed into the caller's working directory.
        result = subprocess.run(cmd, cwd=self._dir, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            log = ""
            if self._dir is not None and self.logfile.exists():
                log = self.logfile.read_text(errors="replace")[-2000:]
            raise PostgresUnavailable(
                f"`{' '.join(cmd)}` failed with exit code {result.returncode}:\n"
                f"{result.stdout}{result.stderr}{log}".rstrip()
            )

    # --- databases ------------------------------------------------------------------------

    def _conninfo(self, dbname: str) -> str:
        return f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname={dbname}"

    def url(self, dbname: str) -> str:
        """Return the SQLAlchemy URL of database ``dbname`` on this cluster."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """Create database ``name`` (a copy of ``template`` if given) and return its URL."""
        assert self._admin is not None, "cluster not started"
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            query += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        self._admin.execute(query)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name``, disconnecting anyone still connected."""
        assert self._admin is not None, "cluster not started"
        self._admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
