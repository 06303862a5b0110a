"""The request store: requests, their append-only event log, durable jobs and leases.

Everything outside this package speaks to the database only through `Store`, in domain words
(file a request, claim a transition, record a step, append an event, claim a job), so that
SQLite and PostgreSQL can take each other's place. The domain logic and nearly all SQL live
here, once; `SQLiteStore` and `PostgresStore` supply connections, transactions and the few
words in which the two databases differ.

Every state change is a conditional write (`UPDATE ... WHERE state IN (...) RETURNING`) inside
one transaction, so two clicks, threads, processes or replicas can never both win; whatever a
winning write owes (its event, its jobs) is written in that same transaction.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .reviews import ReviewMethods
from .trail import TrailMethods

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
# The IAM user a request made (or reset) was removed since by a `remove` request: no longer live.
REMOVED = "removed"
LIVE_STATES = (PENDING, APPROVED, PROVISIONED)
# The bot created the IAM user and it went to its owner.
PROVISIONED_STATES = (PROVISIONED, REVEALING, REVEALED, REVEAL_EXPIRED)

# How many rows a duty reads at a time: its batches are separate reads, so acks get their turn
# between them (SQLite holds its process-wide lock while a read's rows are fetched).
DUE_BATCH = 200

CREATE_USER = "create_user"
# A `remove` request is done once provisioned: it no longer holds its user name (see migrations 003).
REMOVE = "remove"
# `/iam add` and an extension of its grant: several may be open for one user (see migrations 009).
GROUP_ADD = "group_add"
GROUP_EXTEND = "group_extend"
# `/iam drop` of a group whose policies hold a Deny: approved like an add (see migrations m013).
GROUP_DROP = "group_drop"
LAST_ERROR_LIMIT = 500
# Why a key is held inactive (see `KeyHold`).
HOLD_APPROVER = "approver"  # an approver deactivated it
HOLD_DISABLE = "disable"  # its user was disabled: an approved `--disable-only`, or a leaver's at once


class StoreError(Exception):
    "Something the store was asked cannot be done"


class StoreUnavailable(StoreError):
    "The database cannot be reached now; nothing was read or written"


class RequestNotFound(StoreError):
    "No request with that id"


class DuplicateRequest(StoreError):
    "A live request for the same IAM user name already exists"

    def __init__(self, existing_id: int):
        super().__init__(f"request #{existing_id} is already open for that user name")
        self.existing_id = existing_id


class Conflict(StoreError):
    "A write broke a unique rule of the schema"


class _Lost(Exception):
    "A conditional write lost to another transaction: roll back what this one wrote"


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
    kind: str = CREATE_USER
    details: dict = field(default_factory=dict)
    account: str | None = None  # the `[[account]]` it is about; None: the default (the bot's own)


@dataclass(frozen=True)
class Event:
    id: int
    request_id: int | None
    actor_id: str | None
    what: str
    detail: str | None
    at: dt.datetime


@dataclass(frozen=True)
class KeyHold:
    """An access key made inactive by someone other than its owner: an approver's deactivate, or
    the disable of its user. While the key stays inactive only an approver (or, for a disable, an
    approved `enable`) may bring it back."""

    key_id: str
    user_name: str
    cause: str  # HOLD_APPROVER or HOLD_DISABLE
    actor_id: str | None
    request_id: int | None  # the disabling request, or the request that issued the key
    at: dt.datetime


@dataclass(frozen=True)
class Grant:
    """One group of one approved `/iam add`: from AddUserToGroup (`started_at`) until `ends_at`;
    `ended_at` once it ended (`end_reason`: removed, kept, done, dropped, user_removed); the
    revoker's failed attempts at RemoveUserFromGroup, when it tries next, whether the approvals
    channel was told, and whether an approver stopped the retries."""

    id: int
    request_id: int
    user_name: str
    group: str
    started_at: dt.datetime
    ends_at: dt.datetime
    ended_at: dt.datetime | None = None
    end_reason: str | None = None
    attempts: int = 0
    next_try_at: dt.datetime | None = None
    told: bool = False
    stopped: bool = False
    warned: bool = False

    @property
    def live(self) -> bool:
        return self.ended_at is None


@dataclass(frozen=True)
class NewJob:
    """Work to write down now and do later, at most once at a time: a DM the bot owes a person,
    a step that must survive a crash. A `key` makes enqueueing idempotent."""

    kind: str
    payload: dict = field(default_factory=dict)
    key: str | None = None
    due_at: dt.datetime | None = None


@dataclass(frozen=True)
class Gauges:
    """The store's side of the metrics: pending requests by kind, jobs due and not done, and
    the due time of the oldest of those (None when there is none)."""

    pending: dict[str, int]
    jobs_due: int
    oldest_due_at: dt.datetime | None


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    request_id: int | None
    key: str | None
    payload: dict
    due_at: dt.datetime
    attempts: int
    claimed_by: str | None
    claimed_until: dt.datetime | None
    done_at: dt.datetime | None
    last_error: str | None
    created_at: dt.datetime


# Columns a transition may change besides `state`; the store refuses anything else.
_CHANGEABLE = {
    "decider_id", "decided_at", "deny_reason", "failure", "user_arn", "reveal_claimed_at",
    "revealed_at", "provisioned_at", "steps_done", "details", "key_attempt_at",
}
_TIME_COLUMNS = {"decided_at", "reveal_claimed_at", "revealed_at", "provisioned_at", "key_attempt_at"}


def marks(values: Sequence) -> str:
    return ", ".join("?" for _ in values)


class Tx:
    """One transaction (or one read) on one connection: run SQL written with `?` marks."""

    def __init__(self, run: Callable[[str, Sequence], tuple[list[dict], int]]):
        self._run = run

    def rows(self, sql: str, params: Sequence = ()) -> list[dict]:
        return self._run(sql, params)[0]

    def one(self, sql: str, params: Sequence = ()) -> dict | None:
        rows = self.rows(sql, params)
        return rows[0] if rows else None

    def count(self, sql: str, params: Sequence = ()) -> int:
        """Run a write; how many rows it changed."""
        return self._run(sql, params)[1]


class Store(TrailMethods, ReviewMethods):
    """The store's interface and its logic; subclasses say how to reach their database.
    (The trail's export and live stream: storage/trail.py; access reviews: storage/reviews.py.)"""

    # The words in which the databases differ, filled in by each backend.
    FOR_UPDATE = ""  # row lock taken by a read that a write in the same transaction depends on
    SKIP_LOCKED = ""  # rows another transaction is claiming are passed over, not waited for

    # -- what a backend provides ---------------------------------------------------------

    def _write(self, urgent: bool = False) -> contextlib.AbstractContextManager[Tx]:
        """A transaction that commits at the end of the block and rolls back on an error.

        `urgent`: someone is waiting for it (a slash command's ack); where writes queue, it goes first.
        """
        raise NotImplementedError

    def _read(self) -> contextlib.AbstractContextManager[Tx]:
        raise NotImplementedError

    def _time_in(self, value: dt.datetime | None) -> Any:
        raise NotImplementedError

    def _time_out(self, value: Any) -> dt.datetime | None:
        raise NotImplementedError

    def _json_in(self, value: Any) -> Any:
        raise NotImplementedError

    def _json_out(self, value: Any) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def _heartbeat_sql(self) -> str:
        return (
            "INSERT INTO heartbeat (id, beats, at) VALUES (1, 1, ?) "
            "ON CONFLICT (id) DO UPDATE SET beats = heartbeat.beats + 1, at = excluded.at RETURNING beats"
        )

    def check(self) -> None:
        """Raise StoreError unless the database can be read and written right now."""
        with self._write() as tx:
            row = tx.one(self._heartbeat_sql(), [self._time_in(dt.datetime.now(dt.timezone.utc))])
        if row is None:
            raise StoreError("the database did not record a heartbeat")

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
        kind: str = CREATE_USER,
        details: dict | None = None,
        jobs: Iterable[NewJob] = (),
        account: str | None = None,
    ) -> Request:
        """Store a new pending request, its `filed` event and its jobs, or raise DuplicateRequest.
        `account`: the `[[account]]` it is about (None: the default)."""
        key = user_name.lower()
        stamp = self._time_in(now)
        try:
            with self._write() as tx:
                # The account column only when there is one: the default account's row is as before.
                with_account = ", account" if account else ""
                row = tx.one(
                    "INSERT INTO requests (user_name, user_name_key, groups, console, owner_id, requester_id, "
                    f"team_id, state, created_at, updated_at, steps_done, kind, details{with_account}) "
                    f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?{', ?' if account else ''}) RETURNING *",
                    [user_name, key, self._json_in(list(groups)), bool(console), owner_id, requester_id, team_id,
                     PENDING, stamp, stamp, self._json_in([]), kind, self._json_in(dict(details or {})),
                     *([account] if account else [])],
                )
                self._insert_event(tx, row["id"], requester_id, "filed", None, now)
                self._insert_jobs(tx, jobs, now=now, request_id=row["id"])
        except Conflict:
            raise DuplicateRequest(self._live_id(key, kind, account or "")) from None
        return self._request(row)

    def _live_id(self, key: str, kind: str = CREATE_USER, account: str = "") -> int:
        """The live request of this kind for this name in this account: one per name, kind and
        account (a done removal is not live)."""
        with self._read() as tx:
            row = tx.one(
                f"SELECT id FROM requests WHERE user_name_key = ? AND kind = ? AND state IN ({marks(LIVE_STATES)}) "
                "AND NOT (kind = ? AND state = ?)" + (" AND account = ?" if account else "") + " ORDER BY id",
                [key, kind, *LIVE_STATES, REMOVE, PROVISIONED, *([account] if account else [])],
            )
        return row["id"] if row else 0

    def get(self, request_id: int) -> Request:
        with self._read() as tx:
            row = tx.one("SELECT * FROM requests WHERE id = ?", [request_id])
        if row is None:
            raise RequestNotFound(f"no request #{request_id}")
        return self._request(row)

    def find(self, request_id: int) -> Request | None:
        try:
            return self.get(request_id)
        except RequestNotFound:
            return None

    def in_states(self, states: Iterable[str]) -> list[Request]:
        states = list(states)
        if not states:
            return []
        with self._read() as tx:
            rows = tx.rows(f"SELECT * FROM requests WHERE state IN ({marks(states)}) ORDER BY id", states)
        return [self._request(row) for row in rows]

    def for_owner(self, owner_id: str) -> list[Request]:
        with self._read() as tx:
            rows = tx.rows("SELECT * FROM requests WHERE owner_id = ? ORDER BY id", [owner_id])
        return [self._request(row) for row in rows]

    def for_user_name(self, user_name: str) -> list[Request]:
        """Every request about this IAM user name, in any case, oldest first."""
        with self._read() as tx:
            rows = tx.rows("SELECT * FROM requests WHERE user_name_key = ? ORDER BY id", [user_name.lower()])
        return [self._request(row) for row in rows]

    def holding_requests(self, user_name: str) -> list[Request]:
        """The requests that may hold memberships of this IAM user name for good (a create made, an
        add done), oldest first: `/iam status` reads them when older requests are not shown."""
        kinds, states = [CREATE_USER, GROUP_ADD], list(PROVISIONED_STATES)
        with self._read() as tx:
            rows = tx.rows(f"SELECT * FROM requests WHERE user_name_key = ? AND kind IN ({marks(kinds)}) "
                           f"AND state IN ({marks(states)}) ORDER BY id", [user_name.lower(), *kinds, *states])
        return [self._request(row) for row in rows]

    def unsettled_key_attempts(self, *, limit: int) -> list[Request]:
        """Requests whose CreateAccessKey was attempted, whose key id was never written down, and
        which no reveal claim holds (released, or expired since), oldest attempt first.

        Read from the partial index `requests_key_attempts` alone, which holds only attempts not
        yet settled: a state condition in SQL would tempt SQLite into the state index, whose
        `reveal_expired` part grows with every past request. The claims still held are few."""
        with self._read() as tx:
            rows = tx.rows("SELECT * FROM requests WHERE key_attempt_at IS NOT NULL "
                           "ORDER BY key_attempt_at, id LIMIT ?", [limit])
        return [self._request(row) for row in rows if row["state"] in (PROVISIONED, REVEAL_EXPIRED)]

    def for_requester(self, requester_id: str) -> list[Request]:
        with self._read() as tx:
            rows = tx.rows("SELECT * FROM requests WHERE requester_id = ? ORDER BY id", [requester_id])
        return [self._request(row) for row in rows]

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
        jobs: Iterable[NewJob] = (),
        guard: Callable[[Request], bool] | None = None,
        due: dict[str, dt.datetime | None] | None = None,
        **changes,
    ) -> Request | None:
        """Move a request to `to_state` if, and only if, it is in one of `from_states`.

        Returns the updated request, or None when another click, thread or process got
        there first (or the request was never in those states). The winning transition,
        its event and its jobs are written in one transaction; a losing one writes nothing.
        With a `guard`, the request as it is inside that transaction (row locked) must also
        pass it: a write that depends on what was read (its `details`) cannot lose or double
        another's change. `due` sets (a time) or clears (None) the request's due entries by duty
        name, in the same transaction (see `each_due`).
        """
        unknown = set(changes) - _CHANGEABLE
        if unknown:
            raise ValueError(f"the store does not change {sorted(unknown)}")
        from_states = list(from_states)
        if not from_states:
            return None
        values = {}
        for column, value in changes.items():
            if column in _TIME_COLUMNS:
                value = self._time_in(value)
            elif column == "steps_done":
                value = self._json_in(list(value))
            elif column == "details":
                value = self._json_in(dict(value or {}))
            values[column] = value
        sets = "".join(f", {column} = ?" for column in values)
        try:
            with self._write() as tx:
                if guard is not None:
                    current = tx.one(f"SELECT * FROM requests WHERE id = ?{self.FOR_UPDATE}", [request_id])
                    if current is None or not guard(self._request(current)):
                        return None
                row = tx.one(
                    f"UPDATE requests SET state = ?, updated_at = ?{sets} "
                    f"WHERE id = ? AND state IN ({marks(from_states)}) RETURNING *",
                    [to_state, self._time_in(now), *values.values(), request_id, *from_states],
                )
                if row is None:
                    return None
                self._insert_event(tx, request_id, actor_id, what, detail, now)
                self._insert_jobs(tx, jobs, now=now, request_id=request_id)
                self._set_due(tx, request_id, due)
        except Conflict:
            # Only the one-live-request-per-name rule can refuse a state change.
            request = self.get(request_id)
            raise DuplicateRequest(self._live_id(request.user_name.lower(), request.kind, request.account or "")) from None
        return self._request(row)

    def revise(self, request_id: int, *, state: str, expected: dict, details: dict, actor_id: str | None,
               what: str, now: dt.datetime, detail: str | None = None, jobs: Iterable[NewJob] = ()) -> Request | None:
        """Replace a request's `details`, staying in `state`, if and only if they are still `expected`
        (what the caller read): a compare-and-swap, so of two writers deciding from the same
        reading (two runners sending one reminder) exactly one wins. Its event and jobs are written
        with it; None when the request moved on or someone else changed its details first."""
        with self._write() as tx:
            current = tx.one(f"SELECT details FROM requests WHERE id = ? AND state = ?{self.FOR_UPDATE}",
                             [request_id, state])
            if current is None or dict(self._json_out(current["details"]) or {}) != dict(expected):
                return None
            row = tx.one(
                "UPDATE requests SET details = ?, updated_at = ? WHERE id = ? AND state = ? RETURNING *",
                [self._json_in(dict(details)), self._time_in(now), request_id, state],
            )
            self._insert_event(tx, request_id, actor_id, what, detail, now)
            self._insert_jobs(tx, jobs, now=now, request_id=request_id)
        return self._request(row)

    def about_user(self, user_name: str, *, owner_id: str | None = None, newest: int | None = None) -> list[Request]:
        """Requests about this IAM user name, ignoring case, oldest first: only `owner_id`'s if
        given, only the `newest` so many if given."""
        where, params = self._about(user_name, owner_id)
        limit = "" if newest is None else f" LIMIT {int(newest)}"
        with self._read() as tx:
            rows = tx.rows(f"SELECT * FROM requests WHERE {where} ORDER BY id DESC{limit}", params)
        return [self._request(row) for row in reversed(rows)]

    def requested_since(self, requester_id: str, since: dt.datetime, *, kind: str) -> list[Request]:
        """This person's requests of this kind filed since `since` (the index requests_requester_id:
        as many rows as they asked for)."""
        with self._read() as tx:
            rows = tx.rows("SELECT * FROM requests WHERE requester_id = ? AND kind = ? AND created_at >= ? ORDER BY id",
                           [requester_id, kind, self._time_in(since)])
        return [self._request(row) for row in rows]

    def count_about_user(self, user_name: str, *, owner_id: str | None = None) -> int:
        where, params = self._about(user_name, owner_id)
        with self._read() as tx:
            return tx.one(f"SELECT COUNT(*) AS n FROM requests WHERE {where}", params)["n"]

    @staticmethod
    def _about(user_name: str, owner_id: str | None) -> tuple[str, list]:
        if owner_id is None:
            return "user_name_key = ?", [user_name.lower()]
        return "user_name_key = ? AND owner_id = ?", [user_name.lower(), owner_id]

    def users_made(self, among: Iterable[str]) -> set[str]:
        """Which of these ARNs are IAM users the bot created (a create request that ran its CreateUser)."""
        arns, made = sorted(set(among)), set()
        for start in range(0, len(arns), DUE_BATCH):
            chunk = arns[start:start + DUE_BATCH]
            with self._read() as tx:
                rows = tx.rows(f"SELECT DISTINCT user_arn FROM requests WHERE user_arn IN ({marks(chunk)}) "
                               "AND kind = ?", [*chunk, CREATE_USER])
            made.update(row["user_arn"] for row in rows)
        return made

    def key_issued(self, key_id: str) -> Request | None:
        """The access-key request that made this key, if the bot made it (an indexed look-up)."""
        with self._read() as tx:
            row = tx.one(f"SELECT * FROM requests WHERE {self._detail('key_id')} = ? AND kind = ? "
                         "ORDER BY id LIMIT 1", [key_id, "access_key"])
        return self._request(row) if row else None

    def _detail(self, name: str) -> str:
        """SQL for one text field of `details`, written exactly as its expression index is."""
        raise NotImplementedError

    # -- due work ----------------------------------------------------------------------
    # A periodic duty never looks through requests for what might be due: the transition that
    # makes something due writes a due entry (duty, request, when) with it, the duty reads the
    # entries whose time has come, in bounded batches, and each pass moves an entry later or
    # clears it. A request with nothing left to do has no entry and is never read by a duty.

    def each_due(self, duty: str, *, now: dt.datetime, batch: int = DUE_BATCH) -> Iterator[Request]:
        """The requests whose `duty` entry is due by `now`, earliest first, read `batch` at a time
        (each batch its own read, so nothing is held while the duty works on them). An entry the
        duty leaves due is not read again in the same pass."""
        after: tuple[Any, int] | None = None
        while True:
            where, params = "d.duty = ? AND d.due_at <= ?", [duty, self._time_in(now)]
            if after is not None:
                where += " AND (d.due_at > ? OR (d.due_at = ? AND d.request_id > ?))"
                params += [after[0], after[0], after[1]]
            with self._read() as tx:
                rows = tx.rows(
                    "SELECT d.due_at AS due_entry_at, r.* FROM duties_due d JOIN requests r ON r.id = d.request_id "
                    f"WHERE {where} ORDER BY d.due_at, d.request_id LIMIT ?", [*params, int(batch)])
            for row in rows:
                yield self._request(row)
            if len(rows) < batch:
                return
            after = (rows[-1]["due_entry_at"], rows[-1]["id"])

    def set_due(self, request_id: int, due: dict[str, dt.datetime | None]) -> None:
        """Move due entries of a request (None clears one) outside any transition."""
        with self._write() as tx:
            self._set_due(tx, request_id, due)

    def due_at(self, request_id: int) -> dict[str, dt.datetime]:
        """A request's due entries by duty name (for tests and the shell)."""
        with self._read() as tx:
            rows = tx.rows("SELECT duty, due_at FROM duties_due WHERE request_id = ?", [request_id])
        return {row["duty"]: self._time_out(row["due_at"]) for row in rows}

    def _set_due(self, tx: Tx, request_id: int | None, due: dict[str, dt.datetime | None] | None) -> None:
        for duty, when in (due or {}).items():
            if request_id is None:
                raise ValueError("a due entry belongs to a request")
            if when is None:
                tx.count("DELETE FROM duties_due WHERE duty = ? AND request_id = ?", [duty, request_id])
            else:
                tx.count("INSERT INTO duties_due (duty, request_id, due_at) VALUES (?, ?, ?) "
                         "ON CONFLICT (duty, request_id) DO UPDATE SET due_at = excluded.due_at",
                         [duty, request_id, self._time_in(when)])

    # -- grants (`/iam add --for`) -------------------------------------------------------

    def start_grant(self, request_id: int, user_name: str, group: str, *, started_at: dt.datetime,
                    ends_at: dt.datetime, due: dict[str, dt.datetime | None] | None = None) -> Grant:
        """Write a grant down once its membership is in place (again after a crash: the first stays)."""
        with self._write() as tx:
            tx.count(
                "INSERT INTO grants (request_id, user_name, user_key, group_name, group_key, started_at, ends_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (request_id, group_key) DO NOTHING",
                [request_id, user_name, user_name.lower(), group, group.lower(), self._time_in(started_at),
                 self._time_in(ends_at)])
            row = tx.one("SELECT * FROM grants WHERE request_id = ? AND group_key = ?", [request_id, group.lower()])
            self._set_due(tx, request_id, due)
        return self._grant(row)

    def grant(self, grant_id: int) -> Grant | None:
        with self._read() as tx:
            row = tx.one("SELECT * FROM grants WHERE id = ?", [grant_id])
        return self._grant(row) if row else None

    def grants_of(self, request_id: int) -> list[Grant]:
        with self._read() as tx:
            rows = tx.rows("SELECT * FROM grants WHERE request_id = ? ORDER BY id", [request_id])
        return [self._grant(row) for row in rows]

    def live_grants(self, user_name: str, group: str | None = None) -> list[Grant]:
        """The user's grants not yet ended (of one group, or of all), from the partial index."""
        where, params = "user_key = ? AND ended_at IS NULL", [user_name.lower()]
        if group is not None:
            where, params = where + " AND group_key = ?", [*params, group.lower()]
        with self._read() as tx:
            rows = tx.rows(f"SELECT * FROM grants WHERE {where} ORDER BY id", params)
        return [self._grant(row) for row in rows]

    def grant_groups_since(self, since: dt.datetime) -> list[str]:
        """The groups (as the grants name them) with a grant live now or ended since `since`: from
        the live grants' partial index and the ended grants' index on `ended_at`."""
        with self._read() as tx:
            rows = tx.rows("SELECT DISTINCT group_name FROM grants WHERE ended_at IS NULL", [])
            rows += tx.rows("SELECT DISTINCT group_name FROM grants WHERE ended_at >= ?", [self._time_in(since)])
        seen: dict[str, str] = {}
        for row in rows:
            seen.setdefault(row["group_name"].lower(), row["group_name"])
        return sorted(seen.values())

    def group_grants_since(self, group: str, since: dt.datetime) -> list[Grant]:
        """A group's grants live now or ended since `since`, oldest first."""
        with self._read() as tx:
            rows = tx.rows("SELECT * FROM grants WHERE group_key = ? AND ended_at IS NULL ORDER BY id",
                           [group.lower()])
            rows += tx.rows("SELECT * FROM grants WHERE group_key = ? AND ended_at >= ? ORDER BY id",
                            [group.lower(), self._time_in(since)])
        return sorted((self._grant(row) for row in rows), key=lambda grant: grant.id)

    def report_outside_member(self, group: str, user_name: str, *, now: dt.datetime, detail: str,
                              jobs: Iterable[NewJob] = ()) -> bool:
        """Note a member of `group` added outside the bot, with its event and jobs, once: False if it
        was noted before (and not forgotten since)."""
        with self._write() as tx:
            row = tx.one("INSERT INTO outside_members (group_key, user_key, reported_at) VALUES (?, ?, ?) "
                         "ON CONFLICT (group_key, user_key) DO NOTHING RETURNING user_key",
                         [group.lower(), user_name.lower(), self._time_in(now)])
            if row is None:
                return False
            self._insert_event(tx, None, None, "outside_member", detail, now)
            self._insert_jobs(tx, jobs, now=now, request_id=None)
        return True

    def forget_outside_members(self, group: str, present: Iterable[str]) -> int:
        """Forget the reported members of `group` who are no longer in it (if one comes back, it is
        reported again)."""
        present = {name.lower() for name in present}
        with self._write() as tx:
            rows = tx.rows("SELECT user_key FROM outside_members WHERE group_key = ?", [group.lower()])
            gone = [row["user_key"] for row in rows if row["user_key"] not in present]
            for user_key in gone:
                tx.count("DELETE FROM outside_members WHERE group_key = ? AND user_key = ?", [group.lower(), user_key])
        return len(gone)

    def end_grant(self, grant_id: int, *, now: dt.datetime, reason: str, actor_id: str | None, what: str,
                  detail: str | None = None, jobs: Iterable[NewJob] = (),
                  due: dict[str, dt.datetime | None] | None = None) -> Grant | None:
        """End a live grant, with its event and jobs, in one transaction; None if it had ended."""
        return self._change_grant("ended_at = ?, end_reason = ?, next_try_at = NULL", [self._time_in(now), reason],
                                  "", [], grant_id, now=now, actor_id=actor_id, what=what, detail=detail, jobs=jobs,
                                  due=due)

    def grant_attempt_failed(self, grant: Grant, *, now: dt.datetime, next_try_at: dt.datetime, detail: str,
                             tell: Iterable[NewJob] = ()) -> Grant | None:
        """A failed RemoveUserFromGroup: one more attempt than `grant` had, the next try, its event and
        `tell` (the approvals channel's note, given once); None if another pass counted it first."""
        tell = list(tell)
        return self._change_grant("attempts = attempts + 1, next_try_at = ?, told = (told OR ?)",
                                  [self._time_in(next_try_at), bool(tell)], " AND attempts = ?", [grant.attempts],
                                  grant.id, now=now, actor_id=None, what="revoke_failed", detail=detail, jobs=tell)

    def revise_grant(self, grant_id: int, *, now: dt.datetime, actor_id: str | None, what: str,
                     detail: str | None = None, ends_at: dt.datetime | None = None, stopped: bool | None = None,
                     warned: bool | None = None, jobs: Iterable[NewJob] = (),
                     due: dict[str, dt.datetime | None] | None = None) -> Grant | None:
        """Change a live grant (a new end, retries stopped, the warning sent), with its event."""
        changes = {column: value for column, value in (("ends_at", self._time_in(ends_at) if ends_at else None),
                                                       ("stopped", stopped), ("warned", warned)) if value is not None}
        return self._change_grant(", ".join(f"{column} = ?" for column in changes), list(changes.values()), "", [],
                                  grant_id, now=now, actor_id=actor_id, what=what, detail=detail, jobs=jobs, due=due)

    def _change_grant(self, sets: str, params: list, condition: str, condition_params: list, grant_id: int, *,
                      now: dt.datetime, actor_id: str | None, what: str, detail: str | None,
                      jobs: Iterable[NewJob] = (), due: dict[str, dt.datetime | None] | None = None) -> Grant | None:
        """One conditional write to a live grant, with its event, jobs and due entries; None if it lost."""
        with self._write() as tx:
            row = tx.one(f"UPDATE grants SET {sets} WHERE id = ? AND ended_at IS NULL{condition} RETURNING *",
                         [*params, grant_id, *condition_params])
            if row is None:
                return None
            self._insert_event(tx, row["request_id"], actor_id, what, detail, now)
            self._insert_jobs(tx, jobs, now=now, request_id=row["request_id"])
            self._set_due(tx, row["request_id"], due)
        return self._grant(row)

    def _grant(self, row: dict) -> Grant:
        time = self._time_out
        return Grant(id=row["id"], request_id=row["request_id"], user_name=row["user_name"], group=row["group_name"],
                     started_at=time(row["started_at"]), ends_at=time(row["ends_at"]), ended_at=time(row["ended_at"]),
                     end_reason=row["end_reason"], attempts=row["attempts"], next_try_at=time(row["next_try_at"]),
                     told=bool(row["told"]), stopped=bool(row["stopped"]), warned=bool(row["warned"]))

    def record_step(self, request_id: int, step: str, *, now: dt.datetime, detail: str | None = None,
                    user_arn: str | None = None, jobs: Iterable[NewJob] = ()) -> Request:
        """Note that a provisioning step finished, so that a restart resumes after it."""
        with self._write() as tx:
            row = tx.one(
                f"SELECT steps_done FROM requests WHERE id = ? AND state = ?{self.FOR_UPDATE}", [request_id, APPROVED]
            )
            if row is None:
                raise StoreError(f"request #{request_id} is not being provisioned")
            steps = list(self._json_out(row["steps_done"]) or [])
            if step not in steps:
                steps.append(step)
            row = tx.one(
                "UPDATE requests SET steps_done = ?, updated_at = ?, user_arn = COALESCE(?, user_arn) "
                "WHERE id = ? RETURNING *",
                [self._json_in(steps), self._time_in(now), user_arn, request_id],
            )
            self._insert_event(tx, request_id, None, f"step:{step}", detail, now)
            self._insert_jobs(tx, jobs, now=now, request_id=request_id)
        return self._request(row)

    def set_card(self, request_id: int, channel: str, ts: str) -> None:
        with self._write() as tx:
            tx.count("UPDATE requests SET card_channel = ?, card_ts = ? WHERE id = ?", [channel, ts, request_id])

    def set_dm(self, request_id: int, channel: str, ts: str) -> None:
        with self._write() as tx:
            tx.count("UPDATE requests SET dm_channel = ?, dm_ts = ? WHERE id = ?", [channel, ts, request_id])

    def _request(self, row: dict) -> Request:
        time = self._time_out
        return Request(
            id=row["id"],
            user_name=row["user_name"],
            groups=tuple(self._json_out(row["groups"])),
            console=bool(row["console"]),
            owner_id=row["owner_id"],
            requester_id=row["requester_id"],
            team_id=row["team_id"] or "",
            state=row["state"],
            created_at=time(row["created_at"]),
            updated_at=time(row["updated_at"]),
            decider_id=row["decider_id"],
            decided_at=time(row["decided_at"]),
            deny_reason=row["deny_reason"],
            steps_done=tuple(self._json_out(row["steps_done"]) or ()),
            failure=row["failure"],
            user_arn=row["user_arn"],
            card_channel=row["card_channel"],
            card_ts=row["card_ts"],
            dm_channel=row["dm_channel"],
            dm_ts=row["dm_ts"],
            reveal_claimed_at=time(row["reveal_claimed_at"]),
            revealed_at=time(row["revealed_at"]),
            provisioned_at=time(row["provisioned_at"]),
            kind=row["kind"],
            details=dict(self._json_out(row["details"]) or {}),
            account=row.get("account") or None,
        )

    # -- events ------------------------------------------------------------------------

    def append_event(self, request_id: int | None, actor_id: str | None, what: str,
                     now: dt.datetime, detail: str | None = None, jobs: Iterable[NewJob] = (),
                     due: dict[str, dt.datetime | None] | None = None) -> None:
        with self._write() as tx:
            self._insert_event(tx, request_id, actor_id, what, detail, now)
            self._insert_jobs(tx, jobs, now=now, request_id=request_id)
            self._set_due(tx, request_id, due)

    def events_of(self, request_ids: Iterable[int]) -> dict[int, list[Event]]:
        """The events of several requests in one read, each request's oldest first."""
        ids = sorted(set(request_ids))
        found: dict[int, list[Event]] = {request_id: [] for request_id in ids}
        if ids:
            with self._read() as tx:
                rows = tx.rows("SELECT id, request_id, actor_id, what, detail, at FROM events "
                               f"WHERE request_id IN ({marks(ids)}) ORDER BY id", ids)
            for r in rows:
                found[r["request_id"]].append(
                    Event(r["id"], r["request_id"], r["actor_id"], r["what"], r["detail"], self._time_out(r["at"])))
        return found

    def events(self, request_id: int | None = None) -> list[Event]:
        columns = "SELECT id, request_id, actor_id, what, detail, at FROM events"
        with self._read() as tx:
            if request_id is None:
                rows = tx.rows(f"{columns} ORDER BY id")
            else:
                rows = tx.rows(f"{columns} WHERE request_id = ? ORDER BY id", [request_id])
        return [Event(r["id"], r["request_id"], r["actor_id"], r["what"], r["detail"], self._time_out(r["at"]))
                for r in rows]

    def _insert_event(self, tx: Tx, request_id, actor_id, what, detail, now) -> None:
        tx.count(
            "INSERT INTO events (request_id, actor_id, what, detail, at) VALUES (?, ?, ?, ?, ?)",
            [request_id, actor_id, what, detail, self._time_in(now)],
        )

    # -- key holds -----------------------------------------------------------------------

    def hold_keys(self, holds: Iterable[KeyHold], *, keep_approvers: bool = False) -> None:
        """Write down holds, written before AWS is asked to deactivate the keys: no crash leaves a
        key inactive without its hold, and a hold on a key still active is never read. A key's new
        hold replaces its old one, except that `keep_approvers` keeps an approver's (a disable
        must not turn it into one that an `enable` lifts)."""
        holds = list(holds)
        if not holds:
            return
        keep = " WHERE key_holds.cause <> ?" if keep_approvers else ""
        with self._write() as tx:
            for hold in holds:
                tx.count(
                    "INSERT INTO key_holds (key_id, user_name_key, cause, actor_id, request_id, held_at) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key_id) DO UPDATE SET "
                    "user_name_key = excluded.user_name_key, cause = excluded.cause, actor_id = excluded.actor_id, "
                    f"request_id = excluded.request_id, held_at = excluded.held_at{keep}",
                    [hold.key_id, hold.user_name.lower(), hold.cause, hold.actor_id, hold.request_id,
                     self._time_in(hold.at), *([HOLD_APPROVER] if keep_approvers else [])],
                )

    def key_hold(self, key_id: str) -> KeyHold | None:
        """The hold on this key, if any (one row, by its primary key)."""
        with self._read() as tx:
            row = tx.one("SELECT * FROM key_holds WHERE key_id = ?", [key_id])
        if row is None:
            return None
        return KeyHold(key_id=row["key_id"], user_name=row["user_name_key"], cause=row["cause"],
                       actor_id=row["actor_id"], request_id=row["request_id"], at=self._time_out(row["held_at"]))

    def lift_key_hold(self, key_id: str, request_id: int | None, actor_id: str | None, what: str,
                      now: dt.datetime, detail: str | None = None, jobs: Iterable[NewJob] = ()) -> None:
        """The key came back (an approver activated it) or its hold went stale (its owner deactivated
        it while active, or it was deleted): the hold goes, with the event that says so."""
        with self._write() as tx:
            tx.count("DELETE FROM key_holds WHERE key_id = ?", [key_id])
            self._insert_event(tx, request_id, actor_id, what, detail, now)
            self._insert_jobs(tx, jobs, now=now, request_id=request_id)

    def lift_disable_holds(self, user_name: str, request_id: int, now: dt.datetime) -> list[str]:
        """An approved `enable`: the keys its user's disable held go back to their owner's hands (an
        approver's own holds stay). Returns the key ids, recorded in an event on the request."""
        with self._write() as tx:
            rows = tx.rows("DELETE FROM key_holds WHERE user_name_key = ? AND cause = ? RETURNING key_id",
                           [user_name.lower(), HOLD_DISABLE])
            lifted = sorted(row["key_id"] for row in rows)
            self._insert_event(tx, request_id, None, "key_holds_lifted", ", ".join(lifted) or "none", now)
        return lifted

    # -- jobs --------------------------------------------------------------------------

    def enqueue(self, jobs: Iterable[NewJob], *, now: dt.datetime, request_id: int | None = None,
                urgent: bool = False) -> list[Job]:
        """Write jobs down; those whose key is taken already are skipped. Returns the new ones.
        `urgent`: something Slack waits for (an event's answer) waits for this write."""
        with self._write(urgent=urgent) as tx:
            return self._insert_jobs(tx, jobs, now=now, request_id=request_id)

    def take_in(self, jobs: Iterable[NewJob], *, now: dt.datetime, worker: str, hold: dt.timedelta) -> list[Job]:
        """Write down work that `worker` starts at once, already claimed by it: one urgent write,
        made before a slash command is acknowledged (many commands' at a time)."""
        with self._write(urgent=True) as tx:
            return self._insert_jobs(tx, jobs, now=now, request_id=None, claim=(worker, now + hold))

    def _insert_jobs(self, tx: Tx, jobs: Iterable[NewJob], *, now: dt.datetime, request_id: int | None,
                     claim: tuple[str, dt.datetime] | None = None) -> list[Job]:
        inserted = []
        worker, until = claim if claim else (None, None)
        for job in jobs:
            row = tx.one(
                "INSERT INTO jobs (kind, request_id, key, payload, due_at, attempts, created_at, claimed_by, "
                "claimed_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING RETURNING *",
                [job.kind, request_id, job.key, self._json_in(dict(job.payload)),
                 self._time_in(job.due_at or now), 1 if claim else 0, self._time_in(now), worker,
                 self._time_in(until)],
            )
            if row is not None:
                inserted.append(self._job(row))
        return inserted

    def _claimable(self, now: dt.datetime) -> tuple[str, list]:
        return (
            "done_at IS NULL AND due_at <= ? AND (claimed_until IS NULL OR claimed_until <= ?)",
            [self._time_in(now), self._time_in(now)],
        )

    def claim_due_jobs(self, worker: str, *, now: dt.datetime, hold: dt.timedelta, limit: int = 10,
                       kinds: Iterable[str] | None = None) -> list[Job]:
        """Claim up to `limit` due jobs for `worker` until now + hold, oldest due first.

        A job is due when not done, its due time has come and nobody holds an unexpired claim
        on it; claiming counts an attempt. Two workers never get the same job.
        """
        where, params = self._claimable(now)
        if kinds is not None:
            kinds = list(kinds)
            if not kinds:
                return []
            where += f" AND kind IN ({marks(kinds)})"
            params += kinds
        with self._write() as tx:
            rows = tx.rows(
                "UPDATE jobs SET claimed_by = ?, claimed_until = ?, attempts = attempts + 1 WHERE id IN "
                f"(SELECT id FROM jobs WHERE {where} ORDER BY due_at, id LIMIT ?{self.SKIP_LOCKED}) RETURNING *",
                [worker, self._time_in(now + hold), *params, int(limit)],
            )
        jobs = [self._job(row) for row in rows]
        return sorted(jobs, key=lambda job: (job.due_at, job.id))

    def renew_jobs(self, job_ids: Iterable[int], worker: str, *, now: dt.datetime, hold: dt.timedelta) -> int:
        """Keep holding jobs `worker` is still doing: a live worker's claim never lapses under it."""
        ids = list(job_ids)
        if not ids:
            return 0
        with self._write() as tx:
            return tx.count(
                f"UPDATE jobs SET claimed_until = ? WHERE id IN ({marks(ids)}) AND claimed_by = ? AND done_at IS NULL",
                [self._time_in(now + hold), *ids, worker],
            )

    def finish_job(self, job_id: int, worker: str, *, now: dt.datetime) -> bool:
        """Mark a job done; False unless `worker` holds it (another may have taken it over)."""
        with self._write() as tx:
            return tx.count(
                "UPDATE jobs SET done_at = ? WHERE id = ? AND claimed_by = ? AND done_at IS NULL",
                [self._time_in(now), job_id, worker],
            ) == 1

    def retry_job(self, job_id: int, worker: str, *, due_at: dt.datetime, error: str) -> bool:
        """Let go of a job held by `worker`, to be tried again at `due_at`."""
        with self._write() as tx:
            return tx.count(
                "UPDATE jobs SET claimed_by = NULL, claimed_until = NULL, due_at = ?, last_error = ? "
                "WHERE id = ? AND claimed_by = ? AND done_at IS NULL",
                [self._time_in(due_at), str(error)[:LAST_ERROR_LIMIT], job_id, worker],
            ) == 1

    def prune_jobs(self, *, done_before: dt.datetime, limit: int = 1000) -> int:
        """Delete up to `limit` jobs finished before `done_before`, oldest first; how many went.
        Their events stay: the event log is the trail, a finished job is only how it was done.
        The newest job always stays, so SQLite never hands a pruned job's id to a new one (a
        leaver's row names the job that handled them)."""
        with self._write() as tx:
            return tx.count(
                "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE done_at IS NOT NULL AND done_at < ? "
                "AND id < (SELECT MAX(id) FROM jobs) ORDER BY done_at LIMIT ?)",
                [self._time_in(done_before), int(limit)])

    def gauges(self, *, now: dt.datetime) -> Gauges:
        """What the metrics show of the store (bot/metrics.py, at each scrape), from indexes alone:
        pending requests by kind (the state index: as many rows as are pending), and the jobs due
        and not done with the oldest one's due time (the partial index `jobs_due`: as many rows
        as are waiting)."""
        with self._read() as tx:
            pending = tx.rows("SELECT kind, COUNT(*) AS n FROM requests WHERE state = ? GROUP BY kind", [PENDING])
            waiting = tx.one("SELECT COUNT(*) AS n, MIN(due_at) AS oldest FROM jobs "
                             "WHERE done_at IS NULL AND due_at <= ?", [self._time_in(now)])
        return Gauges(pending={row["kind"]: int(row["n"]) for row in pending},
                      jobs_due=int(waiting["n"]) if waiting else 0,
                      oldest_due_at=self._time_out(waiting["oldest"]) if waiting else None)

    def jobs(self, *, request_id: int | None = None, kind: str | None = None, done: bool | None = None) -> list[Job]:
        where, params = ["1 = 1"], []
        if request_id is not None:
            where.append("request_id = ?")
            params.append(request_id)
        if kind is not None:
            where.append("kind = ?")
            params.append(kind)
        if done is not None:
            where.append("done_at IS NOT NULL" if done else "done_at IS NULL")
        with self._read() as tx:
            rows = tx.rows(f"SELECT * FROM jobs WHERE {' AND '.join(where)} ORDER BY id", params)
        return [self._job(row) for row in rows]

    def _job(self, row: dict) -> Job:
        time = self._time_out
        return Job(
            id=row["id"], kind=row["kind"], request_id=row["request_id"], key=row["key"],
            payload=dict(self._json_out(row["payload"]) or {}), due_at=time(row["due_at"]),
            attempts=row["attempts"], claimed_by=row["claimed_by"], claimed_until=time(row["claimed_until"]),
            done_at=time(row["done_at"]), last_error=row["last_error"], created_at=time(row["created_at"]),
        )

    # -- leavers -----------------------------------------------------------------------

    def open_leaver(self, person_id: str, job: NewJob, *, now: dt.datetime, worker: str,
                    hold: dt.timedelta) -> Job | None:
        """Write down the work of a person who left, already claimed by `worker`, which starts it
        at once, unless their leaving is open already (its work not yet done, or a removal it
        filed still pending or approved). Read and written by primary keys only, so a burst of
        events about one person, on any number of replicas, costs one piece of work. None when
        nothing was written (open already, or the job's key is taken: Slack delivered the same
        event again)."""
        try:
            with self._write(urgent=True) as tx:
                if job.key is not None and tx.one("SELECT id FROM jobs WHERE key = ?", [job.key]):
                    return None
                row = tx.one(f"SELECT job_id, removals FROM leavers WHERE person_id = ?{self.FOR_UPDATE}",
                             [person_id])
                if row is not None and self._leaving_open(tx, row):
                    return None
                [written] = self._insert_jobs(tx, [job], now=now, request_id=None,
                                              claim=(worker, now + hold)) or [None]
                if written is None:
                    return None
                if row is None:
                    taken = tx.one("INSERT INTO leavers (person_id, job_id, removals, since) VALUES (?, ?, ?, ?) "
                                   "ON CONFLICT (person_id) DO NOTHING RETURNING person_id",
                                   [person_id, written.id, self._json_in([]), self._time_in(now)])
                else:
                    taken = tx.one("UPDATE leavers SET job_id = ?, removals = ?, since = ? "
                                   "WHERE person_id = ? AND job_id = ? RETURNING person_id",
                                   [written.id, self._json_in([]), self._time_in(now), person_id, row["job_id"]])
                if taken is None:
                    raise _Lost  # another event about this person got there first: its job stands, not ours
        except _Lost:
            return None
        return written

    def _leaving_open(self, tx: Tx, row: dict) -> bool:
        job = tx.one("SELECT done_at FROM jobs WHERE id = ?", [row["job_id"]])
        if job is not None and job["done_at"] is None:
            return True
        ids = [int(i) for i in self._json_out(row["removals"]) or []]
        return bool(ids) and tx.one(
            f"SELECT id FROM requests WHERE id IN ({marks(ids)}) AND state IN (?, ?) LIMIT 1",
            [*ids, PENDING, APPROVED]) is not None

    def leaver_removals(self, person_id: str, job_id: int, request_ids: Iterable[int]) -> None:
        """The removals the leaver's work filed (or found open): the leaving stays open while they are."""
        with self._write() as tx:
            tx.count("UPDATE leavers SET removals = ? WHERE person_id = ? AND job_id = ?",
                     [self._json_in(list(request_ids)), person_id, job_id])

    def close_leaver(self, person_id: str) -> bool:
        """The person is back (reactivated): if they leave again, that is handled anew."""
        with self._read() as tx:
            if tx.one("SELECT person_id FROM leavers WHERE person_id = ?", [person_id]) is None:
                return False  # most profile changes are of people who never left: no write for them
        with self._write() as tx:
            return tx.count("DELETE FROM leavers WHERE person_id = ?", [person_id]) == 1

    # -- the App Home ------------------------------------------------------------------

    def home_opened(self, user_id: str, *, now: dt.datetime) -> None:
        """This person opened their App Home: from now on it is published when something of theirs changes."""
        with self._write() as tx:
            tx.count("INSERT INTO homes (user_id, opened_at) VALUES (?, ?) "
                     "ON CONFLICT (user_id) DO UPDATE SET opened_at = excluded.opened_at",
                     [user_id, self._time_in(now)])

    def homes_among(self, user_ids: Iterable[str]) -> set[str]:
        """Those of these people who have opened their App Home (by the primary key)."""
        ids = sorted(set(user_ids))
        if not ids:
            return set()
        with self._read() as tx:
            rows = tx.rows(f"SELECT user_id FROM homes WHERE user_id IN ({marks(ids)})", ids)
        return {row["user_id"] for row in rows}

    def approver_homes(self, *, limit: int) -> list[str]:
        """People whose last App Home showed them requests to approve (the partial index `homes_approvers`)."""
        with self._read() as tx:
            rows = tx.rows("SELECT user_id FROM homes WHERE approver = 1 ORDER BY user_id LIMIT ?", [int(limit)])
        return [row["user_id"] for row in rows]

    def home_digest(self, user_id: str) -> str | None:
        """The digest of the App Home last published to this person, if any."""
        with self._read() as tx:
            row = tx.one("SELECT digest FROM homes WHERE user_id = ?", [user_id])
        return row["digest"] if row else None

    def home_published(self, user_id: str, *, digest: str, approver: bool, now: dt.datetime) -> None:
        with self._write() as tx:
            tx.count("INSERT INTO homes (user_id, opened_at, approver, digest, published_at) VALUES (?, ?, ?, ?, ?) "
                     "ON CONFLICT (user_id) DO UPDATE SET approver = excluded.approver, digest = excluded.digest, "
                     "published_at = excluded.published_at",
                     [user_id, self._time_in(now), 1 if approver else 0, digest, self._time_in(now)])

    # -- leases ------------------------------------------------------------------------

    def acquire_lease(self, name: str, holder: str, *, now: dt.datetime, ttl: dt.timedelta) -> bool:
        """Take (or renew) the lease `name` until now + ttl, if it is free, expired or ours."""
        with self._write() as tx:
            row = tx.one(
                "INSERT INTO leases (name, holder, until) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until "
                "WHERE leases.holder = excluded.holder OR leases.until <= ? RETURNING holder",
                [name, holder, self._time_in(now + ttl), self._time_in(now)],
            )
        return row is not None

    def release_lease(self, name: str, holder: str) -> bool:
        with self._write() as tx:
            return tx.count("DELETE FROM leases WHERE name = ? AND holder = ?", [name, holder]) == 1



def utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("times in the store are timezone-aware")
    return value.astimezone(dt.timezone.utc)
