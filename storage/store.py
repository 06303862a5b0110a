"""The request store: requests and their append-only event log, in SQLite.

Everything outside this package speaks to SQLite only through `Store`, in domain words
(file a request, claim a transition, record a step, append an event), so that another
store could take its place. Each thread gets its own connection; every state change is a
conditional UPDATE inside BEGIN IMMEDIATE, so two threads or two processes can never both
move the same request.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlite_utils import Database

from .migrations import migrations

BUSY_TIMEOUT_SECONDS = 30

PENDING = "pending"
APPROVED = "approved"
PROVISIONED = "provisioned"
REVEALING = "revealing"  # a reveal claimed, its password not yet shown
REVEALED = "revealed"
DENIED = "denied"
EXPIRED = "expired"
FAILED = "failed"
REVEAL_EXPIRED = "reveal_expired"
CANCELLED = "cancelled"
LIVE_STATES = (PENDING, APPROVED, PROVISIONED)
# The bot created the IAM user and it went to its owner.
PROVISIONED_STATES = (PROVISIONED, REVEALING, REVEALED, REVEAL_EXPIRED)
TERMINAL_STATES = (REVEALED, DENIED, EXPIRED, REVEAL_EXPIRED)


class StoreError(Exception):
    "Something the store was asked cannot be done"


class RequestNotFound(StoreError):
    "No request with that id"


class DuplicateRequest(StoreError):
    "A live request for the same IAM user name already exists"

    def __init__(self, existing_id: int):
        super().__init__(f"request #{existing_id} is already open for that user name")
        self.existing_id = existing_id


@dataclass(frozen=True)
class Request:
    id: int
    user_name: str
    groups: tuple[str, ...]
    console: bool
    owner_id: str
    requester_id: str
    team_id: str
    state: str
    created_at: dt.datetime
    updated_at: dt.datetime
    decider_id: str | None = None
    decided_at: dt.datetime | None = None
    deny_reason: str | None = None
    steps_done: tuple[str, ...] = ()
    failure: str | None = None
    user_arn: str | None = None
    card_channel: str | None = None
    card_ts: str | None = None
    dm_channel: str | None = None
    dm_ts: str | None = None
    reveal_claimed_at: dt.datetime | None = None
    revealed_at: dt.datetime | None = None
    provisioned_at: dt.datetime | None = None

    @classmethod
    def from_row(cls, row: dict) -> Request:
        return cls(
            id=row["id"],
            user_name=row["user_name"],
            groups=tuple(json.loads(row["groups"])),
            console=bool(row["console"]),
            owner_id=row["owner_id"],
            requester_id=row["requester_id"],
            team_id=row["team_id"] or "",
            state=row["state"],
            created_at=_parse_time(row["created_at"]),
            updated_at=_parse_time(row["updated_at"]),
            decider_id=row["decider_id"],
            decided_at=_parse_time(row["decided_at"]),
            deny_reason=row["deny_reason"],
            steps_done=tuple(json.loads(row["steps_done"] or "[]")),
            failure=row["failure"],
            user_arn=row["user_arn"],
            card_channel=row["card_channel"],
            card_ts=row["card_ts"],
            dm_channel=row["dm_channel"],
            dm_ts=row["dm_ts"],
            reveal_claimed_at=_parse_time(row["reveal_claimed_at"]),
            revealed_at=_parse_time(row["revealed_at"]),
            provisioned_at=_parse_time(row["provisioned_at"]),
        )


@dataclass(frozen=True)
class Event:
    id: int
    request_id: int | None
    actor_id: str | None
    what: str
    detail: str | None
    at: dt.datetime


@dataclass
class _Local(threading.local):
    db: Database | None = None
    extra: dict = field(default_factory=dict)


def _format_time(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("times in the store are timezone-aware")
    return value.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")


def _parse_time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


# Columns a transition may change besides `state`; the store refuses anything else.
_CHANGEABLE = {
    "decider_id", "decided_at", "deny_reason", "failure", "user_arn", "reveal_claimed_at",
    "revealed_at", "provisioned_at", "steps_done",
}
_TIME_COLUMNS = {"decided_at", "reveal_claimed_at", "revealed_at", "provisioned_at"}


def path_from_url(url: str) -> str:
    """`sqlite:///relative.db` or `sqlite:////abs/path.db` -> a file path."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise ValueError("must look like sqlite:///path/to/file.db")
    return url[len(prefix):]


