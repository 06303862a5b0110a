"""The store on PostgreSQL, for more than one process or replica (psycopg 3 and a pool).

Transactions run at READ COMMITTED. A conditional `UPDATE ... WHERE state IN (...) RETURNING`
waits for a concurrent writer of the same row and then re-checks its condition, so exactly one
of two racing transitions wins; reads that a write depends on take the row lock first
(`FOR UPDATE`), and job claims pass over rows another worker is claiming (`SKIP LOCKED`).

When the server cannot be reached, the store says so at once (StoreUnavailable) instead of
letting every caller wait out the pool's timeout: a failed connection check, a wait for a
connection that does not come, or a connection lost mid-transaction makes the store probe the
server with a connection of its own. While the probe fails, every transaction is refused without
touching the pool; the probe runs again every PROBE_EVERY_SECONDS, and its first success ends it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from . import postgres_migrations
from .store import Conflict, Store, StoreError, StoreUnavailable, Tx, utc
from .trail import TRAIL_BATCH, TRAIL_COLUMNS, TRAIL_FROM, StreamCursor, TrailEvent

log = logging.getLogger(__name__)

POOL_SIZE = 10
WAIT_SECONDS = 30.0
# Someone waits for these (a slash command's ack, an event's answer): Slack gives up after 3 s.
URGENT_WAIT_SECONDS = 2.0
# A load balancer's probe of /healthz gives up after about a second.
CHECK_WAIT_SECONDS = 0.8
# A waiter looks at the store's state this often, so a probe that finds the server gone frees it.
WAIT_SLICE_SECONDS = 0.1
PROBE_EVERY_SECONDS = 0.5
CONNECT_SECONDS = 2  # libpq's connect_timeout (whole seconds, 2 at least): a silent host is given up on
# The pool gives up reconnecting after this and starts afresh at the next request, so its growing
# backoff (1, 2, 4, 8 s...) cannot hold the first requests after an outage waiting.
RECONNECT_SECONDS = 1.0
# What PostgreSQL says when it refuses a connection for too_many_connections (53300).
FULL = ("too many clients already", "too many connections for")


class PostgresStore(Store):
    """Requests, events, jobs and leases in a PostgreSQL database, shared by replicas."""

    FOR_UPDATE = " FOR UPDATE"
    SKIP_LOCKED = " FOR UPDATE SKIP LOCKED"

    def __init__(self, url: str, *, pool_size: int = POOL_SIZE, wait_seconds: float = WAIT_SECONDS):
        # The URL may carry a password: it goes to libpq and nowhere else (no attribute, no message).
        self._wait = wait_seconds
        self._outage = Outage(lambda: _probe(url))
        self._pool = ConnectionPool(
            url, min_size=1, max_size=max(1, pool_size), open=False, name="iam-bot", timeout=wait_seconds,
            kwargs={"row_factory": dict_row, "connect_timeout": CONNECT_SECONDS}, check=self._check_connection,
        )
        try:
            # At start-up the pool keeps trying for `wait_seconds` (a database that starts a little later is fine).
            self._pool.open(wait=True, timeout=wait_seconds)
            with self._pool.connection() as conn:
                postgres_migrations.apply(conn)
        except psycopg.Error as error:
            self._pool.close()
            raise _translate(error) from None
        self._pool.reconnect_timeout = RECONNECT_SECONDS

    def close(self) -> None:
        self._outage.close()
        self._pool.close()

    def check(self) -> None:
        # A health check answers before a load balancer's probe gives up, not after the pool's 30 s.
        with self._transaction(wait=CHECK_WAIT_SECONDS) as tx:
            row = tx.one(self._heartbeat_sql(), [dt.datetime.now(dt.timezone.utc)])
        if row is None:
            raise StoreError("the database did not record a heartbeat")

    @contextlib.contextmanager
    def _transaction(self, urgent: bool = False, wait: float | None = None) -> Iterator[Tx]:
        # PostgreSQL runs writers side by side; nothing queues here for `urgent` to jump, but an
        # urgent caller waits no longer for a connection than Slack waits for its answer.
        conn = self._connection(wait or (URGENT_WAIT_SECONDS if urgent else self._wait))
        try:
            # One transaction: committed at the block's end, rolled back on an error.
            with conn:
                yield Tx(lambda sql, params: _run(conn, sql, params))
        except psycopg.OperationalError as error:
            self._outage.suspect()  # the connection may have died with the server
            raise _translate(error) from error
        except psycopg.Error as error:
            raise _translate(error) from error
        finally:
            self._pool.putconn(conn)

    def _connection(self, wait: float) -> psycopg.Connection:
        """A connection from the pool within `wait` seconds, or StoreUnavailable."""
        deadline = time.monotonic() + wait
        while True:
            self._outage.refuse()
            try:
                return self._pool.getconn(timeout=max(0.01, min(WAIT_SLICE_SECONDS, deadline - time.monotonic())))
            except PoolTimeout:
                # Busy, or the server gone: the probe tells which, while this waits on.
                self._outage.suspect()
                if time.monotonic() >= deadline:
                    raise StoreUnavailable(f"no database connection came free within {wait:g} s") from None
            except psycopg.Error as error:  # the pool is closed
                raise _translate(error) from error

    def _check_connection(self, conn: psycopg.Connection) -> None:
        try:
            ConnectionPool.check_connection(conn)
        except Exception:
            self._outage.suspect()
            raise

    _write = _transaction
    _read = _transaction

    # -- the trail outward (storage/trail.py) --------------------------------------------

    def trail(self, *, since: dt.datetime | None = None, until: dt.datetime | None = None,
              kinds=(), batch: int = TRAIL_BATCH) -> Iterator[TrailEvent]:
        """One server-side cursor in one transaction: one snapshot of the log (an event committed
        meanwhile with a smaller id is not half in it), fetched `batch` rows at a time."""
        where, params = self._trail_filter(since, until, kinds)
        sql = f"SELECT {TRAIL_COLUMNS} FROM {TRAIL_FROM} WHERE true{where} ORDER BY e.id"
        conn = self._connection(self._wait)
        try:
            with conn.transaction(), conn.cursor(name="iam_bot_trail", row_factory=dict_row) as cursor:
                cursor.itersize = int(batch)
                cursor.execute(sql.replace("?", "%s"), params or None)
                for row in cursor:
                    yield self._trail_event(row)
        except psycopg.OperationalError as error:
            self._outage.suspect()
            raise _translate(error) from error
        except psycopg.Error as error:
            raise _translate(error) from error
        finally:
            self._pool.putconn(conn)

    def _stream_rows(self, tx: Tx, after: StreamCursor, limit: int) -> list[dict]:
        # Only events of transactions older than every one still running, in (txid, id) order:
        # nothing can commit behind the cursor later (storage/trail.py says why). One statement,
        # so the snapshot whose xmin is compared is the one the rows are read in.
        return tx.rows(
            f"SELECT e.txid::text::bigint AS txid, {TRAIL_COLUMNS} FROM {TRAIL_FROM} "
            "WHERE (e.txid, e.id) > (?::text::xid8, ?) AND e.txid < pg_snapshot_xmin(pg_current_snapshot()) "
            "ORDER BY e.txid, e.id LIMIT ?", [str(after.txid), after.id, limit])

    def _stream_head(self, tx: Tx) -> StreamCursor:
        row = tx.one("SELECT e.txid::text::bigint AS txid, e.id AS id FROM events e "
                     "WHERE e.txid < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY e.txid DESC, e.id DESC LIMIT 1")
        return StreamCursor(int(row["txid"]), int(row["id"])) if row else StreamCursor()

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


class Outage:
    """Whether the database is known to be unreachable. `refuse()` is cheap and says so at once;
    `suspect()` asks for a probe soon; a background thread probes while it is unreachable."""

    def __init__(self, probe: Callable[[], None]):
        self._probe = probe
        self._reason: str | None = None
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def refuse(self) -> None:
        reason = self._reason
        if reason is not None:
            raise StoreUnavailable(reason)

    def suspect(self) -> None:
        with self._lock:
            if self._thread is None and not self._closed.is_set():
                self._thread = threading.Thread(target=self._watch, name="database-probe", daemon=True)
                self._thread.start()
        self._wake.set()

    def close(self) -> None:
        self._closed.set()
        self._wake.set()

    def _watch(self) -> None:
        while not self._closed.is_set():
            self._wake.wait(PROBE_EVERY_SECONDS if self._reason is not None else None)
            self._wake.clear()
            if self._closed.is_set():
                return
            try:
                self._probe()
            except Exception as error:
                if self._reason is None:
                    log.warning("the database cannot be reached; refusing requests until it can: %s",
                                _first_line(error))
                self._reason = f"the database cannot be reached: {_first_line(error)}"
            else:
                if self._reason is not None:
                    log.warning("the database can be reached again")
                self._reason = None
            # However often a probe is asked for, the server sees at most one every half second.
            self._closed.wait(PROBE_EVERY_SECONDS)


def _probe(url: str) -> None:
    # A connection of its own: the pool may hold connections the server has since dropped.
    try:
        conn = psycopg.connect(url, connect_timeout=CONNECT_SECONDS, autocommit=True)
    except psycopg.OperationalError as error:
        # The server answered that it is full: it is there, and the pool's connections still work.
        # (psycopg gives no sqlstate for a failed connection, only libpq's text.)
        if any(words in str(error) for words in FULL):
            return
        raise
    with conn:
        conn.execute("SELECT 1")


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]


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
