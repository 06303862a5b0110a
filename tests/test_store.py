"""The store's contract, on SQLite and on a real PostgreSQL server: requests, events, jobs, leases."""

import datetime as dt
import json
import multiprocessing
import os
import pwd
import shutil
import stat
import tempfile
import threading
import traceback

import pytest

import storage
import storage.sqlite_store  # loaded here, before a test forks a child that may not read this tree
from storage import DuplicateRequest, NewJob, StoreError, open_store
from tests.support.stores import HOUR, NOW, approve, file, lease_holder, store, url  # noqa: F401 (fixtures)

MINUTE = dt.timedelta(minutes=1)


# -- requests and events -----------------------------------------------------------------

def test_filing_stores_pending_with_an_event(store):
    request = file(store)
    assert request.state == storage.PENDING and request.created_at == NOW
    assert request.groups == ("Developers",) and request.console is True
    assert (request.kind, request.details) == ("create_user", {})
    [event] = store.events(request.id)
    assert (event.what, event.actor_id, event.at) == ("filed", "U0ALICE", NOW)
    assert store.get(request.id) == request


def test_a_request_keeps_its_kind_and_details_and_a_transition_may_replace_them(store):
    request = file(store, kind="add_to_group", details={"groups": ["Admins"], "why": "on call"})
    assert store.get(request.id).kind == "add_to_group"
    assert store.get(request.id).details == {"groups": ["Admins"], "why": "on call"}
    approve(store, request.id, details={"groups": ["Admins"], "approved_groups": ["Admins"]})
    assert store.get(request.id).details == {"groups": ["Admins"], "approved_groups": ["Admins"]}


def test_a_second_live_request_for_the_same_name_ignoring_case_is_refused(store):
    first = file(store)
    with pytest.raises(DuplicateRequest) as raised:
        file(store, "JANE.DOE")
    assert raised.value.existing_id == first.id
    assert [r.id for r in store.in_states(storage.LIVE_STATES)] == [first.id]
    store.transition(first.id, from_states=[storage.PENDING], to_state=storage.DENIED, actor_id="U0BOB",
                     what="denied", now=NOW)
    assert file(store, "Jane.Doe").state == storage.PENDING


def test_a_transition_wins_once(store):
    request = file(store)
    won = approve(store, request.id, decider_id="U0BOB", decided_at=NOW)
    assert won.state == storage.APPROVED and won.decider_id == "U0BOB" and won.decided_at == NOW
    lost = store.transition(request.id, from_states=[storage.PENDING], to_state=storage.DENIED,
                            actor_id="U0CAROL", what="denied", now=NOW)
    assert lost is None
    assert store.get(request.id).state == storage.APPROVED
    assert [e.what for e in store.events(request.id)] == ["filed", "approved"]


