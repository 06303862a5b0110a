"""A second person approves or denies; the user is provisioned in AWS. End to end over HTTP."""

import datetime as dt

import pytest

import storage
from bot import blocks
from tests.support.faults import Fault, count_calls
from tests.support.harness import APPROVALS, Bot, together
from tests.support.stories import thread_texts

pytestmark = pytest.mark.e2e


def file_jane(bot):
    response = bot.slash("U0ALICE", "create jane.doe Developers ReadOnly")
    assert "Request #1 filed" in bot.said(response.response_url)
    return bot.store.get(1)


def updates_of_card(slack):
    return [p for p in slack.of("chat.update") if p.get("channel") == APPROVALS]


def buttons(payload):
    return [e["action_id"] for b in payload.get("blocks", []) if b["type"] == "actions" for e in b["elements"]]


def test_bob_approves_and_the_user_exists_in_aws(bot, slack, aws):
    request = file_jane(bot)
    response = bot.click("U0BOB", blocks.ACTION_APPROVE, request.id)
    assert response.status_code == 200
    # The card: buttons gone, decision and decider shown.
    last_card = updates_of_card(slack)[-1]
    assert last_card["ts"] == request.card_ts and buttons(last_card) == []
    assert "Approved by <@U0BOB>" in str(last_card["blocks"])
    # AWS holds the user, on the configured path, with the trail in its tags, in both groups.
    user = aws.get_user(UserName="jane.doe")["User"]
    assert user["Path"] == "/people/"
    tags = {t["Key"]: t["Value"] for t in aws.list_user_tags(UserName="jane.doe")["Tags"]}
    assert tags == {"iam-bot:request-id": "1", "iam-bot:requester": "U0ALICE", "iam-bot:approver": "U0BOB",
                    "iam-bot:owner-slack-id": "U0JANE"}
    assert aws.get_login_profile(UserName="jane.doe")["LoginProfile"]["UserName"] == "jane.doe"
    groups = {g["GroupName"] for g in aws.list_groups_for_user(UserName="jane.doe")["Groups"]}
    assert groups == {"Developers", "ReadOnly"}
    # The thread tells the outcome; the store has the whole trail.
    threads = thread_texts(slack)
    assert any(user["Arn"] in t and "`Developers`" in t for t in threads)
    assert any("Sign-in details delivered to <@U0JANE>" in t for t in threads)
    done = bot.store.get(1)
    assert done.state == storage.PROVISIONED and done.decider_id == "U0BOB" and done.user_arn == user["Arn"]
    assert [e.what for e in bot.store.events(1)] == [
        "filed", "card_sent", "approved", "step:create_user", "step:login_profile", "step:group:Developers",
        "step:group:ReadOnly", "provisioned", "reveal_button_sent", "sign_in_delivered"]


def test_no_console_creates_no_login_profile(bot, aws):
    bot.slash("U0ALICE", "create ci.bot Developers <@U0DAN> --no-console")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    assert bot.store.get(1).state == storage.PROVISIONED
    with pytest.raises(aws.exceptions.NoSuchEntityException):
        aws.get_login_profile(UserName="ci.bot")


def test_bob_denies_with_a_reason(bot, slack, aws):
    request = file_jane(bot)
    bot.click("U0BOB", blocks.ACTION_DENY, request.id)
    [opened] = slack.of("views.open")
    assert opened["view"]["callback_id"] == blocks.VIEW_DENY and opened["view"]["private_metadata"] == "1"
    assert bot.store.get(1).state == storage.PENDING  # opening the modal decides nothing
    response = bot.submit_deny("U0BOB", 1, "use the <!channel> shared account <http://evil|here>")
    assert response.status_code == 200
    denied = bot.store.get(1)
    assert denied.state == storage.DENIED and denied.decider_id == "U0BOB"
    card = updates_of_card(slack)[-1]
    text = str(card["blocks"])
    assert buttons(card) == [] and "Denied by <@U0BOB>" in text
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text and "<http://evil" not in text
    dm = [p for p in slack.of("chat.postMessage") if p.get("channel") == "D0ALICE"]
    assert dm and "was denied by <@U0BOB>" in dm[0]["text"] and "&lt;!channel&gt;" in str(dm[0]["blocks"])
    with pytest.raises(aws.exceptions.NoSuchEntityException):
        aws.get_user(UserName="jane.doe")
    assert [e.what for e in bot.store.events(1)] == ["filed", "card_sent", "denied"]


