"""A throw-away PostgreSQL server for tests and benchmarks: Debian's binaries, a cluster in a temp dir.

``initdb`` creates a cluster in a fresh directory, ``pg_ctl`` starts it on a free port of 127.0.0.1
(its unix socket stays inside the directory, so it never meets a system server) with password
authentication, and :meth:`PostgresServer.stop` removes everything again::

    with PostgresServer() as pg:
        url = pg.create_database()   # postgresql+psycopg://breakfix:***@127.0.0.1:PORT/t_...
        ...

PostgreSQL refuses to run as root; when the tests run as root the cluster belongs to an
unprivileged user (``postgres`` if the Debian package created it, else ``nobody``) and every
server command runs as that user.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

USER = "breakfix"
"""The cluster's superuser (the one the test URLs name)."""


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries on this machine (``apt-get install postgresql`` provides them)."""


def find_bindir() -> Path:
    """The newest ``/usr/lib/postgresql/*/bin`` holding ``initdb`` (``$BREAKFIX_PG_BINDIR`` wins)."""
    if os.environ.get("BREAKFIX_PG_BINDIR"):
        return Path(os.environ["BREAKFIX_PG_BINDIR"])
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        on_path = shutil.which("initdb")
        if on_path:
            return Path(on_path).parent
        raise PostgresUnavailable("no PostgreSQL server binaries (initdb); install with: apt-get install postgresql")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_user() -> pwd.struct_passwd | None:
    """The unprivileged account the server runs as when we are root (``None``: run as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise PostgresUnavailable("running as root and no unprivileged user (postgres, nobody) to own the cluster")


class PostgresServer:
    """One PostgreSQL cluster in a temporary directory, listening on 127.0.0.1.

    Args:
        password: the superuser's password (random by default).
    """

    def __init__(self, password: str | None = None) -> None:
        self.bindir = find_bindir()
        self.password = password or secrets.token_hex(8)
        self.port = 0
        self.root: Path | None = None
        self._user = _server_user()

    # -- lifecycle -----------------------------------------------------------------------------
    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        kw: dict[str, Any] = {}
        if self._user is not None:
            # subprocess drops privileges itself (no runuser/sudo needed).
            kw = {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": []}
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8",
               "HOME": str(self.root)}
        return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, env=env,
                              cwd=str(self.root), check=False, **kw)

    def start(self) -> "PostgresServer":
        """initdb + pg_ctl start; raises RuntimeError with the server's log if it does not come up."""
        self.root = Path(tempfile.mkdtemp(prefix="breakfix-pg-"))
        if self._user is not None:
            os.chown(self.root, self._user.pw_uid, self._user.pw_gid)
        data = self.root / "data"
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        if self._user is not None:
            os.chown(pwfile, self._user.pw_uid, self._user.pw_gid)
        res = self._run(str(self.bindir / "initdb"), "-D", str(data), "-U", USER, f"--pwfile={pwfile}",
                        "--auth=scram-sha-256", "-E", "UTF8", "--no-sync")
        if res.returncode != 0:
            raise RuntimeError(f"initdb failed: {(res.stderr or res.stdout).strip()[-800:]}")
        pwfile.unlink()
        for attempt in range(5):  # a free port can be taken between picking it and binding it
            self.port = _free_port()
            opts = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                    "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
            res = self._run(str(self.bindir / "pg_ctl"), "-D", str(data), "-l", str(self.root / "log"),
                            "-o", opts, "-w", "-t", "60", "start")
            if res.returncode == 0:
                return self
            log = (self.root / "log").read_text(errors="replace") if (self.root / "log").exists() else ""
            if "could not bind" not in log and "Address already in use" not in log:
                break
        self.stop()
        raise RuntimeError(f"pg_ctl start failed: {(res.stderr or res.stdout).strip()[-400:]} {log[-800:]}")

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete the cluster (safe to call twice)."""
        if self.root is None:
            return
        if (self.root / "data" / "postmaster.pid").exists():
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "-w",
                      "stop", timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def __enter__(self) -> "PostgresServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- URLs and databases --------------------------------------------------------------------
    def url(self, database: str = "postgres", *, password: str | None = None, port: int | None = None) -> str:
        """A SQLAlchemy URL (psycopg 3) for ``database``; ``password``/``port`` override for error tests."""
        pw = self.password if password is None else password
        return f"postgresql+psycopg://{USER}:{pw}@127.0.0.1:{port or self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """A new empty database (one per test keeps tests independent); returns its URL."""
        import psycopg

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(host="127.0.0.1", port=self.port, user=USER, password=self.password,
                             dbname="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def wait_ready(self, timeout: float = 30) -> None:
        """Block until the server accepts connections."""
        import psycopg

        end = time.monotonic() + timeout
        while True:
            try:
                psycopg.connect(self.url().replace("postgresql+psycopg", "postgresql")).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.1)
