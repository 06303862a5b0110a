"""The store's compare-and-swap of a request's details, and the look-ups the audit half needs,
on SQLite and on a real PostgreSQL server."""

import storage
from tests.support.stores import HOUR, NOW, approve, file, store, url  # noqa: F401 (fixtures)


def test_revise_wins_only_against_the_details_it_read(store):
    request = file(store)
    first = store.revise(request.id, state=storage.PENDING, expected={}, details={"reminders": 1},
                         actor_id=None, what="reminded", now=NOW + HOUR, jobs=[storage.NewJob("thread", key="r:1")])
    assert first.details == {"reminders": 1} and first.state == storage.PENDING
    # A second runner that read the same request before the first wrote loses, and writes nothing.
    again = store.revise(request.id, state=storage.PENDING, expected={}, details={"reminders": 1},
                         actor_id=None, what="reminded", now=NOW + HOUR)
    assert again is None
    assert [e.what for e in store.events(request.id)] == ["filed", "reminded"]
    assert len(store.jobs(request_id=request.id)) == 1
    approve(store, request.id)
    assert store.revise(request.id, state=storage.PENDING, expected={"reminders": 1}, details={"reminders": 2},
                        actor_id=None, what="reminded", now=NOW + 3 * HOUR) is None


def test_requests_about_a_user_ignore_case_and_users_made_are_the_arns_created(store):
    first = file(store, name="Jane.Doe")
    store.transition(first.id, from_states=[storage.PENDING], to_state=storage.CANCELLED, actor_id="U0ALICE",
                     what="cancelled", now=NOW)
    second = file(store, name="jane.doe")
    file(store, name="sam", owner="U0SAM")
    assert [r.id for r in store.about_user("JANE.DOE")] == [first.id, second.id]
    assert store.users_made(["arn:aws:iam::1:user/jane.doe"]) == set()
    approve(store, second.id)
    store.record_step(second.id, "create_user", now=NOW, user_arn="arn:aws:iam::1:user/jane.doe")
    assert store.users_made(["arn:aws:iam::1:user/jane.doe", "arn:aws:iam::1:user/other"]) == {
        "arn:aws:iam::1:user/jane.doe"}