def test_an_empty_deny_reason_is_asked_for_again(bot):
    file_jane(bot)
    response = bot.submit_deny("U0BOB", 1, "   ")
    assert response.json()["response_action"] == "errors"
    assert bot.store.get(1).state == storage.PENDING


REFUSED_DECIDERS = [
    ("U0ALICE", "you asked for it", "requester"),
    ("U0JANE", "the account is for you", "owner"),
    ("U0DAN", "not one of the approvers", "not_approver"),
    ("U0FAR", "another Slack workspace", "other_workspace"),
    ("U0ROBOT", "bots cannot approve", "bot"),
    ("U0GONE", "deactivated", "deleted"),
    ("U0GUEST", "guest accounts cannot approve", "guest"),
]


def assert_nothing_changed(bot, slack, aws, who, reason):
    assert bot.store.get(1).state == storage.PENDING
    assert updates_of_card(slack) == []
    assert bot.store.events(1)[-1].what == f"refused:{reason}" and bot.store.events(1)[-1].actor_id == who
    with pytest.raises(aws.exceptions.NoSuchEntityException):
        aws.get_user(UserName="jane.doe")


@pytest.mark.parametrize("who, says, reason", REFUSED_DECIDERS)
def test_who_may_not_approve_is_told_why_and_nothing_changes(bot, slack, aws, who, says, reason):
    request = file_jane(bot)
    user_team = "T0OTHER" if who == "U0FAR" else None
    response = bot.click(who, blocks.ACTION_APPROVE, request.id, user_team=user_team)
    [reply] = bot.responses(response.response_url)
    assert reply["response_type"] == "ephemeral" and says in reply["text"]
    assert_nothing_changed(bot, slack, aws, who, reason)


@pytest.mark.parametrize("who, says, reason", REFUSED_DECIDERS[:2])
def test_the_requester_and_the_owner_get_no_deny_form(bot, slack, aws, who, says, reason):
    """The store alone knows who asked and whom it is for: refused at once, no modal."""
    request = file_jane(bot)
    response = bot.click(who, blocks.ACTION_DENY, request.id)
    [reply] = bot.responses(response.response_url)
    assert reply["response_type"] == "ephemeral" and says in reply["text"]
    assert slack.of("views.open") == []
    assert_nothing_changed(bot, slack, aws, who, reason)


# A deactivated account cannot click at all, nor receive the ephemeral answer (Slack: user_not_in_channel).
@pytest.mark.parametrize("who, says, reason", [r for r in REFUSED_DECIDERS[2:] if r[0] != "U0GONE"])
def test_who_may_not_deny_is_told_why_when_the_reason_is_submitted(bot, slack, aws, who, says, reason):
    """Deny's modal opens at once (views.open must beat Slack's 3 s); the person is checked at decision time."""
    request = file_jane(bot)
    user_team = "T0OTHER" if who == "U0FAR" else None
    response = bot.click(who, blocks.ACTION_DENY, request.id, user_team=user_team)
    assert bot.responses(response.response_url) == []
    [opened] = slack.of("views.open")
    assert opened["view"]["private_metadata"] == str(request.id)
    bot.submit_deny(who, request.id, "not needed")
    [ephemeral] = slack.of("chat.postEphemeral")
    assert ephemeral["user"] == who and says in ephemeral["text"]
    assert_nothing_changed(bot, slack, aws, who, reason)


def test_deny_opens_its_form_without_asking_slack_anything_first(bot, slack):
    """Even with users.info and the user groups slow or rate limited, the modal's trigger is used at once."""
    file_jane(bot)
    before = len(slack.calls)
    bot.click("U0CAROL", blocks.ACTION_DENY, 1)
    assert [c.method for c in slack.calls[before:]] == ["views.open"]


def test_a_refused_deny_submission_changes_nothing(bot, slack):
    file_jane(bot)
    bot.submit_deny("U0ALICE", 1, "I changed my mind")
    assert bot.store.get(1).state == storage.PENDING
    [ephemeral] = slack.of("chat.postEphemeral")
    assert ephemeral["user"] == "U0ALICE" and "you asked for it" in ephemeral["text"]


def test_carol_approves_through_her_user_group(bot, aws):
    file_jane(bot)
    bot.click("U0CAROL", blocks.ACTION_APPROVE, 1)
    assert bot.store.get(1).state == storage.PROVISIONED