def test_threads_racing_on_one_request_produce_one_winner(url):
    store = open_store(url)
    request = file(store)
    barrier = threading.Barrier(8)
    results = []

    def click(i):
        barrier.wait()
        target = storage.APPROVED if i % 2 else storage.DENIED
        results.append(store.transition(request.id, from_states=[storage.PENDING], to_state=target,
                                        actor_id=f"U{i}", what=target, now=NOW))

    threads = [threading.Thread(target=click, args=(i,)) for i in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    winners = [r for r in results if r is not None]
    assert len(results) == 8 and len(winners) == 1
    assert [e.what for e in store.events(request.id)] == ["filed", winners[0].state]
    # A second store on the same database (another process) sees the same truth.
    other = open_store(url)
    assert other.get(request.id).state == winners[0].state
    store.close()
    other.close()


def test_unsettled_key_attempts_are_those_no_claim_holds_oldest_first(store):
    def key_request(name, attempted, state):
        request = file(store, name=name, owner=f"U0{name.upper()}", kind="access_key")
        store.transition(request.id, from_states=[storage.PENDING], to_state=state, actor_id=None,
                         what="moved", now=NOW, key_attempt_at=attempted)
        return request.id

    later = key_request("later", NOW + MINUTE, storage.PROVISIONED)
    first = key_request("first", NOW, storage.REVEAL_EXPIRED)
    key_request("claimed", NOW, storage.REVEALING)  # a reveal in progress: its attempt is its own
    key_request("never", None, storage.PROVISIONED)
    settled = key_request("settled", NOW, storage.PROVISIONED)
    store.transition(settled, from_states=[storage.PROVISIONED], to_state=storage.REVEAL_EXPIRED, actor_id=None,
                     what="key_lost", now=NOW, key_attempt_at=None)
    assert [r.id for r in store.unsettled_key_attempts(limit=10)] == [first, later]
    assert [r.id for r in store.unsettled_key_attempts(limit=2)] == [first]  # the claimed one takes a place


def test_unsettled_key_attempts_are_read_from_their_own_index(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/plan.db")
    with store._read() as tx:
        plan = tx.rows("EXPLAIN QUERY PLAN SELECT * FROM requests WHERE key_attempt_at IS NOT NULL "
                       "ORDER BY key_attempt_at, id LIMIT 50")
    assert any("requests_key_attempts" in row["detail"] for row in plan), plan
    store.close()


def test_events_cannot_be_changed_or_deleted(store):
    file(store)
    for sql in ("UPDATE events SET what = 'x'", "DELETE FROM events"):
        with pytest.raises(StoreError, match="append-only"):
            with store._write() as tx:
                tx.count(sql)
    assert [e.what for e in store.events()] == ["filed"]


def test_only_known_columns_change(store):
    request = file(store)
    with pytest.raises(ValueError):
        approve(store, request.id, owner_id="U0BOB")
    assert store.get(request.id).owner_id == "U0JANE"


def test_steps_are_kept_across_restarts(url):
    store = open_store(url)
    request = file(store)
    approve(store, request.id)
    store.record_step(request.id, "create_user", now=NOW, user_arn="arn:aws:iam::123456789012:user/jane.doe")
    store.record_step(request.id, "add_to_groups", now=NOW)
    store.close()
    again = open_store(url)
    assert again.get(request.id).steps_done == ("create_user", "add_to_groups")
    assert again.get(request.id).user_arn.endswith("user/jane.doe")
    with pytest.raises(StoreError):
        again.record_step(file(again, "john.roe", owner="U0JOHN").id, "create_user", now=NOW)
    again.close()


def test_set_card_and_dm_and_for_owner(store):
    request = file(store)
    store.set_card(request.id, "C0APPROVALS", "1700000000.000100")
    store.set_dm(request.id, "D0JANE", "1700000000.000200")
    [mine] = store.for_owner("U0JANE")
    assert (mine.card_channel, mine.card_ts, mine.dm_channel, mine.dm_ts) == (
        "C0APPROVALS", "1700000000.000100", "D0JANE", "1700000000.000200")
    assert store.for_owner("U0NOBODY") == [] and store.find(999) is None


# -- key holds ---------------------------------------------------------------------------

def hold(key_id, cause, *, user="Jane.Doe", actor="U0BOB", request_id=None):
    return storage.KeyHold(key_id, user, cause, actor, request_id, NOW)


def test_a_disable_keeps_an_approvers_hold_and_an_enable_lifts_only_the_disables(store):
    removal = file(store, kind="remove")
    store.hold_keys([hold("AKIAAPPROVER", storage.HOLD_APPROVER)])
    store.hold_keys([hold("AKIAAPPROVER", storage.HOLD_DISABLE, request_id=removal.id),
                     hold("AKIADISABLED", storage.HOLD_DISABLE, request_id=removal.id)], keep_approvers=True)
    assert store.key_hold("AKIAAPPROVER").cause == storage.HOLD_APPROVER
    assert store.key_hold("AKIADISABLED") == storage.KeyHold(
        "AKIADISABLED", "jane.doe", storage.HOLD_DISABLE, "U0BOB", removal.id, NOW)
    assert store.key_hold("AKIANOTHING") is None
    assert store.lift_disable_holds("JANE.DOE", removal.id, NOW) == ["AKIADISABLED"]
    assert store.key_hold("AKIADISABLED") is None and store.key_hold("AKIAAPPROVER") is not None
    assert [(e.what, e.detail) for e in store.events(removal.id)][-1] == ("key_holds_lifted", "AKIADISABLED")
    store.lift_key_hold("AKIAAPPROVER", None, "U0CAROL", "key_activated", NOW, detail="AKIAAPPROVER jane.doe")
    assert store.key_hold("AKIAAPPROVER") is None
    assert store.events()[-1].what == "key_activated"


def test_an_approvers_new_hold_replaces_an_old_one(store):
    store.hold_keys([hold("AKIAKEY", storage.HOLD_DISABLE)])
    store.hold_keys([hold("AKIAKEY", storage.HOLD_APPROVER, actor="U0CAROL")])
    assert (store.key_hold("AKIAKEY").cause, store.key_hold("AKIAKEY").actor_id) == (storage.HOLD_APPROVER, "U0CAROL")


# -- jobs --------------------------------------------------------------------------------

def test_jobs_are_written_with_a_transition_only_if_it_wins(store):
    request = file(store, jobs=[NewJob("post_card")])
    won = approve(store, request.id, jobs=[NewJob("dm_owner", {"text": "approved"}), NewJob("provision")])
    lost = store.transition(request.id, from_states=[storage.PENDING], to_state=storage.DENIED, actor_id="U0CAROL",
                            what="denied", now=NOW, jobs=[NewJob("dm_owner", {"text": "denied"})])
    assert won is not None and lost is None
    jobs = store.jobs(request_id=request.id)
    assert [(j.kind, j.payload) for j in jobs] == [
        ("post_card", {}), ("dm_owner", {"text": "approved"}), ("provision", {})]
    assert all(j.due_at == NOW and j.attempts == 0 and j.done_at is None for j in jobs)


def test_steps_and_events_carry_jobs_too(store):
    request = file(store)
    approve(store, request.id)
    store.record_step(request.id, "create_user", now=NOW, jobs=[NewJob("audit", {"step": "create_user"})])
    store.append_event(request.id, "U0JANE", "asked_again", NOW, jobs=[NewJob("remind", due_at=NOW + HOUR)])
    assert [(j.kind, j.due_at) for j in store.jobs(request_id=request.id)] == [("audit", NOW), ("remind", NOW + HOUR)]


def test_a_job_key_is_written_once(store):
    first = store.enqueue([NewJob("dm_owner", {"n": 1}, key="dm:1:approved")], now=NOW)
    again = store.enqueue([NewJob("dm_owner", {"n": 2}, key="dm:1:approved"), NewJob("other", key="x")], now=NOW)
    assert [j.payload for j in first] == [{"n": 1}] and [j.key for j in again] == ["x"]
    request = file(store)
    won = approve(store, request.id, jobs=[NewJob("dm_owner", key="dm:1:approved")])
    assert won is not None  # the transition still wins; the job already there is kept as it was
    assert [(j.kind, j.payload) for j in store.jobs(kind="dm_owner")] == [("dm_owner", {"n": 1})]


def test_claims_take_due_jobs_in_order_and_count_attempts(store):
    later, first, second = store.enqueue(
        [NewJob("dm", due_at=NOW + HOUR), NewJob("dm", due_at=NOW - HOUR), NewJob("audit", due_at=NOW - MINUTE)],
        now=NOW)
    claimed = store.claim_due_jobs("w1", now=NOW, hold=MINUTE)
    assert [j.id for j in claimed] == [first.id, second.id]
    assert all(j.claimed_by == "w1" and j.claimed_until == NOW + MINUTE and j.attempts == 1 for j in claimed)
    assert store.claim_due_jobs("w2", now=NOW, hold=MINUTE) == []
    assert [j.id for j in store.claim_due_jobs("w2", now=NOW + 2 * HOUR, hold=MINUTE, kinds=["dm"])] == [
        first.id, later.id]


def test_an_expired_claim_can_be_claimed_again_and_only_the_holder_finishes(store):
    [job] = store.enqueue([NewJob("provision")], now=NOW)
    assert [j.claimed_by for j in store.claim_due_jobs("w1", now=NOW, hold=MINUTE)] == ["w1"]
    assert store.claim_due_jobs("w2", now=NOW + MINUTE / 2, hold=MINUTE) == []
    [taken] = store.claim_due_jobs("w2", now=NOW + 2 * MINUTE, hold=MINUTE)
    assert (taken.id, taken.claimed_by, taken.attempts) == (job.id, "w2", 2)
    assert store.finish_job(job.id, "w1", now=NOW + 2 * MINUTE) is False
    assert store.finish_job(job.id, "w2", now=NOW + 3 * MINUTE) is True
    [done] = store.jobs(done=True)
    assert (done.id, done.done_at) == (job.id, NOW + 3 * MINUTE)
    assert store.jobs(done=False) == [] and store.claim_due_jobs("w3", now=NOW + HOUR, hold=MINUTE) == []


def test_a_renewed_claim_does_not_lapse_and_only_its_holder_renews_it(store):
    [job] = store.enqueue([NewJob("dm")], now=NOW)
    store.claim_due_jobs("w1", now=NOW, hold=MINUTE)
    assert store.renew_jobs([job.id], "w2", now=NOW + MINUTE / 2, hold=MINUTE) == 0
    assert store.renew_jobs([job.id], "w1", now=NOW + MINUTE / 2, hold=MINUTE) == 1
    assert store.claim_due_jobs("w2", now=NOW + MINUTE * 1.2, hold=MINUTE) == []  # would have lapsed at NOW + MINUTE
    assert [j.claimed_by for j in store.claim_due_jobs("w2", now=NOW + MINUTE * 2, hold=MINUTE)] == ["w2"]
    take = store.take_in([NewJob("command", {"text": "help"})], now=NOW, worker="w3", hold=MINUTE)
    assert [(j.claimed_by, j.attempts, j.claimed_until) for j in take] == [("w3", 1, NOW + MINUTE)]


def test_a_retried_job_waits_for_its_new_time_and_keeps_a_short_error(store):
    [job] = store.enqueue([NewJob("dm")], now=NOW)
    store.claim_due_jobs("w1", now=NOW, hold=HOUR)
    assert store.retry_job(job.id, "w2", due_at=NOW + MINUTE, error="not mine") is False
    assert store.retry_job(job.id, "w1", due_at=NOW + MINUTE, error="Slack said ratelimited " * 100) is True
    [waiting] = store.jobs()
    assert waiting.claimed_by is None and waiting.due_at == NOW + MINUTE
    assert len(waiting.last_error) == 500 and waiting.last_error.startswith("Slack said ratelimited")
    assert store.claim_due_jobs("w2", now=NOW, hold=HOUR) == []
    assert [j.attempts for j in store.claim_due_jobs("w2", now=NOW + MINUTE, hold=HOUR)] == [2]


def test_workers_claiming_at_once_never_share_a_job(store):
    store.enqueue([NewJob("dm", {"n": n}) for n in range(60)], now=NOW)
    barrier = threading.Barrier(6)
    claimed: dict[str, list[int]] = {}

    def work(worker):
        barrier.wait()
        mine = claimed.setdefault(worker, [])
        while jobs := store.claim_due_jobs(worker, now=NOW, hold=HOUR, limit=3):
            mine.extend(j.id for j in jobs)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    ids = [i for mine in claimed.values() for i in mine]
    assert sorted(ids) == sorted(j.id for j in store.jobs()) and len(set(ids)) == 60
    assert all(j.attempts == 1 for j in store.jobs())


def claim_everything(url, worker, barrier, results):
    """One process of the race below: claim and finish jobs one at a time until none is left."""
    store = open_store(url)
    barrier.wait()
    mine = []
    while jobs := store.claim_due_jobs(worker, now=NOW, hold=HOUR, limit=1):
        mine.extend(j.id for j in jobs)
        for job in jobs:
            store.finish_job(job.id, worker, now=NOW)
    store.close()
    results.put((worker, mine))


def test_two_processes_claim_each_job_once(url):
    store = open_store(url)
    store.enqueue([NewJob("dm", {"n": n}) for n in range(100)], now=NOW)
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    processes = [context.Process(target=claim_everything, args=(url, f"p{i}", barrier, results)) for i in range(2)]
    [p.start() for p in processes]
    got = dict(results.get(timeout=120) for _ in processes)
    [p.join(timeout=60) for p in processes]
    assert [p.exitcode for p in processes] == [0, 0]
    assert not set(got["p0"]) & set(got["p1"])
    jobs = store.jobs()
    assert sorted(got["p0"] + got["p1"]) == [j.id for j in jobs]
    assert all(j.attempts == 1 and j.done_at == NOW for j in jobs)
    store.close()


# -- leavers -----------------------------------------------------------------------------

def leaving(store, event: str):
    return store.open_leaver("U0JANE", NewJob("leaver", {"user_id": "U0JANE"}, key=f"slack-event:{event}"),
                             now=NOW, worker="w1", hold=MINUTE)


def test_a_leaving_is_open_while_its_work_runs_and_its_removals_are_open(store):
    job = leaving(store, "Ev1")
    assert (job.claimed_by, job.attempts) == ("w1", 1)  # the process that wrote it runs it
    assert leaving(store, "Ev2") is None  # being handled
    removal = store.file_request(user_name="jane.doe", groups=[], console=False, owner_id="U0JANE",
                                 requester_id="iam-bot", team_id="T0TEAM", now=NOW, kind="remove")
    store.leaver_removals("U0JANE", job.id, [removal.id])
    assert store.finish_job(job.id, "w1", now=NOW)
    assert leaving(store, "Ev3") is None  # its removal is pending
    store.transition(removal.id, from_states=[storage.PENDING], to_state=storage.DENIED, actor_id="U0BOB",
                     what="denied", now=NOW)
    again = leaving(store, "Ev4")  # ended: a new event is a new leaving
    assert again is not None and again.id != job.id
    assert leaving(store, "Ev4") is None  # Slack delivering the same event again
    assert store.close_leaver("U0JANE") and not store.close_leaver("U0JANE")  # reactivated
    assert leaving(store, "Ev5") is not None


# -- leases ------------------------------------------------------------------------------

def test_a_lease_has_one_holder_until_it_expires_and_its_holder_renews_it(store):
    assert store.acquire_lease("sweep", "replica-a", now=NOW, ttl=MINUTE)
    assert not store.acquire_lease("sweep", "replica-b", now=NOW + MINUTE / 2, ttl=MINUTE)
    assert lease_holder(store, "sweep", now=NOW + MINUTE / 2) == "replica-a"
    assert store.acquire_lease("sweep", "replica-a", now=NOW + MINUTE / 2, ttl=MINUTE)  # renewed
    assert not store.acquire_lease("sweep", "replica-b", now=NOW + MINUTE, ttl=MINUTE)
    assert lease_holder(store, "sweep", now=NOW + 2 * MINUTE) is None  # expired
    assert store.acquire_lease("sweep", "replica-b", now=NOW + 2 * MINUTE, ttl=MINUTE)
    assert store.acquire_lease("remind", "replica-a", now=NOW + 2 * MINUTE, ttl=MINUTE)  # another duty
    assert not store.release_lease("sweep", "replica-a")
    assert store.release_lease("sweep", "replica-b")
    assert lease_holder(store, "sweep", now=NOW + 2 * MINUTE) is None
    assert store.acquire_lease("sweep", "replica-a", now=NOW + 2 * MINUTE, ttl=MINUTE)


def test_replicas_racing_for_a_lease_give_it_to_one(url):
    store = open_store(url)
    barrier = threading.Barrier(8)
    won = []

    def race(i):
        barrier.wait()
        if store.acquire_lease("sweep", f"replica-{i}", now=NOW, ttl=MINUTE):
            won.append(f"replica-{i}")

    threads = [threading.Thread(target=race, args=(i,)) for i in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(won) == 1 and lease_holder(store, "sweep", now=NOW) == won[0]
    store.close()


# -- health, start-up, files -------------------------------------------------------------

def test_a_healthy_store_passes_its_check(store):
    store.check()
    store.check()


def test_two_stores_starting_together_on_a_new_database_migrate_it_once(url):
    barrier = threading.Barrier(2)
    stores, errors = [], []

    def start():
        barrier.wait()
        try:
            stores.append(open_store(url))
        except Exception as error:  # noqa: BLE001 - the assertion below shows it
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert errors == []
    request = file(stores[0])
    assert stores[1].get(request.id) == request
    for s in stores:
        s.close()


def test_postgres_records_its_migrations_once(postgres_url):
    open_store(postgres_url).close()
    store = open_store(postgres_url.replace("postgresql://", "postgres://"))  # Heroku's spelling
    with store._read() as tx:
        assert [r["name"] for r in tx.rows("SELECT name FROM iam_bot_migrations")] == [
            "0001_requests_events_jobs_leases", "0002_one_live_request_per_name_and_kind", "0003_key_holds",
            "0004_key_attempts", "0005_leavers",
            "0006_due_work_and_request_path_indexes", "0007_audit_stream", "0008_grants", "0009_reconciler",
            "0010_homes", "0011_reviews", "0012_group_drops", "0013_request_account",
            "0014_campaign_account"]
    store.close()


def test_an_unknown_database_url_is_refused():
    with pytest.raises(ValueError, match="sqlite:///"):
        open_store("mysql://u:secret@db/iam")


def test_the_sqlite_file_and_its_journal_are_private(tmp_path):
    old = os.umask(0)
    try:
        store = open_store(f"sqlite:///{tmp_path}/p.db")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "p.db").st_mode) == 0o600
    file(store)
    with store._write() as tx:
        tx.count("UPDATE requests SET card_ts = '1'")
        journals = [p for p in tmp_path.iterdir() if p.name != "p.db"]
        assert journals and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in journals)
    store.close()


