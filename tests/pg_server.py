"""The tests' PostgreSQL server: bench.pg_server's throwaway server (initdb into a temp dir)."""
from bench.pg_server import PostgresServer, pg_binary  # noqa: F401
