"""/iam keys: an approver, or the owner, sees a user's access keys and their age."""

import datetime as dt

import pytest

import storage

pytestmark = pytest.mark.e2e


def keys_reply(bot, user, name):
    response = bot.slash(user, f"keys {name}")
    assert response.status_code == 200 and response.json()["response_type"] == "ephemeral"
    return bot.responses(response.response_url)


def test_approver_sees_keys_with_age_and_last_use(bot, aws):
    aws.create_user(UserName="sam")
    first = aws.create_access_key(UserName="sam")["AccessKey"]["AccessKeyId"]
    second = aws.create_access_key(UserName="sam")["AccessKey"]["AccessKeyId"]
    [reply] = keys_reply(bot, "U0BOB", "sam")
    assert reply["response_type"] == "ephemeral"
    text = reply["text"]
    assert first in text and second in text and "Active" in text
    assert "0 days old" in text and "never used" in text
    assert "secret" not in text.lower()


def test_old_and_unused_keys_are_flagged(make_bot, aws):
    aws.create_user(UserName="sam")
    key = aws.create_access_key(UserName="sam")["AccessKey"]["AccessKeyId"]
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=120)
    bot = make_bot(clock=lambda: later)
    [reply] = keys_reply(bot, "U0BOB", "sam")
    assert key in reply["text"]
    assert "120 days old" in reply["text"] and "rotate" in reply["text"] and "unused for 30+ days" in reply["text"]


def test_user_with_no_keys(bot, aws):
    aws.create_user(UserName="sam")
    [reply] = keys_reply(bot, "U0BOB", "sam")
    assert "has no access keys" in reply["text"]


def test_approver_through_a_user_group(bot, aws):
    aws.create_user(UserName="sam")
    [reply] = keys_reply(bot, "U0CAROL", "sam")  # carol is in S0ADMINS
    assert "has no access keys" in reply["text"]


def test_unknown_user_is_a_clear_message(bot):
    [reply] = keys_reply(bot, "U0BOB", "no.such.user")
    assert "There is no IAM user named `no.such.user`" in reply["text"]


def test_someone_else_is_refused_and_it_is_recorded(bot, aws):
    aws.create_user(UserName="sam")
    aws.create_access_key(UserName="sam")
    [reply] = keys_reply(bot, "U0DAN", "sam")
    assert "Only approvers, and the owner of `sam`, can list its access keys." == reply["text"]
    assert [(e.actor_id, e.what, e.detail) for e in bot.store.events()] == [("U0DAN", "refused:keys", "sam")]


def test_the_owner_may_list_their_own_keys(bot, aws):
    now = dt.datetime.now(dt.timezone.utc)
    request = bot.store.file_request(user_name="dan.d", groups=["Developers"], console=True, owner_id="U0DAN",
                                     requester_id="U0ALICE", team_id="T0TEAM", now=now)
    for target in (storage.APPROVED, storage.PROVISIONED):
        bot.store.transition(request.id, from_states=[storage.PENDING, storage.APPROVED], to_state=target,
                             actor_id="U0BOB", what=target, now=now)
    aws.create_user(UserName="dan.d")
    [reply] = keys_reply(bot, "U0DAN", "dan.d")
    assert "has no access keys" in reply["text"]
    [refused] = keys_reply(bot, "U0DAN", "someone.else")
    assert "Only approvers" in refused["text"]


def test_keys_costs_one_look_up_one_listing_and_one_call_per_key(bot, aws, moto_url):
    aws.create_user(UserName="sam")
    aws.create_access_key(UserName="sam")
    aws.create_access_key(UserName="sam")
    calls = []
    bot.client.meta.events.register("before-call.iam.*", lambda model, **kw: calls.append(model.name))
    keys_reply(bot, "U0BOB", "sam")
    assert calls == ["GetUser", "ListAccessKeys", "GetAccessKeyLastUsed", "GetAccessKeyLastUsed"]
