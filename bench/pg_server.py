"""A throwaway PostgreSQL server in a temp dir on a free loopback port (tests, `bench store`).

Debian's postgresql package (initdb, pg_ctl); PostgreSQL refuses to run as root, so as root
the server runs as the `postgres` system user.
"""
import os
import shutil
import subprocess
import tempfile
import time
from typing import List, Optional

from bench.procs import free_port


PG_BIN_DIRS = ["/usr/lib/postgresql/%s/bin" % v for v in ("17", "16", "15", "14", "13")]


def pg_binary(name: str) -> Optional[str]:
    found = shutil.which(name)
    if found:
        return found
    for folder in PG_BIN_DIRS:
        path = os.path.join(folder, name)
        if os.path.exists(path):
            return path
    return None


class PostgresServer(object):
    """initdb + pg_ctl start/stop; `stop()` then `start()` keeps the data and the port."""

    def __init__(self, port: Optional[int] = None, fsync: bool = False) -> None:
        self.fsync = fsync  # tests run without fsync; the benchmark with it
        self.initdb = pg_binary("initdb")
        self.pg_ctl = pg_binary("pg_ctl")
        if self.initdb is None or self.pg_ctl is None:
            raise RuntimeError("PostgreSQL is not installed (make test installs it with apt)")
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="alpr-pg-")
        self.data = os.path.join(self.dir, "data")
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        self.initialised = False

    @property
    def url(self) -> str:
        return "postgresql://alpr@127.0.0.1:%d/alpr" % self.port

    def _run(self, args: List[str], check: bool = True) -> subprocess.CompletedProcess:
        if self.as_root:
            args = ["runuser", "-u", "postgres", "--"] + args
        return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              check=check, timeout=120)

    def start(self) -> "PostgresServer":
        if not self.initialised:
            self._run([self.initdb, "-D", self.data, "-A", "trust", "-U", "alpr", "-E", "UTF8",
                       "--no-sync"])
            self.initialised = True
        opts = "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=%s" % (
            self.port, self.dir, "on" if self.fsync else "off")
        self._run([self.pg_ctl, "-D", self.data, "-l", os.path.join(self.dir, "log"), "-w",
                   "-t", "60", "-o", opts, "start"])
        if not getattr(self, "_db_made", False):
            self._wait_db("postgres")
            self._psql("postgres", "CREATE DATABASE alpr")
            self._db_made = True
        return self

    def _psql(self, db: str, sql: str) -> None:
        import psycopg

        with psycopg.connect("postgresql://alpr@127.0.0.1:%d/%s" % (self.port, db),
                             autocommit=True) as conn:
            conn.execute(sql)

    def _wait_db(self, db: str, timeout: float = 30.0) -> None:
        import psycopg

        deadline = time.time() + timeout
        while True:
            try:
                psycopg.connect("postgresql://alpr@127.0.0.1:%d/%s" % (self.port, db)).close()
                return
            except psycopg.OperationalError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self, mode: str = "fast") -> None:
        self._run([self.pg_ctl, "-D", self.data, "-m", mode, "-w", "stop"], check=False)

    def reset(self) -> None:
        """Drop every table (a fresh schema per test)."""
        self._psql("alpr", "DROP SCHEMA public CASCADE; CREATE SCHEMA public")

    def cleanup(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)
