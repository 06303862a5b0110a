"""A store on SQLite and on a real PostgreSQL server, and a request filed and approved in it,
for the tests of the store itself."""

import datetime as dt

import pytest

import storage
from storage import open_store

NOW = dt.datetime(2026, 11, 28, 10, 0, tzinfo=dt.timezone.utc)
HOUR = dt.timedelta(hours=1)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/t.db"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def store(url):
    s = open_store(url)
    yield s
    s.close()


def file(store, name="jane.doe", owner="U0JANE", **kwargs):
    return store.file_request(user_name=name, groups=["Developers"], console=True, owner_id=owner,
                              requester_id="U0ALICE", team_id="T0TEAM", now=NOW, **kwargs)


def lease_holder(store, name, *, now):
    """Who holds the lease `name` at `now`: a test's look into the leases table (the bot only takes,
    renews and releases leases)."""
    with store._read() as tx:
        row = tx.one("SELECT holder FROM leases WHERE name = ? AND until > ?", [name, store._time_in(now)])
    return row["holder"] if row else None


def approve(store, request_id, **kwargs):
    return store.transition(request_id, from_states=[storage.PENDING], to_state=storage.APPROVED,
                            actor_id="U0BOB", what="approved", now=NOW, **kwargs)
