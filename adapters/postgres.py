"""PostgreSQL helpers shared by every process: connections and the read-side tables."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from facturier.config.settings import PostgresSettings


def connect(postgres: PostgresSettings, autocommit: bool = False) -> psycopg.Connection[Any]:
    return psycopg.connect(postgres.dsn, autocommit=autocommit)


def pool(postgres: PostgresSettings, name: str, size: int | None = None) -> ConnectionPool:
    n = size or postgres.pool_size
    return ConnectionPool(postgres.dsn, min_size=1, max_size=n, name=name, open=True)


DDL_LOCK = zlib.crc32(b"facturier-ddl")


@contextmanager
def ddl_lock(postgres: PostgresSettings | None) -> Iterator[None]:
    """Hold the DDL advisory lock: `eventsourcing` creates its tables with CREATE TABLE IF
    NOT EXISTS, which collides on PostgreSQL's type catalogue when several services start at
    once (`pg_type_typname_nsp_index`)."""
    if postgres is None:
        yield
        return
    with connect(postgres, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (DDL_LOCK,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (DDL_LOCK,))


def apply_schema(postgres: PostgresSettings, *names: str) -> None:
    """Create the tables of `schemas/sql/<name>.sql` if missing. An advisory lock serialises
    processes starting together (concurrent CREATE IF NOT EXISTS can still collide)."""
    with connect(postgres) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (DDL_LOCK,))
        for name in names:
            sql = resources.files("facturier.schemas").joinpath("sql", f"{name}.sql")
            conn.execute(sql.read_text("utf-8").encode())
