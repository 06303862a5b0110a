"""The store's guarded transition, on both backends: a write that depends on the details it
read wins only if they are unchanged, so concurrent approvals are neither lost nor doubled."""

import datetime as dt
import threading

import pytest

import storage
from storage import open_store

T0 = dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    url = f"sqlite:///{tmp_path}/t.db" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    s = open_store(url)
    yield s
    s.close()


def approvals(request):
    return request.details.get("approvals", [])


def add_approval(store, request_id, who):
    """Read, then write conditional on what was read; try again when another write landed first."""
    for _ in range(100):
        seen = store.get(request_id)
        details = {**seen.details, "approvals": [*approvals(seen), who]}
        won = store.transition(request_id, from_states=[storage.PENDING], to_state=storage.PENDING, actor_id=who,
                               what="approval", now=T0, details=details,
                               guard=lambda current, seen=approvals(seen): approvals(current) == seen)
        if won is not None:
            return
    raise AssertionError("never won")


def test_a_guard_that_fails_writes_nothing(store):
    request = store.file_request(user_name="jane.doe", groups=["Admins"], console=True, owner_id="U0JANE",
                                 requester_id="U0ALICE", team_id="T0", now=T0)
    lost = store.transition(request.id, from_states=[storage.PENDING], to_state=storage.APPROVED, actor_id="U0BOB",
                            what="approved", now=T0, guard=lambda current: False)
    assert lost is None and store.get(request.id).state == storage.PENDING
    assert [e.what for e in store.events(request.id)] == ["filed"]


def test_concurrent_guarded_writes_lose_nothing(store):
    request = store.file_request(user_name="jane.doe", groups=["Admins"], console=True, owner_id="U0JANE",
                                 requester_id="U0ALICE", team_id="T0", now=T0)
    people = [f"U{i:03d}" for i in range(12)]
    threads = [threading.Thread(target=add_approval, args=(store, request.id, who)) for who in people]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(approvals(store.get(request.id))) == people
    assert [e.what for e in store.events(request.id)].count("approval") == len(people)
