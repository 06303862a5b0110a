"""The store on PostgreSQL, for more than one process or replica (psycopg 3 and a pool).

Transactions run at READ COMMITTED. A conditional `UPDATE ... WHERE state IN (...) RETURNING`
waits for a concurrent writer of the same row and then re-checks its condition, so exactly one
of two racing transitions wins; reads that a write depends on take the row lock first
(`FOR UPDATE`), and job claims pass over rows another worker is claiming (`SKIP LOCKED`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator, Sequence

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from . import postgres_migrations
from .store import Conflict, Store, StoreError, Tx, utc

POOL_SIZE = 10
WAIT_SECONDS = 30.0
CHECK_WAIT_SECONDS = 5.0


class PostgresStore(Store):
    """Requests, events, jobs and leases in a PostgreSQL database, shared by replicas."""

    FOR_UPDATE = " FOR UPDATE"
    SKIP_LOCKED = " FOR UPDATE SKIP LOCKED"

    def __init__(self, url: str, *, pool_size: int = POOL_SIZE, wait_seconds: float = WAIT_SECONDS):
        # The URL may carry a password: it goes to libpq and nowhere else (no attribute, no message).
        self._pool = ConnectionPool(
            url, min_size=1, max_size=max(1, pool_size), open=False, name="iam-bot", timeout=wait_seconds,
            kwargs={"row_factory": dict_row}, check=ConnectionPool.check_connection,
        )
        try:
            self._pool.open(wait=True, timeout=wait_seconds)
            with self._pool.connection() as conn:
                postgres_migrations.apply(conn)
        except psycopg.Error as error:
            self._pool.close()
            raise _translate(error) from None

    def close(self) -> None:
        self._pool.close()

    def check(self) -> None:
        # A health check answers soon: it waits a few seconds for a connection, not the pool's 30.
        with self._transaction(wait=CHECK_WAIT_SECONDS) as tx:
            row = tx.one(self._heartbeat_sql(), [dt.datetime.now(dt.timezone.utc)])
        if row is None:
            raise StoreError("the database did not record a heartbeat")

    @contextlib.contextmanager
    def _transaction(self, urgent: bool = False, wait: float | None = None) -> Iterator[Tx]:
        # PostgreSQL runs writers side by side; nothing queues here for `urgent` to jump.
        try:
            # The pool's block is one transaction: committed at its end, rolled back on an error.
            with self._pool.connection(timeout=wait) as conn:
                yield Tx(lambda sql, params: _run(conn, sql, params))
        except psycopg.Error as error:
            raise _translate(error) from error

    _write = _transaction
    _read = _transaction

    # -- values ------------------------------------------------------------------------

    def _detail(self, name: str) -> str:
        return f"(details->>'{name}')"  # as the index requests_key_id (migration 0003)

    def _time_in(self, value: dt.datetime | None) -> dt.datetime | None:
        return utc(value)

    def _time_out(self, value: dt.datetime | None) -> dt.datetime | None:
        return value.astimezone(dt.timezone.utc) if value is not None else None

    def _json_in(self, value) -> Jsonb:
        return Jsonb(value)

    def _json_out(self, value):
        return value


def _run(conn: psycopg.Connection, sql: str, params: Sequence) -> tuple[list[dict], int]:
    # The shared SQL is written with `?` marks and never uses `?` or `%` otherwise.
    cursor = conn.execute(sql.replace("?", "%s"), list(params) or None)
    rows = cursor.fetchall() if cursor.description else []
    return rows, cursor.rowcount


def _translate(error: psycopg.Error) -> StoreError:
    if isinstance(error, psycopg.errors.UniqueViolation):
        return Conflict(_reason(error))
    return StoreError(f"PostgreSQL refused: {_reason(error)}")


def _reason(error: psycopg.Error) -> str:
    diag = getattr(error, "diag", None)
    primary = diag.message_primary if diag is not None else None
    return primary or (str(error).strip().splitlines() or ["unknown error"])[0]
