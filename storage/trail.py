"""The event log read outward (issue 21): an export of any span, and the live stream's cursor.

`TrailMethods` is mixed into `Store`; the two backends supply `_stream_rows` (what the live
stream may ship now) and may replace `trail` with a faster read of their own.

Export: keyset batches (`WHERE e.id > last ORDER BY e.id LIMIT n`), each its own short read,
so the memory used and the time any lock is held stay the same however long the log is; never
OFFSET, whose cost grows with every page. PostgreSQL reads through one server-side cursor
instead (one snapshot, see `PostgresStore.trail`).

Live stream: a cursor per stream name (table `audit_stream`), moved by compare-and-swap after
the lines it covers are written. Which events are safe to ship differs by database:
- SQLite takes one write transaction at a time and hands out ids in that order, so an id
  once seen committed is never followed by a smaller one: the cursor is the last id.
- PostgreSQL hands out ids when a row is inserted and commits in any order, so id 41 may
  become visible after id 42 was shipped; a cursor on the id alone would skip it. Every event
  therefore records the id of its transaction (`txid`, xid8, `pg_current_xact_id()`), and
  the stream ships only events whose transaction is older than every transaction still
  running (`txid < pg_snapshot_xmin(pg_current_snapshot())`), in (txid, id) order, with the
  cursor on (txid, id). Any transaction that commits later either runs now (so its txid is at
  least that xmin) or starts later (a larger txid still): nothing can appear behind the cursor.
  The price: a transaction left open anywhere on the server holds the stream back (it waits,
  it does not lose), which docs/operations.md tells operators to watch for.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

TRAIL_BATCH = 1000
STREAM_BATCH = 500

# The columns an outward line is made from: the event, and its request as it is now.
TRAIL_COLUMNS = (
    "e.id AS id, e.at AS at, e.request_id AS request_id, e.actor_id AS actor_id, e.what AS what, "
    "e.detail AS detail, r.kind AS kind, r.user_name AS user_name, r.state AS state, r.account AS account"
)
TRAIL_FROM = "events e LEFT JOIN requests r ON r.id = e.request_id"


@dataclass(frozen=True)
class TrailEvent:
    """One event with what its request says now (no request: those are None)."""

    id: int
    at: dt.datetime
    request_id: int | None
    actor_id: str | None
    what: str
    detail: str | None
    kind: str | None
    user_name: str | None
    state: str | None
    account: str | None = None  # the request's `[[account]]`; None: the default (or no request)


@dataclass(frozen=True, order=True)
class StreamCursor:
    """Where a stream stands: every event at or before (txid, id) in stream order was shipped.
    `txid` is always 0 on SQLite (see the module's docstring)."""

    txid: int = 0
    id: int = 0


class TrailMethods:
    """The trail's part of `Store` (mixed in; uses its `_read`, `_write`, `_time_in`, `_time_out`)."""

    def trail(self, *, since: dt.datetime | None = None, until: dt.datetime | None = None,
              kinds: Iterable[str] = (), batch: int = TRAIL_BATCH) -> Iterator[TrailEvent]:
        """Events with `since <= at < until` (either may be None), of requests of `kinds` (none
        given: every event, those of no request too), oldest id first, read `batch` at a time."""
        where, params = self._trail_filter(since, until, kinds)
        last = 0
        while True:
            with self._read() as tx:
                rows = tx.rows(f"SELECT {TRAIL_COLUMNS} FROM {TRAIL_FROM} WHERE e.id > ?{where} "
                               "ORDER BY e.id LIMIT ?", [last, *params, int(batch)])
            for row in rows:
                yield self._trail_event(row)
            if len(rows) < batch:
                return
            last = rows[-1]["id"]

    def _trail_filter(self, since, until, kinds) -> tuple[str, list]:
        where, params = "", []
        if since is not None:
            where += " AND e.at >= ?"
            params.append(self._time_in(since))
        if until is not None:
            where += " AND e.at < ?"
            params.append(self._time_in(until))
        kinds = list(kinds)
        if kinds:
            where += f" AND r.kind IN ({', '.join('?' for _ in kinds)})"
            params += kinds
        return where, params

    def _trail_event(self, row: dict) -> TrailEvent:
        return TrailEvent(id=row["id"], at=self._time_out(row["at"]), request_id=row["request_id"],
                          actor_id=row["actor_id"], what=row["what"], detail=row["detail"], kind=row["kind"],
                          user_name=row["user_name"], state=row["state"], account=row.get("account") or None)

    # -- the live stream ---------------------------------------------------------------

    def stream_position(self, name: str) -> StreamCursor:
        with self._read() as tx:
            row = tx.one("SELECT txid, last_id FROM audit_stream WHERE name = ?", [name])
        return StreamCursor(int(row["txid"]), int(row["last_id"])) if row else StreamCursor()

    def stream_batch(self, name: str, *, limit: int = STREAM_BATCH) -> tuple[StreamCursor, list[TrailEvent],
                                                                                 StreamCursor]:
        """The stream's cursor, the next events it may ship (at most `limit`, in stream order)
        and the cursor after them (the same cursor when there are none)."""
        at = self.stream_position(name)
        with self._read() as tx:
            rows = self._stream_rows(tx, at, int(limit))
        events = [self._trail_event(row) for row in rows]
        after = StreamCursor(int(rows[-1]["txid"]), rows[-1]["id"]) if rows else at
        return at, events, after

    def stream_advance(self, name: str, old: StreamCursor, new: StreamCursor, *, now: dt.datetime) -> bool:
        """Move the cursor from `old` to `new`; False when it no longer stands at `old` (another
        writer moved it: the caller lost the stream and must stop)."""
        with self._write() as tx:
            if old == StreamCursor():
                row = tx.one("INSERT INTO audit_stream (name, txid, last_id, at) VALUES (?, ?, ?, ?) "
                             "ON CONFLICT (name) DO NOTHING RETURNING name",
                             [name, new.txid, new.id, self._time_in(now)])
                if row is not None:
                    return True
            return tx.count("UPDATE audit_stream SET txid = ?, last_id = ?, at = ? "
                            "WHERE name = ? AND txid = ? AND last_id = ?",
                            [new.txid, new.id, self._time_in(now), name, old.txid, old.id]) == 1

    def stream_started(self, name: str) -> bool:
        with self._read() as tx:
            return tx.one("SELECT name FROM audit_stream WHERE name = ?", [name]) is not None

    def stream_from_head(self, name: str, *, now: dt.datetime) -> StreamCursor:
        """The stream's cursor; a stream that never ran starts at the newest event that can ship,
        not at the first (a follower that only cares about what happens from now on: the App Home)."""
        if self.stream_started(name):
            return self.stream_position(name)
        with self._write() as tx:
            head = self._stream_head(tx)
            tx.count("INSERT INTO audit_stream (name, txid, last_id, at) VALUES (?, ?, ?, ?) "
                     "ON CONFLICT (name) DO NOTHING", [name, head.txid, head.id, self._time_in(now)])
        return self.stream_position(name)

    def _stream_head(self, tx: Any) -> StreamCursor:
        """The cursor just past every event that can ship now."""
        raise NotImplementedError

    def _stream_rows(self, tx: Any, after: StreamCursor, limit: int) -> list[dict]:
        """Rows of TRAIL_COLUMNS plus `txid`, after `after` in stream order, that can ship now."""
        raise NotImplementedError