def test_a_decided_request_says_so_and_changes_nothing(bot, slack):
    file_jane(bot)
    bot.submit_deny("U0BOB", 1, "no")
    response = bot.click("U0CAROL", blocks.ACTION_APPROVE, 1)
    assert "Request #1 is already denied; nothing changed." in bot.said(response.response_url)
    assert bot.store.get(1).state == storage.DENIED


def test_a_click_after_the_ttl_expires_the_request(make_bot, slack, aws):
    now = [dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.timezone.utc)]
    bot = make_bot(clock=lambda: now[0], iam_bot_request_ttl="2h")
    file_jane(bot)
    now[0] += dt.timedelta(hours=2)
    response = bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    assert "has expired" in bot.said(response.response_url)
    assert bot.store.get(1).state == storage.EXPIRED
    assert "Expired" in str(updates_of_card(slack)[-1]["blocks"]) and buttons(updates_of_card(slack)[-1]) == []
    with pytest.raises(aws.exceptions.NoSuchEntityException):
        aws.get_user(UserName="jane.doe")


def test_the_sweep_expires_what_nobody_decided(make_bot, slack):
    now = [dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.timezone.utc)]
    bot = make_bot(clock=lambda: now[0], iam_bot_request_ttl="1h")
    file_jane(bot)
    bot.run_duty("sweep")
    assert bot.store.get(1).state == storage.PENDING
    now[0] += dt.timedelta(minutes=61)
    bot.run_duty("sweep")
    bot.settle()
    assert bot.store.get(1).state == storage.EXPIRED
    assert "Expired" in str(updates_of_card(slack)[-1]["blocks"])
    assert any("expired" in t for t in thread_texts(slack))
    assert [e.what for e in bot.store.events(1)] == ["filed", "card_sent", "expired"]


def test_fifty_concurrent_approvals_create_the_user_once(bot, aws):
    file_jane(bot)
    creates = count_calls(bot.client, "CreateUser")
    statuses = bot.clicks_at_once(["U0BOB"] * 50, blocks.ACTION_APPROVE, "1")
    assert statuses == [200] * 50
    assert creates == ["CreateUser"]
    assert [e.what for e in bot.store.events(1)].count("approved") == 1
    assert bot.store.get(1).state == storage.PROVISIONED


