"""A throw-away PostgreSQL cluster for the SQL cell tests: Debian's initdb and pg_ctl
(scripts/setup-postgres.sh installs them), a data directory in a fresh temporary directory,
listening on 127.0.0.1 only, password (SCRAM) authentication, stopped and removed after.

Run as root, the cluster belongs to ``nobody`` (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Postgres", "find_initdb", "postgres_cluster"]

USER = "runt"


@dataclass(frozen=True, slots=True)
class Postgres:
    host: str
    port: int
    user: str
    password: str
    database: str = "postgres"

    def url(self, password: str | None = None, port: int | None = None) -> str:
        pw = self.password if password is None else password
        return f"postgresql://{self.user}:{pw}@{self.host}:{port or self.port}/{self.database}"


def find_initdb() -> Path | None:
    """Debian's initdb (newest version), or one on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if found:
        return Path(found[-1])
    which = shutil.which("initdb")
    return Path(which) if which else None


def _version(path: str) -> int:
    part = Path(path).parts[-3]
    return int(part) if part.isdigit() else 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def postgres_cluster() -> Iterator[Postgres]:
    initdb = find_initdb()
    assert initdb is not None, "no initdb: run scripts/setup-postgres.sh (make test does)"
    bindir = initdb.parent
    root = Path(tempfile.mkdtemp(prefix="runt-pg-"))
    as_user: dict[str, object] = {}
    if os.geteuid() == 0:
        import pwd

        nobody = pwd.getpwnam("nobody")
        as_user = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
        os.chown(root, nobody.pw_uid, nobody.pw_gid)
    password = secrets.token_urlsafe(16)
    pwfile = root / "pw"
    pwfile.write_text(password + "\n")
    if as_user:
        os.chown(pwfile, int(as_user["user"]), int(as_user["group"]))
    data = root / "data"
    port = free_port()
    env = {"PATH": os.environ.get("PATH", ""), "LC_ALL": "C", "HOME": str(root)}
    run = {"cwd": root, "env": env, "check": True, "capture_output": True, **as_user}
    subprocess.run(
        [
            str(initdb),
            "-D",
            str(data),
            "-U",
            USER,
            "--pwfile",
            str(pwfile),
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
        ],
        **run,
    )
    options = f"-h 127.0.0.1 -p {port} -k {root}"
    pg_ctl = str(bindir / "pg_ctl")
    try:
        subprocess.run(
            [pg_ctl, "-D", str(data), "-l", str(root / "log"), "-o", options, "-w", "start"],
            **run,
        )
        yield Postgres("127.0.0.1", port, USER, password)
    finally:
        subprocess.run(
            [pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
            **{**run, "check": False},
        )
        shutil.rmtree(root, ignore_errors=True)
