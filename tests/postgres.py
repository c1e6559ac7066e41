"""A throwaway PostgreSQL server on 127.0.0.1 for DuckLake catalogs (tests and bench/)."""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator


class PostgresUnavailable(Exception):
    """Debian's postgresql is not installed, or the server would not start."""


def _bindir() -> Path | None:
    found = shutil.which("initdb") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)),
                                           None)
    return Path(found).resolve().parent if found else None


@contextmanager
def postgres_server() -> Iterator[Callable[[], str]]:
    """Start PostgreSQL (as the `postgres` user when run as root, which PostgreSQL refuses) in a
    temporary folder; yield a function that creates a new empty database and returns its DuckLake
    catalog string `postgres:dbname=... host=127.0.0.1 port=... user=newsmon`. Stopped on exit."""
    bindir = _bindir()
    if bindir is None:
        raise PostgresUnavailable("Debian's postgresql (initdb) is not installed")
    base = Path(tempfile.mkdtemp(prefix="newsmon-pg-"))      # pytest's own folders are 0700 to root
    as_user: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(base, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data = base / "data"
    subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "newsmon", "--no-sync",
                    "-E", "UTF8"], check=True, capture_output=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([*as_user, str(bindir / "postgres"), "-D", str(data), "-p", str(port),
                               "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={base}",
                               "-c", "fsync=off", "-c", "max_connections=100"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while subprocess.run([str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                             capture_output=True).returncode != 0:
            if time.monotonic() > deadline or server.poll() is not None:
                raise PostgresUnavailable("PostgreSQL did not start")
            time.sleep(0.2)
        counter = iter(range(1_000_000))

        def new_catalog() -> str:
            name = f"lake_{next(counter)}"
            subprocess.run([str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "newsmon", name],
                           check=True, capture_output=True)
            return f"postgres:dbname={name} host=127.0.0.1 port={port} user=newsmon"

        yield new_catalog
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(base, ignore_errors=True)
