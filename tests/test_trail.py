"""The event log read outward (issue 21), on SQLite and on a real PostgreSQL server: the export's
filters and schema, `iam-bot export`, and the live stream's cursor (out-of-order commits on
PostgreSQL included)."""

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

import storage
from commands.trail import STREAM_NAME, StreamLost, TrailStream, json_line, record
from storage.trail import StreamCursor
from tests.support.stores import HOUR, NOW, approve, file, store, url  # noqa: F401 (fixtures)

KEYS = ["id", "time", "request_id", "kind", "account", "user_name", "actor", "action", "details", "state"]


def some_history(store):
    jane = file(store)
    approve(store, jane.id)
    keys = file(store, "svc.deploy", kind="access_key")
    store.append_event(None, "U0CAROL", "refused:status", NOW + HOUR, detail="jane.doe")
    store.append_event(keys.id, None, "failed", NOW + 2 * HOUR,
                       detail="CreateAccessKey: see https://hooks.slack.com/actions/T0/123/secret and xoxb-123-abc")
    return jane, keys


def test_the_export_has_the_schema_and_its_filters(store):
    jane, keys = some_history(store)
    lines = [record(event) for event in store.trail()]
    assert [list(line) for line in lines] == [KEYS] * 5
    assert [line["action"] for line in lines] == ["filed", "approved", "filed", "refused:status", "failed"]
    first = lines[1]
    assert first == {"id": first["id"], "time": "2026-11-28T10:00:00.000000Z", "request_id": jane.id,
                     "kind": "create_user", "account": None, "user_name": "jane.doe", "actor": "U0BOB",
                     "action": "approved", "details": None, "state": "approved"}
    assert lines[3]["request_id"] is None and lines[3]["kind"] is None and lines[3]["details"] == "jane.doe"
    assert [e.what for e in store.trail(since=NOW + HOUR)] == ["refused:status", "failed"]
    assert [e.what for e in store.trail(until=NOW + HOUR)] == ["filed", "approved", "filed"]
    assert [e.what for e in store.trail(since=NOW + HOUR, until=NOW + 2 * HOUR)] == ["refused:status"]
    assert [e.request_id for e in store.trail(kinds=["access_key"])] == [keys.id, keys.id]
    # Small batches walk the same log (keyset pages on SQLite; one cursor on PostgreSQL).
    assert [e.id for e in store.trail(batch=2)] == [e.id for e in store.trail()]


def test_a_line_is_one_json_object_and_the_scrub_takes_urls_and_tokens_out(store):
    from bot.logs import redact

    some_history(store)
    *_, failed = store.trail()
    line = json_line(failed, redact)
    assert line.endswith("\n") and line.count("\n") == 1
    assert json.loads(line)["details"] == "CreateAccessKey: see https://hooks.slack.com/[redacted] and xoxb-[redacted]"


def test_the_stream_ships_each_event_once_and_a_lost_cursor_stops_the_writer(store):
    some_history(store)
    written: list[bytes] = []
    stream = TrailStream(store, written.append, holder="p1", hold=HOUR, clock=lambda: NOW, batch=2)
    assert stream.ship() == 5
    assert stream.ship() == 0
    store.append_event(None, "U0BOB", "refused:audit", NOW)
    assert stream.ship() == 1
    ids = [json.loads(line)["id"] for chunk in written for line in chunk.splitlines()]
    assert ids == [e.id for e in store.events()]
    assert len(written) == 4  # batches of two: 2, 2, 1, then the new one
    # Another process holds the stream's lease: this one writes nothing.
    store.append_event(None, "U0BOB", "refused:audit", NOW)
    other = TrailStream(store, written.append, holder="p2", hold=HOUR, clock=lambda: NOW)
    assert other.ship() == 0 and len(written) == 4
    # The cursor moved while a writer wrote (its lease lapsed and another shipped meanwhile): it stops.

    def overtaken(data: bytes) -> None:
        at = store.stream_position(STREAM_NAME)
        assert store.stream_advance(STREAM_NAME, at, StreamCursor(at.txid, at.id + 1), now=NOW)

    with pytest.raises(StreamLost):
        TrailStream(store, overtaken, holder="p1", hold=HOUR, clock=lambda: NOW).ship()


def test_a_crash_between_the_write_and_the_cursor_repeats_only_that_batch(store):
    some_history(store)
    written: list[bytes] = []

    def dies_after_writing(data: bytes) -> None:
        written.append(data)
        if len(written) == 2:
            raise KeyboardInterrupt("killed")

    with pytest.raises(KeyboardInterrupt):
        TrailStream(store, dies_after_writing, holder="p1", hold=HOUR, clock=lambda: NOW, batch=2).ship()
    later = NOW + 2 * HOUR  # p1's lease has lapsed
    TrailStream(store, written.append, holder="p2", hold=HOUR, clock=lambda: later, batch=2).ship()
    ids = [json.loads(line)["id"] for chunk in written for line in chunk.splitlines()]
    every = [e.id for e in store.events()]
    assert ids == every[:4] + every[2:]  # the second batch twice, with the same ids; nothing lost


def test_postgres_ships_nothing_behind_a_transaction_still_open(postgres_url):
    """Ids commit out of order: the event with the smaller id, still uncommitted, must not be
    skipped when the larger one is shipped."""
    store = storage.open_store(postgres_url)
    try:
        store.append_event(None, "U0BOB", "before", NOW)
        slow = psycopg.connect(postgres_url)
        slow.execute("INSERT INTO events (request_id, actor_id, what, at) VALUES (NULL, 'U0SLOW', 'slow', %s)", [NOW])
        store.append_event(None, "U0BOB", "fast", NOW)  # a larger id, committed first
        written: list[bytes] = []
        stream = TrailStream(store, written.append, holder="p1", hold=HOUR, clock=lambda: NOW)
        stream.ship()

        def actions():
            return [json.loads(line)["action"] for chunk in written for line in chunk.splitlines()]

        assert actions() == ["before"]  # `fast` waits: `slow`'s transaction is still running
        slow.commit()
        slow.close()
        stream.ship()
        assert sorted(actions()) == ["before", "fast", "slow"] and len(actions()) == 3
    finally:
        store.close()


# -- iam-bot export ------------------------------------------------------------------------

def iam_bot(*args: str, database_url: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IAM_BOT_", "SLACK_", "DATABASE_URL"))}
    env["DATABASE_URL"] = database_url
    return subprocess.run([str(Path(sys.executable).parent / "iam-bot"), "export", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_iam_bot_export_writes_the_log_as_json_lines(store, url):
    jane, keys = some_history(store)
    done = iam_bot(database_url=url)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["id"] for line in lines] == [e.id for e in store.events()]
    assert "hooks.slack.com/actions" not in done.stdout and "xoxb-123" not in done.stdout
    done = iam_bot("--since", "2026-11-28T10:30:00Z", "--kind", "access_key", database_url=url)
    assert [json.loads(line)["action"] for line in done.stdout.splitlines()] == ["failed"]
    done = iam_bot("--until", "2026-11-28", database_url=url)
    assert done.returncode == 0 and done.stdout == ""


def test_iam_bot_export_says_what_is_wrong(tmp_path):
    done = iam_bot("--since", "last tuesday", database_url=f"sqlite:///{tmp_path}/t.db")
    assert done.returncode == 2 and "neither a duration" in done.stderr
    done = iam_bot(database_url=f"sqlite:///{tmp_path}/missing.db")
    assert done.returncode == 1 and "no database" in done.stderr and not (tmp_path / "missing.db").exists()