class Store:
    """Requests and events in one SQLite file, safe to share between threads."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        self._local = _Local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        migrations.apply(self._db())

    # -- connections -------------------------------------------------------------------

    def _db(self) -> Database:
        if self._local.db is None:
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
            )
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_SECONDS * 1000}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            self._local.db = Database(conn, execute_plugins=False)
            with self._all_lock:
                self._all.append(conn)
        return self._local.db

    def close(self) -> None:
        with self._all_lock:
            for conn in self._all:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._all.clear()
        self._local = _Local()

    @contextlib.contextmanager
    def _immediate(self) -> Iterator[Database]:
        """A write transaction that takes SQLite's write lock up front (BEGIN IMMEDIATE)."""
        db = self._db()
        db.conn.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            if db.conn.in_transaction:
                db.conn.execute("ROLLBACK")
            raise
        else:
            db.conn.execute("COMMIT")

    # -- requests ----------------------------------------------------------------------

    def file_request(
        self,
        *,
        user_name: str,
        groups: Iterable[str],
        console: bool,
        owner_id: str,
        requester_id: str,
        team_id: str,
        now: dt.datetime,
    ) -> Request:
        """Store a new pending request and its `filed` event, or raise DuplicateRequest."""
        key = user_name.lower()
        with self._immediate() as db:
            live = db.execute(
                "SELECT id FROM requests WHERE user_name_key = ? AND state IN (?, ?, ?)",
                [key, *LIVE_STATES],
            ).fetchone()
            if live:
                raise DuplicateRequest(live[0])
            stamp = _format_time(now)
            cursor = db.execute(
                "INSERT INTO requests (user_name, user_name_key, groups, console, owner_id, "
                "requester_id, team_id, state, created_at, updated_at, steps_done) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '[]')",
                [user_name, key, json.dumps(list(groups)), int(console), owner_id, requester_id,
                 team_id, PENDING, stamp, stamp],
            )
            request_id = cursor.lastrowid
            self._insert_event(db, request_id, requester_id, "filed", None, now)
        return self.get(request_id)

    def get(self, request_id: int) -> Request:
        rows = self._select("SELECT * FROM requests WHERE id = ?", [request_id])
        if not rows:
            raise RequestNotFound(f"no request #{request_id}")
        return Request.from_row(rows[0])

    def find(self, request_id: int) -> Request | None:
        try:
            return self.get(request_id)
        except RequestNotFound:
            return None

    def in_states(self, states: Iterable[str]) -> list[Request]:
        states = list(states)
        marks = ", ".join("?" for _ in states)
        rows = self._select(f"SELECT * FROM requests WHERE state IN ({marks}) ORDER BY id", states)
        return [Request.from_row(row) for row in rows]

    def for_owner(self, owner_id: str) -> list[Request]:
        rows = self._select("SELECT * FROM requests WHERE owner_id = ? ORDER BY id", [owner_id])
        return [Request.from_row(row) for row in rows]

    def transition(
        self,
        request_id: int,
        *,
        from_states: Iterable[str],
        to_state: str,
        actor_id: str | None,
        what: str,
        now: dt.datetime,
        detail: str | None = None,
        **changes,
    ) -> Request | None:
        """Move a request to `to_state` if, and only if, it is in one of `from_states`.

        Returns the updated request, or None when another click, thread or process got
        there first (or the request was never in those states). The winning transition
        and its event are written in one transaction.
        """
        unknown = set(changes) - _CHANGEABLE
        if unknown:
            raise ValueError(f"the store does not change {sorted(unknown)}")
        from_states = list(from_states)
        values = {
            key: (_format_time(value) if key in _TIME_COLUMNS else value)
            for key, value in changes.items()
        }
        if "steps_done" in values:
            values["steps_done"] = json.dumps(list(values["steps_done"]))
        sets = ", ".join(f"{column} = ?" for column in values)
        sets = f"state = ?, updated_at = ?{', ' if sets else ''}{sets}"
        marks = ", ".join("?" for _ in from_states)
        with self._immediate() as db:
            cursor = db.execute(
                f"UPDATE requests SET {sets} WHERE id = ? AND state IN ({marks})",
                [to_state, _format_time(now), *values.values(), request_id, *from_states],
            )
            if cursor.rowcount != 1:
                return None
            self._insert_event(db, request_id, actor_id, what, detail, now)
        return self.get(request_id)

    def record_step(self, request_id: int, step: str, *, now: dt.datetime, detail: str | None = None,
                    user_arn: str | None = None) -> Request:
        """Note that a provisioning step finished, so that a restart resumes after it."""
        with self._immediate() as db:
            row = db.execute(
                "SELECT steps_done FROM requests WHERE id = ? AND state = ?", [request_id, APPROVED]
            ).fetchone()
            if row is None:
                raise StoreError(f"request #{request_id} is not being provisioned")
            steps = json.loads(row[0] or "[]")
            if step not in steps:
                steps.append(step)
            db.execute(
                "UPDATE requests SET steps_done = ?, updated_at = ?, user_arn = COALESCE(?, user_arn) "
                "WHERE id = ?",
                [json.dumps(steps), _format_time(now), user_arn, request_id],
            )
            self._insert_event(db, request_id, None, f"step:{step}", detail, now)
        return self.get(request_id)

    def set_card(self, request_id: int, channel: str, ts: str) -> None:
        self._db().execute(
            "UPDATE requests SET card_channel = ?, card_ts = ? WHERE id = ?", [channel, ts, request_id]
        )

    def set_dm(self, request_id: int, channel: str, ts: str) -> None:
        self._db().execute(
            "UPDATE requests SET dm_channel = ?, dm_ts = ? WHERE id = ?", [channel, ts, request_id]
        )

    # -- events ------------------------------------------------------------------------

    def append_event(self, request_id: int | None, actor_id: str | None, what: str,
                     now: dt.datetime, detail: str | None = None) -> None:
        with self._immediate() as db:
            self._insert_event(db, request_id, actor_id, what, detail, now)

    def events(self, request_id: int | None = None) -> list[Event]:
        if request_id is None:
            rows = self._db().execute("SELECT id, request_id, actor_id, what, detail, at FROM events ORDER BY id")
        else:
            rows = self._db().execute(
                "SELECT id, request_id, actor_id, what, detail, at FROM events WHERE request_id = ? ORDER BY id",
                [request_id],
            )
        return [Event(r[0], r[1], r[2], r[3], r[4], _parse_time(r[5])) for r in rows.fetchall()]

    @staticmethod
    def _insert_event(db: Database, request_id, actor_id, what, detail, now) -> None:
        db.execute(
            "INSERT INTO events (request_id, actor_id, what, detail, at) VALUES (?, ?, ?, ?, ?)",
            [request_id, actor_id, what, detail, _format_time(now)],
        )

    def _select(self, sql: str, params: list) -> list[dict]:
        cursor = self._db().execute(sql, params)
        names = [description[0] for description in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]
