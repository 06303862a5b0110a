"""The two-person rule as a pure function: every rule, one row each."""

import datetime as dt

import pytest

import storage
from commands.rules import Person, Reason, decide_approval, may_see_keys
from storage import Request

NOW = dt.datetime(2026, 11, 28, 10, 0, tzinfo=dt.timezone.utc)
TTL = dt.timedelta(hours=24)


def request(**changes):
    values = dict(id=7, user_name="jane.doe", groups=("Developers",), console=True, owner_id="U0JANE",
                  requester_id="U0ALICE", team_id="T0TEAM", state=storage.PENDING,
                  created_at=NOW - dt.timedelta(hours=1), updated_at=NOW)
    values.update(changes)
    return Request(**values)


BOB = Person("U0BOB", team_id="T0TEAM")


@pytest.mark.parametrize("req, person, listed, reason", [
    (request(), BOB, True, Reason.ALLOWED),
    (request(), BOB, False, Reason.NOT_APPROVER),
    (request(), Person("U0ALICE", team_id="T0TEAM"), True, Reason.REQUESTER),
    (request(), Person("U0JANE", team_id="T0TEAM"), True, Reason.OWNER),
    (request(requester_id="U0JANE"), Person("U0JANE", team_id="T0TEAM"), True, Reason.REQUESTER),
    (request(), Person("U0FAR", team_id="T0OTHER"), True, Reason.OTHER_WORKSPACE),
    (request(), Person("U0ROBOT", team_id="T0TEAM", is_bot=True), True, Reason.BOT),
    (request(), Person("U0GONE", team_id="T0TEAM", deleted=True), True, Reason.DELETED),
    (request(), Person("U0GUEST", team_id="T0TEAM", is_guest=True), True, Reason.GUEST),
    (request(state=storage.APPROVED), BOB, True, Reason.NOT_PENDING),
    (request(state=storage.DENIED), BOB, True, Reason.NOT_PENDING),
    (request(state=storage.EXPIRED), BOB, True, Reason.NOT_PENDING),
    (request(state=storage.FAILED), BOB, True, Reason.NOT_PENDING),
    (request(created_at=NOW - TTL), BOB, True, Reason.EXPIRED),
    (request(created_at=NOW - TTL + dt.timedelta(seconds=1)), BOB, True, Reason.ALLOWED),
])
def test_decide_approval(req, person, listed, reason):
    decision = decide_approval(req, person, listed=listed, team_id="T0TEAM", now=NOW, request_ttl=TTL)
    assert decision.reason is reason
    assert decision.allowed is (reason is Reason.ALLOWED)


def test_refusal_messages_say_why_in_words():
    from bot.words import refusal
    decision = decide_approval(request(), Person("U0ALICE", team_id="T0TEAM"), listed=True, team_id="T0TEAM",
                               now=NOW, request_ttl=TTL)
    assert refusal(decision.reason, 7, "pending") == (
        "You cannot decide request #7: you asked for it, and a second person must decide.")


@pytest.mark.parametrize("person, listed, owns, allowed", [
    (BOB, True, False, True),
    (BOB, False, True, True),
    (BOB, False, False, False),
    (Person("U0GUEST", team_id="T0TEAM", is_guest=True), True, False, False),
    (Person("U0GUEST", team_id="T0TEAM", is_guest=True), False, True, True),
    (Person("U0ROBOT", team_id="T0TEAM", is_bot=True), True, True, False),
    (Person("U0FAR", team_id="T0OTHER"), True, True, False),
])
def test_may_see_keys(person, listed, owns, allowed):
    assert may_see_keys(caller=person, listed=listed, owns_user=owns, team_id="T0TEAM") is allowed


@pytest.mark.parametrize("state, person, listed, reason", [
    (storage.FAILED, BOB, True, Reason.ALLOWED),
    (storage.FAILED, Person("U0ALICE", team_id="T0TEAM"), True, Reason.REQUESTER),
    (storage.FAILED, Person("U0JANE", team_id="T0TEAM"), True, Reason.OWNER),
    (storage.FAILED, BOB, False, Reason.NOT_APPROVER),
    (storage.PROVISIONED, BOB, True, Reason.NOT_FAILED),
])
def test_decide_retry(state, person, listed, reason):
    from commands.rules import decide_retry
    decision = decide_retry(request(state=state), person, listed=listed, team_id="T0TEAM")
    assert decision.reason is reason and decision.allowed is (reason is Reason.ALLOWED)