def test_sqlite_migrations_are_applied_once(tmp_path):
    open_store(f"sqlite:///{tmp_path}/m.db").close()
    store = open_store(f"sqlite:///{tmp_path}/m.db")
    with store._read() as tx:
        assert [r["name"] for r in tx.rows("SELECT name FROM _sqlite_migrations ORDER BY id")] == [
            "m001_requests_and_events", "m002_kinds_jobs_leases", "m003_one_live_request_per_name_and_kind",
            "m004_key_holds", "m005_key_attempts", "m006_leavers",
            "m007_due_work_and_request_path_indexes", "m008_audit_stream", "m009_grants", "m010_reconciler",
            "m011_homes", "m012_reviews", "m013_group_drops", "m014_request_account",
            "m015_campaign_account"]
    store.close()


def test_a_deleted_sqlite_file_fails_the_check_and_every_write(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/gone.db")
    request = file(store)
    for path in tmp_path.iterdir():
        path.unlink()
    with pytest.raises(StoreError, match="gone"):
        store.check()
    with pytest.raises(StoreError):
        approve(store, request.id)
    with pytest.raises(StoreError):
        store.enqueue([NewJob("dm")], now=NOW)
    assert list(tmp_path.iterdir()) == []  # nothing quietly made a new, empty database
    store.close()


def _read_only_story(directory: str) -> list[str]:
    """Make the database read-only under a running store; what each step then did."""
    said = []

    def attempt(name, action):
        try:
            action()
            said.append(f"{name}: ok")
        except StoreError as error:
            said.append(f"{name}: StoreError {error}")

    store = open_store(f"sqlite:///{directory}/ro.db")
    request = file(store)
    attempt("check before", store.check)
    os.chmod(directory, 0o500)  # the directory first: the file itself is still writable
    attempt("check, directory read-only", store.check)
    attempt("approve, directory read-only", lambda: approve(store, request.id))
    os.chmod(os.path.join(directory, "ro.db"), 0o400)
    attempt("check, file read-only", store.check)
    attempt("file, file read-only", lambda: file(store, "john.roe", owner="U0JOHN"))
    other = []
    thread = threading.Thread(target=lambda: attempt("claim from a new thread",
                                                     lambda: other.append(store.claim_due_jobs("w", now=NOW,
                                                                                               hold=HOUR))))
    thread.start()
    thread.join()
    attempt("read", lambda: said.append(f"state is {store.get(request.id).state}"))
    store.close()
    return said


def test_a_read_only_sqlite_database_fails_the_check_and_every_write_without_killing_the_process(tmp_path):
    if os.geteuid() != 0:
        directory = tmp_path / "ro"
        directory.mkdir()
        said = _read_only_story(str(directory))
    else:
        said = _read_only_story_as_nobody()
    assert said[0] == "check before: ok", said
    assert all(": StoreError" in line for line in said[1:6]), said
    assert "read-only" in said[3]
    assert said[-2:] == ["state is pending", "read: ok"]


def _read_only_story_as_nobody() -> list[str]:
    """Root may write to any file, so as root the story runs in a forked child as `nobody`."""
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no `nobody` user to run the read-only story as")
    top = tempfile.mkdtemp(prefix="iam-bot-read-only-")
    try:
        os.chmod(top, 0o755)
        directory = os.path.join(top, "ro")
        os.mkdir(directory)
        os.chown(directory, nobody.pw_uid, nobody.pw_gid)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child never returns into pytest
            try:
                os.close(read)
                os.setgid(nobody.pw_gid)
                os.setuid(nobody.pw_uid)
                said = _read_only_story(directory)
            except BaseException:
                said = ["crashed: " + traceback.format_exc()]
            os.write(write, json.dumps(said).encode())
            os._exit(0)
        os.close(write)
        with os.fdopen(read, "rb") as pipe:
            output = pipe.read()
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"the child died: status {status}"
        return json.loads(output)
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_a_read_only_postgres_database_fails_the_check_and_writes_but_still_reads(postgres_url, postgres_server):
    import psycopg

    store = open_store(postgres_url)
    request = file(store)
    name = postgres_url.rsplit("/", 1)[1]
    with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])
    with pytest.raises(StoreError, match="read-only"):
        store.check()
    with pytest.raises(StoreError, match="read-only"):
        approve(store, request.id)
    assert store.get(request.id).state == storage.PENDING
    store.close()


