"""The request store: conditional transitions, duplicates, the append-only event log."""

import datetime as dt
import sqlite3
import threading

import pytest

import storage
from storage import DuplicateRequest, Store

NOW = dt.datetime(2026, 11, 28, 10, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "t.db")
    yield s
    s.close()


def file(store, name="jane.doe", owner="U0JANE"):
    return store.file_request(user_name=name, groups=["Developers"], console=True, owner_id=owner,
                              requester_id="U0ALICE", team_id="T0TEAM", now=NOW)


def test_filing_stores_pending_with_an_event(store):
    request = file(store)
    assert request.state == storage.PENDING and request.created_at == NOW
    [event] = store.events(request.id)
    assert (event.what, event.actor_id, event.at) == ("filed", "U0ALICE", NOW)


def test_a_second_live_request_for_the_same_name_ignoring_case_is_refused(store):
    first = file(store)
    with pytest.raises(DuplicateRequest) as raised:
        file(store, "JANE.DOE")
    assert raised.value.existing_id == first.id
    store.transition(first.id, from_states=[storage.PENDING], to_state=storage.DENIED, actor_id="U0BOB",
                     what="denied", now=NOW)
    assert file(store, "Jane.Doe").id == first.id + 1


def test_a_transition_wins_once(store):
    request = file(store)
    won = store.transition(request.id, from_states=[storage.PENDING], to_state=storage.APPROVED,
                           actor_id="U0BOB", what="approved", now=NOW, decider_id="U0BOB", decided_at=NOW)
    assert won.state == storage.APPROVED and won.decider_id == "U0BOB"
    lost = store.transition(request.id, from_states=[storage.PENDING], to_state=storage.DENIED,
                            actor_id="U0CAROL", what="denied", now=NOW)
    assert lost is None
    assert [e.what for e in store.events(request.id)] == ["filed", "approved"]


def test_threads_racing_on_one_request_produce_one_winner(tmp_path):
    path = tmp_path / "race.db"
    store = Store(path)
    request = file(store)
    barrier = threading.Barrier(16)
    results = []

    def click(i):
        barrier.wait()
        target = storage.APPROVED if i % 2 else storage.DENIED
        results.append(store.transition(request.id, from_states=[storage.PENDING], to_state=target,
                                        actor_id=f"U{i}", what=target, now=NOW))

    threads = [threading.Thread(target=click, args=(i,)) for i in range(16)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert len(store.events(request.id)) == 2
    # A second store on the same file (another process) sees the same truth.
    other = Store(path)
    assert other.get(request.id).state == winners[0].state
    store.close()
    other.close()


def test_events_cannot_be_changed_or_deleted(store):
    file(store)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store._db().execute("UPDATE events SET what = 'x'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store._db().execute("DELETE FROM events")


def test_only_known_columns_change(store):
    request = file(store)
    with pytest.raises(ValueError):
        store.transition(request.id, from_states=[storage.PENDING], to_state=storage.APPROVED, actor_id="U0BOB",
                         what="approved", now=NOW, owner_id="U0BOB")


def test_migrations_are_applied_once_and_the_database_uses_wal(tmp_path):
    Store(tmp_path / "m.db").close()
    store = Store(tmp_path / "m.db")
    db = store._db()
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert db.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()[0] == 1
    store.close()


def test_record_step_is_kept_across_restarts(tmp_path):
    store = Store(tmp_path / "s.db")
    request = file(store)
    store.transition(request.id, from_states=[storage.PENDING], to_state=storage.APPROVED, actor_id="U0BOB",
                     what="approved", now=NOW)
    store.record_step(request.id, "create_user", now=NOW, user_arn="arn:aws:iam::123456789012:user/jane.doe")
    store.close()
    again = Store(tmp_path / "s.db")
    assert again.get(request.id).steps_done == ("create_user",)
    assert again.get(request.id).user_arn.endswith("user/jane.doe")
    again.close()
