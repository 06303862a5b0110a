"""The store in one SQLite file: the embedded default.

Each thread gets its own connection; every write runs inside BEGIN IMMEDIATE, which takes
SQLite's one write lock up front, so a conditional write and whatever it depends on cannot
interleave with another thread's or process's.

The file uses a rollback journal, not WAL. WAL maps its `-shm` index into memory, and a
change to that file under a running process (a file made read-only, deleted or truncated by
someone else) kills the process with SIGBUS instead of raising an error. Without the map,
such a change makes the next write raise StoreError, which the health check reports.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sqlite3
import threading
import urllib.parse
from collections.abc import Iterator, Sequence
from pathlib import Path

from sqlite_utils import Database

from .migrations import migrations
from .store import Conflict, Store, StoreError, StoreUnavailable, Tx, utc
from .trail import TRAIL_COLUMNS, TRAIL_FROM, StreamCursor

BUSY_TIMEOUT_SECONDS = 30
PRIVATE = 0o600


class SQLiteStore(Store):
    """Requests, events, jobs and leases in one SQLite file, safe to share between threads."""

    def __init__(self, path: str | Path):
        self.path = os.path.abspath(str(path))
        self._shared: sqlite3.Connection | None = None
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        # One transaction at a time in this process: threads queue here in turn instead of
        # meeting in SQLite's busy handler, which sleeps with a growing backoff (40 threads
        # writing at once took 1.4 to 2.7 s that way, 40 ms in turn). Other processes still meet there.
        self._turn = Turns()
        self._identity = _create_private(self.path)
        # SQLite gives its journal the database file's mode, so the journal is private too.
        conn = self._conn()
        try:
            with contextlib.suppress(sqlite3.OperationalError):
                # Leaving WAL needs the file to itself; while an older process still holds it
                # in WAL, this waits for the next start-up.
                conn.execute("PRAGMA journal_mode = DELETE")
            with _immediate(conn):  # two processes starting together migrate one at a time
                migrations.apply(Database(conn, execute_plugins=False))
        except sqlite3.Error as error:
            self.close()
            raise _translate(error) from error

    # -- connections -------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        # One connection for the process: every use of it takes a turn (Turns), so threads never
        # share it at once, and a thread's first statement pays no connection of its own.
        with self._all_lock:
            return self._shared or self._open()

    def _open(self) -> sqlite3.Connection:
        """The connection, opened (called with _all_lock held)."""
        # mode=rw: a connection opened after the file was deleted gets an error, not a new empty file.
        uri = f"file:{urllib.parse.quote(self.path)}?mode=rw"
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None,
                                   check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_SECONDS * 1000}")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as error:
            raise StoreUnavailable(f"the database file cannot be opened ({error})") from error
        self._shared = conn
        self._all.append(conn)
        return conn

    def _db(self) -> sqlite3.Connection:
        """This thread's raw connection, for tests that must reach under the store."""
        return self._conn()

    def close(self) -> None:
        with self._all_lock:
            for conn in self._all:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._all.clear()
            self._shared = None

    def _guard(self) -> None:
        """Refuse to write to a file that is gone, replaced or read-only (an open connection would).
        Gone or out of reach, the file may come back (a volume remounted); replaced or read-only, it
        needs someone to act."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            raise StoreUnavailable("the database file is gone") from None
        except OSError as error:
            raise StoreUnavailable(f"the database file cannot be reached ({error.strerror})") from None
        if (stat.st_dev, stat.st_ino) != self._identity:
            raise StoreError("the database file was replaced")
        if not os.access(self.path, os.W_OK):
            raise StoreError("the database file is read-only")

    @contextlib.contextmanager
    def _write(self, urgent: bool = False) -> Iterator[Tx]:
        # Checking the file and opening this thread's connection need no turn: only the transaction does.
        self._guard()
        conn = self._conn()
        with self._turn(urgent):
            yield from self._write_in_turn(conn)

    def _write_in_turn(self, conn: sqlite3.Connection) -> Iterator[Tx]:
        try:
            with _immediate(conn):
                yield Tx(lambda sql, params: _run(conn, sql, params))
        except sqlite3.Error as error:
            with contextlib.suppress(sqlite3.Error):
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            raise _translate(error) from error

    @contextlib.contextmanager
    def _read(self) -> Iterator[Tx]:
        conn = self._conn()
        with self._turn():
            try:
                yield Tx(lambda sql, params: _run(conn, sql, params))
            except sqlite3.Error as error:
                raise _translate(error) from error

    def _stream_rows(self, tx: Tx, after: StreamCursor, limit: int) -> list[dict]:
        # One writer at a time hands out ids in commit order: the last id shipped is the cursor.
        return tx.rows(f"SELECT 0 AS txid, {TRAIL_COLUMNS} FROM {TRAIL_FROM} WHERE e.id > ? ORDER BY e.id LIMIT ?",
                       [after.id, limit])

    def _stream_head(self, tx: Tx) -> StreamCursor:
        row = tx.one("SELECT MAX(id) AS id FROM events")
        return StreamCursor(0, int(row["id"] or 0) if row else 0)

    # -- values ------------------------------------------------------------------------

    def _detail(self, name: str) -> str:
        return f"json_extract(details, '$.{name}')"  # as the index requests_key_id (migration m004)

    def _time_in(self, value: dt.datetime | None) -> str | None:
        value = utc(value)
        return value.isoformat(timespec="microseconds") if value else None

    def _time_out(self, value: str | None) -> dt.datetime | None:
        return dt.datetime.fromisoformat(value) if value else None

    def _json_in(self, value) -> str:
        return json.dumps(value)

    def _json_out(self, value: str | None):
        return json.loads(value) if value else None


def _run(conn: sqlite3.Connection, sql: str, params: Sequence) -> tuple[list[dict], int]:
    cursor = conn.execute(sql, list(params))
    if cursor.description is None:
        return [], cursor.rowcount
    names = [column[0] for column in cursor.description]
    rows = [dict(zip(names, row)) for row in cursor.fetchall()]
    return rows, cursor.rowcount


def _translate(error: sqlite3.Error) -> StoreError:
    if isinstance(error, sqlite3.IntegrityError) and "UNIQUE" in str(error):
        return Conflict(str(error))
    return StoreError(f"SQLite refused: {error}")


def _create_private(path: str) -> tuple[int, int]:
    """Create the database file readable by its owner only, before SQLite creates it otherwise."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE)
    except OSError as error:
        raise StoreError(f"cannot open the database file ({error.strerror})") from None
    try:
        stat = os.fstat(fd)
        if stat.st_mode & 0o077:
            os.fchmod(fd, PRIVATE)
    finally:
        os.close(fd)
    return stat.st_dev, stat.st_ino


class Turns:
    """One holder at a time, re-entrant; an urgent caller goes before those merely waiting
    (a slash command's ack waits for its write; the work after acks does not hurry)."""

    def __init__(self):
        self._cond = threading.Condition()
        self._holder: int | None = None
        self._depth = 0
        self._urgent = 0

    @contextlib.contextmanager
    def __call__(self, urgent: bool = False) -> Iterator[None]:
        me = threading.get_ident()
        with self._cond:
            if self._holder == me:
                self._depth += 1
            else:
                self._urgent += urgent
                try:
                    while self._holder is not None or (not urgent and self._urgent):
                        self._cond.wait()
                finally:
                    self._urgent -= urgent
                self._holder, self._depth = me, 1
        try:
            yield
        finally:
            with self._cond:
                self._depth -= 1
                if self._depth == 0:
                    self._holder = None
                    self._cond.notify_all()


@contextlib.contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """A write transaction that takes SQLite's write lock up front; rolled back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