@pytest.mark.parametrize("url, kind, target", [
    ("sqlite:///iam-bot.db", "sqlite", "iam-bot.db"),
    ("sqlite:////var/lib/iam-bot/iam-bot.db", "sqlite", "/var/lib/iam-bot/iam-bot.db"),
    ("postgresql://bot:pw@db.internal:5432/iam", "postgresql", "postgresql://bot:pw@db.internal:5432/iam"),
    ("postgres://bot:pw@ec2.example.com:5432/d8", "postgresql", "postgres://bot:pw@ec2.example.com:5432/d8"),
])
def test_database_urls_name_their_store(url, kind, target):
    assert storage.parse_database_url(url) == (kind, target)


@pytest.mark.parametrize("url", ["sqlite:///", "sqlite://relative.db", "mysql://bot:pw@db/iam", "postgres://a b"])
def test_other_database_urls_are_refused_without_repeating_them(url):
    with pytest.raises(ValueError) as raised:
        storage.parse_database_url(url)
    assert "pw@" not in str(raised.value)


def test_one_live_request_per_name_and_kind_and_a_done_removal_frees_the_name(store):
    create = file(store)
    store.transition(create.id, from_states=[storage.PENDING], to_state=storage.PROVISIONED, actor_id=None,
                     what="provisioned", now=NOW)
    removal = file(store, name="Jane.Doe", kind=storage.REMOVE)  # another kind: not blocked by the create
    with pytest.raises(storage.DuplicateRequest) as duplicate:
        file(store, kind=storage.REMOVE)
    assert duplicate.value.existing_id == removal.id
    store.transition(removal.id, from_states=[storage.PENDING], to_state=storage.PROVISIONED, actor_id=None,
                     what="provisioned", now=NOW)
    again = file(store, kind=storage.REMOVE)  # a finished removal holds no name
    with pytest.raises(storage.DuplicateRequest):
        file(store)  # the create still does, until its user is removed
    store.transition(create.id, from_states=[storage.PROVISIONED], to_state=storage.REMOVED, actor_id=None,
                     what="user_removed", now=NOW)
    assert file(store).state == storage.PENDING
    assert [r.id for r in store.for_user_name("JANE.DOE")][:3] == [create.id, removal.id, again.id]
