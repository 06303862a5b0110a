"""The live audit stream (IAM_BOT_AUDIT_LOG) from real `iam-bot serve` processes: killed with
SIGKILL, no line is lost, and the only repeat is the batch written when it died, with the same
ids; two replicas on PostgreSQL write one stream, each event once. Checked against the events table.
"""

import json
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from commands.trail import STREAM_NAME
from tests.support.fake_slack import user
from tests.support.process import approve, file_request, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.crash, pytest.mark.slow]

pytest_plugins = ["tests.support.process"]


def shipped(*paths) -> list[int]:
    """The ids in the stream's files, in the order written (every line must be whole JSON)."""
    ids = []
    for path in paths:
        if path.exists():
            ids += [json.loads(line)["id"] for line in path.read_text().splitlines()]
    return ids


def event_ids(store) -> list[int]:
    return [e.id for e in store.events()]


def caught_up(store, *paths):
    return lambda: set(shipped(*paths)) == set(event_ids(store)) and store.jobs(done=False) == []


def person(slack, name: str) -> str:
    """A person `name` in the stand-in's workspace (name@example.com), for a request about `name`; their id."""
    uid = f"U0{name.upper()}"
    slack.users[uid] = user(uid, name, email=f"{name}@example.com")
    return uid


def some_requests(served, names):
    for name in names:
        person(served.slack, name)
        file_request(served, "U0ALICE", f"create {name} Developers", f"U0{name.upper()}")


def test_killed_between_writing_a_batch_and_moving_the_cursor_repeats_that_batch_only(serve, postgres_url, tmp_path):
    path = tmp_path / "audit.jsonl"
    served = serve("bot", database_url=postgres_url, IAM_BOT_AUDIT_LOG=str(path))
    store = served.store
    some_requests(served, ["ann", "ben"])
    wait_until(caught_up(store, path), what="the stream to catch up")
    before = shipped(path)
    assert before == event_ids(store)

    # The cursor cannot move (the test holds its table): the next batch is written, and then the
    # process is killed while it waits to record that.
    with psycopg.connect(postgres_url) as blocker:
        blocker.execute("LOCK TABLE audit_stream IN EXCLUSIVE MODE")
        some_requests(served, ["cat", "dan"])
        # The first batch after the lock is written whole (one write) and the writer then waits:
        # what was committed after it stays unwritten until the restart.
        wait_until(lambda: len(shipped(path)) > len(before), what="the held batch to be written")
        held = shipped(path)[len(before):]
        assert set(held) <= set(event_ids(store))
        served.kill()
    assert store.stream_position(STREAM_NAME).id == before[-1]

    served.start()
    some_requests(served, ["eve"])
    wait_until(caught_up(store, path), what="the stream to catch up after the restart")
    ids = shipped(path)
    assert ids[:len(before) + len(held)] == before + held
    # The repeat, with the same ids (its batch may go on with what came since).
    assert ids[len(before) + len(held):len(before) + 2 * len(held)] == held
    rest = ids[len(before) + 2 * len(held):]
    assert sorted(before + held + rest) == event_ids(store)  # nothing lost, nothing else twice


def test_killed_at_any_moment_on_sqlite_loses_no_line(serve, tmp_path):
    path = tmp_path / "audit.jsonl"
    served = serve("bot", IAM_BOT_AUDIT_LOG=str(path))
    store = served.store
    crashes = 0
    for round_names in (["ann", "ben", "cat"], ["dan", "eve", "fay"], ["gus", "hal"]):
        some_requests(served, round_names)
        served.restart()  # SIGKILL wherever the stream stands, then start again
        crashes += 1
    some_requests(served, ["ivy"])
    wait_until(caught_up(store, path), 30, "the stream to catch up")
    ids = shipped(path)
    assert sorted(set(ids)) == event_ids(store)
    repeats = len(ids) - len(set(ids))
    assert repeats <= crashes * 500  # at most the batch in hand at each crash
    # A repeat is a run of the lines just before it, never an event out of nowhere.
    seen = set()
    for i, event_id in enumerate(ids):
        if event_id in seen:
            assert ids[i - 1] in seen or ids[i - 1] < event_id, ids
        seen.add(event_id)


def test_two_replicas_on_postgres_write_one_stream_without_gaps_or_doubles(serve, postgres_url, tmp_path):
    paths = [tmp_path / "one.jsonl", tmp_path / "two.jsonl"]
    servers = [serve(name, database_url=postgres_url, WEB_CONCURRENCY="2", IAM_BOT_AUDIT_LOG=str(path))
               for name, path in zip(("one", "two"), paths)]
    store = servers[0].store
    names = [f"user{n}" for n in range(12)]
    for name in names:
        person(servers[0].slack, name)
    # Requests filed and approved on both replicas at once: ids commit out of order.
    with ThreadPoolExecutor(max_workers=6) as pool:
        requests = list(pool.map(
            lambda i: file_request(servers[i % 2], "U0ALICE", f"create {names[i]} Developers", f"U0{names[i].upper()}"),
            range(len(names))))
        list(pool.map(lambda i: approve(servers[(i + 1) % 2], requests[i]), range(len(requests))))
    wait_until(lambda: all(store.get(r.id).state == "provisioned" for r in requests), 60, "every user provisioned")
    wait_until(caught_up(store, *paths), 30, "the stream to catch up")
    ids = shipped(*paths)
    assert sorted(ids) == event_ids(store) and len(ids) == len(set(ids))
