"""The audit trail as JSON lines (issue 21): the one schema that `iam-bot export` and the live
stream (`IAM_BOT_AUDIT_LOG`) write, and the live stream's loop, with no file or Slack in sight.

A line is one event, with what its request says now. The keys are stable (docs/operations.md):
    id          the event's id: a repeat after a crash carries the same one
    time        when it happened, ISO 8601 in UTC (`2026-11-28T10:00:00.000000Z`)
    request_id  the request it belongs to, or null (a refused command names none)
    kind        that request's kind (`create_user`, `access_key`, `remove`, ...), or null
    account     the request's AWS account (its `[[account]]` name), or null for the default account
    user_name   the IAM user the request is about, or null
    actor       the Slack id of the person who acted, or null (the bot itself)
    action      what happened (`filed`, `approved`, `step:create_user`, `refused:status`, ...)
    details     the event's words (a reason, an AWS error, a key id), or null
    state       the request's state when the line was written (not a history), or null
Nothing else of a request is read: its `details` column holds the reveal button's token, and
the events hold no password, key secret or response URL; `scrub` (the logs' redaction) takes
any URL path and Slack token out of the event's words all the same.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

from storage import Store
from storage.trail import STREAM_BATCH, TrailEvent

STREAM_NAME = "audit_log"
STREAM_LEASE = "audit_stream"
# Batches one pass ships at most, so a long backlog (a stream turned on over a year of history)
# does not keep the other duties waiting; the next pass goes on from the cursor.
PASS_BATCHES = 20


def utc_time(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record(event: TrailEvent, scrub: Callable[[str], str] = str) -> dict:
    """The event as the schema above says, in that order."""
    return {
        "id": event.id,
        "time": utc_time(event.at),
        "request_id": event.request_id,
        "kind": event.kind,
        "account": event.account,
        "user_name": event.user_name,
        "actor": event.actor_id,
        "action": event.what,
        "details": scrub(event.detail) if event.detail is not None else None,
        "state": event.state,
    }


def json_line(event: TrailEvent, scrub: Callable[[str], str] = str) -> str:
    """One line, newline included; non-ASCII kept as written (UTF-8)."""
    return json.dumps(record(event, scrub), ensure_ascii=False, separators=(",", ":")) + "\n"


class StreamLost(Exception):
    "Another writer moved the stream's cursor: this one stops (its last batch may repeat there)"


class TrailStream:
    """Ships committed events to `write` in batches, one writer at a time.

    Each batch: hold the stream's lease; read the cursor and the events after it that can ship
    (storage/trail.py); `write` the batch (it must be durable when it returns); then move the
    cursor past it by compare-and-swap. A crash between the write and the move repeats that
    batch, and only it, on the next writer, with the same ids; nothing is skipped.
    """

    def __init__(self, store: Store, write: Callable[[bytes], None], *, holder: str, hold: dt.timedelta,
                 clock: Callable[[], dt.datetime], scrub: Callable[[str], str] = str,
                 name: str = STREAM_NAME, batch: int = STREAM_BATCH):
        self.store, self.write, self.holder, self.hold = store, write, holder, hold
        self.clock, self.scrub, self.name, self.batch = clock, scrub, name, batch

    def ship(self, batches: int = PASS_BATCHES) -> int:
        """Ship up to `batches` batches; how many lines were written. Raises StreamLost."""
        shipped = 0
        for _ in range(batches):
            if not self.store.acquire_lease(STREAM_LEASE, self.holder, now=self.clock(), ttl=self.hold):
                return shipped  # another process writes the stream now
            at, events, after = self.store.stream_batch(self.name, limit=self.batch)
            if not events:
                return shipped
            self.write("".join(json_line(event, self.scrub) for event in events).encode())
            if not self.store.stream_advance(self.name, at, after, now=self.clock()):
                raise StreamLost(f"the {self.name} stream's cursor moved under {self.holder}")
            shipped += len(events)
            if len(events) < self.batch:
                return shipped
        return shipped