def test_approve_racing_deny_ends_in_exactly_one_decision(bot, aws):
    request = file_jane(bot)
    approvals = [bot.action_body("U0BOB", blocks.ACTION_APPROVE, str(request.id))[0] for _ in range(10)]

    def deny():
        bot.submit_deny("U0CAROL", request.id, "race", settle=False)

    together([(lambda body=approvals[i // 2]: bot.post(body)) if i % 2 else deny for i in range(20)])
    bot.settle()
    events = [e.what for e in bot.store.events(request.id)]
    assert events.count("approved") + events.count("denied") == 1
    final = bot.store.get(request.id).state
    assert final in (storage.PROVISIONED, storage.DENIED)
    exists = bool(aws.list_users(PathPrefix="/people/")["Users"])
    assert exists is (final == storage.PROVISIONED)


def test_throttling_is_retried_and_the_request_completes(bot, aws):
    file_jane(bot)
    fault = Fault(bot.client, "CreateUser", "Throttling", times=2)
    bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    assert fault.hits == 2
    assert bot.store.get(1).state == storage.PROVISIONED
    assert aws.get_user(UserName="jane.doe")["User"]["UserName"] == "jane.doe"


def test_a_permanent_failure_fails_the_request_and_retry_resumes_from_that_step(bot, slack, aws):
    file_jane(bot)
    creates = count_calls(bot.client, "CreateUser")
    fault = Fault(bot.client, "AddUserToGroup", "AccessDenied", status=403)
    bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    failed = bot.store.get(1)
    assert failed.state == storage.FAILED and "not allowed" in failed.failure
    assert "group:Developers" not in failed.steps_done and "create_user" in failed.steps_done
    assert any("Provisioning of `jane.doe` stopped" in t and "Could not add jane.doe to group Developers" in t
               for t in thread_texts(slack))
    card = updates_of_card(slack)[-1]
    assert buttons(card) == [blocks.ACTION_RETRY]
    # The requester cannot retry; an approver can, once the cause is gone.
    response = bot.click("U0ALICE", blocks.ACTION_RETRY, 1)
    assert "You cannot retry request #1" in bot.said(response.response_url)
    fault.remove()
    bot.click("U0BOB", blocks.ACTION_RETRY, 1)
    assert bot.store.get(1).state == storage.PROVISIONED
    assert creates == ["CreateUser"]
    groups = {g["GroupName"] for g in aws.list_groups_for_user(UserName="jane.doe")["Groups"]}
    assert groups == {"Developers", "ReadOnly"}
    assert buttons(updates_of_card(slack)[-1]) == []


def test_a_group_deleted_meanwhile_is_said_in_plain_words(bot, slack, aws):
    file_jane(bot)
    aws.delete_group(GroupName="ReadOnly")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    assert bot.store.get(1).state == storage.FAILED
    assert any("group ReadOnly: the group no longer exists in AWS" in t for t in thread_texts(slack))


def test_a_user_created_meanwhile_by_someone_else_is_left_alone(bot, slack, aws):
    file_jane(bot)
    aws.create_user(UserName="jane.doe", Tags=[{"Key": "team", "Value": "other"}])
    bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    request = bot.store.get(1)
    assert request.state == storage.FAILED and "was not created by request #1" in request.failure
    with pytest.raises(aws.exceptions.NoSuchEntityException):
        aws.get_login_profile(UserName="jane.doe")
    assert aws.list_groups_for_user(UserName="jane.doe")["Groups"] == []


def later():
    return dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5)


def test_a_crash_mid_provisioning_resumes_at_start_up(tmp_path, slack, moto_url, aws, make_bot):
    bot = make_bot()
    file_jane(bot)
    creates = count_calls(bot.client, "CreateUser")
    Fault(bot.client, "AddUserToGroup", "-", raise_instead=RuntimeError("process died"))
    bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    assert bot.store.get(1).state == storage.APPROVED  # stuck mid-way, as after a crash
    assert creates == ["CreateUser"]
    # Same SQLite file, a new process's worth of objects, a little later: the work is due again.
    restarted = make_bot(clock=later)
    creates_after = count_calls(restarted.client, "CreateUser")
    restarted.settle()
    assert restarted.store.get(1).state == storage.PROVISIONED
    assert creates_after == []  # resumed after create_user, not repeated
    assert {g["GroupName"] for g in aws.list_groups_for_user(UserName="jane.doe")["Groups"]} == {"Developers", "ReadOnly"}


def test_a_resumed_create_user_counts_as_done_only_with_our_tag(tmp_path, slack, moto_url, aws, make_bot):
    bot = make_bot()
    file_jane(bot)
    # The process died after AWS created the user but before the step was recorded.
    Fault(bot.client, "CreateLoginProfile", "-", raise_instead=RuntimeError("process died"))
    bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    bot.store._db().execute("UPDATE requests SET steps_done = '[]' WHERE id = 1")
    restarted = make_bot(clock=later)
    restarted.settle()
    assert restarted.store.get(1).state == storage.PROVISIONED


@pytest.mark.parametrize("action", [blocks.ACTION_APPROVE, blocks.ACTION_DENY, blocks.ACTION_RETRY,
                                    blocks.ACTION_REVEAL])
@pytest.mark.parametrize("value", ["999", "abc", "", "-1", "1" * 40])
def test_a_button_naming_no_request_gets_a_clear_message(bot, action, value):
    response = bot.click("U0BOB", action, value)
    said = bot.said(response.response_url)
    assert "There is no request #999" in said if value == "999" else "does not name a request" in said
    assert "Sorry" not in said


def test_a_malformed_deny_submission_changes_nothing(bot):
    import json
    import urllib.parse
    file_jane(bot)
    payload = {"type": "view_submission", "team": {"id": "T0TEAM"}, "user": {"id": "U0BOB", "team_id": "T0TEAM"},
               "view": {"id": "V1", "callback_id": blocks.VIEW_DENY, "private_metadata": "1"}}
    response = bot.post(urllib.parse.urlencode({"payload": json.dumps(payload)}))
    assert response.status_code == 400  # Bolt cannot parse a view without state
    payload["view"].update(type="modal", state={"values": {}})
    response = bot.post(urllib.parse.urlencode({"payload": json.dumps(payload)}))
    bot.settle()
    assert response.status_code == 200 and response.json()["response_action"] == "errors"
    assert bot.store.get(1).state == storage.PENDING
