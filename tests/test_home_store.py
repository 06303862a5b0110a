"""The App Home's side of the store on SQLite and PostgreSQL: who opened a home, what was last
published, and the follower of the event log (commands/home.py): it starts at the newest event,
refreshes only homes that exist, coalesces a burst into one job per person and window, and reads
no whole table."""

import datetime as dt
import re

import storage
from commands.home import HOME_JOB, HOME_STREAM, WINDOW, HomeFollower, changed_job, opened_job
from storage import open_store
from tests.support.store_spy import spying
from tests.support.stores import NOW, file, store, url  # noqa: F401 (fixtures)

HISTORY = 3000


def test_homes_remember_who_opened_and_what_was_published(store):
    assert store.homes_among(["U0JANE", "U0BOB"]) == set()
    store.home_opened("U0JANE", now=NOW)
    store.home_published("U0BOB", digest="abc", approver=True, now=NOW)
    assert store.homes_among(["U0JANE", "U0BOB", "U0DAN"]) == {"U0JANE", "U0BOB"}
    assert store.home_digest("U0BOB") == "abc" and store.home_digest("U0JANE") is None
    assert store.approver_homes(limit=10) == ["U0BOB"]
    store.home_published("U0BOB", digest="def", approver=False, now=NOW)
    assert store.approver_homes(limit=10) == [] and store.home_digest("U0BOB") == "def"


def test_a_burst_in_one_window_is_one_job_and_the_next_window_another(store):
    t = dt.datetime.fromtimestamp(10 * WINDOW.total_seconds(), tz=dt.timezone.utc)
    burst = [changed_job("U0JANE", t + dt.timedelta(seconds=s)) for s in (0, 1, 4.9)]
    assert len(store.enqueue(burst, now=t)) == 1
    [job] = store.jobs(kind=HOME_JOB)
    assert job.due_at == t + WINDOW and job.payload == {"user_id": "U0JANE", "fresh": True}
    assert len(store.enqueue([changed_job("U0JANE", t + WINDOW)], now=t)) == 1  # the next window
    # opening the tab is its own job, due at once, once a window
    assert len(store.enqueue([opened_job("U0JANE", t), opened_job("U0JANE", t + dt.timedelta(seconds=2))],
                             now=t)) == 1


def test_the_follower_starts_at_the_newest_event_and_refreshes_only_homes_that_exist(store):
    old = file(store, name="old.user")  # history before any home: never followed
    follower = HomeFollower(store, lambda: NOW)
    assert follower.follow() == 0 and not store.stream_started(HOME_STREAM)
    follower.start()
    store.home_opened("U0JANE", now=NOW)
    store.home_published("U0BOB", digest="x", approver=True, now=NOW)
    request = file(store, name="jane.doe")  # owner U0JANE, requester U0ALICE (no home)
    assert follower.follow() == 2
    people = sorted(job.payload["user_id"] for job in store.jobs(kind=HOME_JOB))
    assert people == ["U0BOB", "U0JANE"]  # jane owns it; bob approves and listed requests last time
    assert follower.follow() == 0  # nothing new
    store.transition(request.id, from_states=[storage.PENDING], to_state=storage.CANCELLED, actor_id="U0ALICE",
                     what="cancelled", now=NOW)
    assert follower.follow() == 0  # the same window: the jobs written are these people's already
    assert old.id != request.id


def test_the_followers_and_the_homes_reads_read_no_history_whole(url):
    """The tables that grow with history (requests, events, jobs) are read by index only; `homes`
    holds one row per person who ever opened a home, bounded by the workspace, not by time."""
    store = open_store(url)
    at = store._time_in(NOW - dt.timedelta(days=30))
    with store._write() as tx:
        for n in range(1, HISTORY + 1):
            tx.count("INSERT INTO requests (user_name, user_name_key, groups, console, owner_id, requester_id, "
                     "team_id, state, created_at, updated_at, steps_done, kind, details) VALUES "
                     "(?, ?, ?, ?, ?, ?, 'T0TEAM', ?, ?, ?, ?, 'create_user', ?)",
                     [f"user{n}", f"user{n}", store._json_in([]), True, f"U{n % 500}", f"U{n % 700}",
                      storage.REVEALED, at, at, store._json_in([]), store._json_in({})])
            tx.count("INSERT INTO events (actor_id, what, at) VALUES ('U0BOB', 'filed', ?)", [at])
            tx.count("INSERT INTO homes (user_id, opened_at, approver) VALUES (?, ?, ?)",
                     [f"U{n}", at, 1 if n % 100 == 0 else 0])
        if store.FOR_UPDATE:
            tx.count("ANALYZE")
    follower = HomeFollower(store, lambda: NOW)
    follower.start()
    file(store, name="jane.doe")
    with spying(store) as asked:
        follower.follow()
        store.for_owner("U7")
        store.for_requester("U7")
        store.in_states([storage.PENDING])
        store.live_grants("user7")
        store.home_digest("U7")
    statements = [(sql, params) for sql, params, _ in asked.statements
                  if not sql.lstrip().upper().startswith(("INSERT", "UPDATE"))]
    assert statements
    scans = {sql: lines for sql, params in statements if (lines := _scans(store, sql, params))}
    assert scans == {}, "\n".join(f"{sql}: {lines}" for sql, lines in scans.items())
    store.close()


def _scans(store, sql: str, params: list) -> list[str]:
    if store.FOR_UPDATE:
        with store._read() as tx:
            plan = [row["QUERY PLAN"] for row in tx.rows(f"EXPLAIN {sql}", params)]
        return [line for line in plan if re.search(r"Seq Scan on (requests|events|jobs)\b", line)]
    with store._read() as tx:
        plan = [row["detail"] for row in tx.rows(f"EXPLAIN QUERY PLAN {sql}", params)]
    return [line for line in plan if re.match(r"SCAN (requests|events|jobs)\b", line)]
