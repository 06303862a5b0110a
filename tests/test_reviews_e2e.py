"""Access reviews (issue 22), end to end: signed HTTP, the strict Slack stand-in, moto made AWS-like,
a clock the test moves. A campaign over three groups (Developers with 25 members, on three cards),
Keep and Remove, two reviewers pressing at once, a reviewer's own user, a member removed outside
the bot, the reminders, each deadline action, the report and the JSON-lines export."""

import datetime as dt
import json
import re

import pytest

from bot import blocks, export_cli
from bot.features.reviews import ACTION_KEEP, ACTION_REMOVE
from bot.shell.credential_report import ReportFiller
from tests.support.grants import T0, groups_of
from tests.support.harness import APPROVALS
from tests.support.stories import dms_to_jane, provision_jane

pytestmark = pytest.mark.e2e

RULES = """
[defaults]
approvers = ["U0BOB", "U0CAROL"]

[[group]]
name = "Developers"

[[group]]
name = "Admins"
reviewers = ["U0BOB", "U0CAROL"]
on_deadline = "remove"
review_deadline = "7d"

[[group]]
name = "Ops"
reviewers = ["U0CAROL", "U0DAN"]
on_deadline = "disable"
"""


@pytest.fixture
def world(make_bot, aws, tmp_path):
    """jane.doe made by the bot (request #1, Developers) and 24 more developers made outside it;
    Admins: bob (bob's own user), breakglass (protected), robot (outside the bot's path), ann;
    Ops: ops.one with a console password and an access key."""
    for group in ("Admins", "Ops"):
        aws.create_group(GroupName=group)
    path = tmp_path / "rules.toml"
    path.write_text(RULES)
    now = [T0]
    bot = make_bot(clock=lambda: now[0], iam_bot_rules_file=str(path), iam_bot_protected_users="breakglass")
    filler = ReportFiller(bot.client, generated=lambda: now[0] - dt.timedelta(hours=1))
    provision_jane(bot)
    for n in range(1, 25):
        aws.create_user(UserName=f"dev{n:02}", Path="/people/")
        aws.add_user_to_group(UserName=f"dev{n:02}", GroupName="Developers")
    for name, path_ in (("bob", "/people/"), ("breakglass", "/people/"), ("robot", "/service/"), ("ann", "/people/")):
        aws.create_user(UserName=name, Path=path_)
        aws.add_user_to_group(UserName=name, GroupName="Admins")
    aws.create_user(UserName="ops.one", Path="/people/")
    aws.add_user_to_group(UserName="ops.one", GroupName="Ops")
    aws.create_login_profile(UserName="ops.one", Password="Xy-0123456789-long!")
    key = aws.create_access_key(UserName="ops.one")["AccessKey"]["AccessKeyId"]
    filler.set("jane.doe", password_last_used=T0 - dt.timedelta(days=3))
    filler.set("ops.one", access_key_1_last_used_date=T0 - dt.timedelta(days=40),
               access_key_1_last_used_service="s3", access_key_1_last_used_region="eu-west-1")

    def at(delta: dt.timedelta) -> None:
        now[0] = T0 + delta
        bot.run_duty("reviews")
        bot.settle()

    return bot, at, key


def cards(slack) -> list:
    """The review cards in the approvals channel, as they read now (chat.update included)."""
    return [m for m in slack.messages(APPROVALS) if not m.thread_ts and re.match(r"Access review #\d+: ", m.text)]


def card_of(slack, group: str, first: int = 1):
    [found] = [m for m in cards(slack) if f"{group}, members {first}-" in m.text
               or (first == 1 and m.text.endswith(f"{group}, " + m.text.rsplit(", ", 1)[-1]) and group in m.text)]
    return found


def item(bot, group: str, user: str):
    [found] = [i for i in bot.store.review_items(1, group) if i.user_name == user]
    return found


def said(bot, response) -> str:
    return response.json().get("text", "") + bot.said(response.response_url)


def start(bot, text="review start Developers Admins Ops", user="U0BOB"):
    calls = []
    bot.client.meta.events.register("before-call.iam", lambda model, **_: calls.append(model.name))
    response = bot.slash(user, text)
    return said(bot, response), calls


def test_a_campaign_posts_a_card_per_ten_members_from_the_report_and_one_get_group_a_group(world, slack):
    bot, at, _ = world
    answer, calls = start(bot)
    assert "Access review #1 started" in answer and "`Developers` (25)" in answer
    # the credential report's calls and one GetGroup a group: nothing per member
    assert calls.count("GetCredentialReport") == 1 and set(calls) == {
        "GenerateCredentialReport", "GetCredentialReport", "GetGroup"} and calls.count("GetGroup") == 3
    texts = [m.text for m in cards(slack)]
    assert texts == ["Access review #1: Developers, members 1-10 of 25", "Access review #1: Developers, members 11-20 of 25",
                     "Access review #1: Developers, members 21-25 of 25", "Access review #1: Admins, 4 members",
                     "Access review #1: Ops, 1 member"]
    first = str(cards(slack)[0].blocks)
    assert "0 of 25 reviewed" in first and "<@U0BOB>" in first and "<@U0CAROL>" in first
    jane = str(cards(slack)[2].blocks)  # dev01..dev24, then jane.doe: sorted by name
    assert "`jane.doe`" in jane and "owner <@U0JANE>" in jane and "bot request #1, approved by <@U0BOB>" in jane
    assert "console last sign-in 3 days ago" in jane and "MFA *off*" in jane
    admins = str(cards(slack)[3].blocks)
    assert "`bob`* · owner <@U0BOB>" in admins and "outside the bot" in admins and "no owner known" in admins
    ops = str(cards(slack)[4].blocks)
    assert "key 1 used 40 days ago (s3)" in ops and "<@U0DAN>" in ops


def test_keep_and_remove_update_the_card_and_the_progress_and_tell_the_owner(world, aws, slack):
    bot, at, _ = world
    start(bot)
    kept = item(bot, "Developers", "dev01")
    response = bot.click("U0BOB", ACTION_KEEP, kept.id, message_ts=cards(slack)[0].ts)
    assert "you kept it" in bot.said(response.response_url)
    assert "Developers" in groups_of(aws, "dev01")
    jane = item(bot, "Developers", "jane.doe")
    response = bot.click("U0CAROL", ACTION_REMOVE, jane.id, message_ts=cards(slack)[2].ts)
    assert "you removed it" in bot.said(response.response_url)
    assert "Developers" not in groups_of(aws, "jane.doe")
    first, third = str(cards(slack)[0].blocks), str(cards(slack)[2].blocks)
    assert "2 of 25 reviewed" in first and "<@U0BOB> kept it" in first
    assert "<@U0CAROL> removed it" in third and "jane.doe" in third
    assert not [b for b in cards(slack)[2].blocks if b.get("block_id") == f"review_{jane.id}"]  # no buttons left
    [dm] = [p for p in dms_to_jane(slack) if "access review #1" in p["text"]]
    assert "removed from `Developers` by <@U0CAROL>" in dm["text"]
    decisions = [json.loads(e.detail) for e in bot.store.events() if e.what == "review_decision"]
    assert [(d["user_name"], d["decision"], d["by"]) for d in decisions] == [
        ("dev01", "kept", "U0BOB"), ("jane.doe", "removed", "U0CAROL")]
    assert decisions[1]["seen"]["signed_in_days"] == 3


def test_two_reviewers_pressing_at_once_make_exactly_one_decision(world, aws, slack):
    bot, at, _ = world
    start(bot)
    removals = []
    bot.client.meta.events.register("before-call.iam.RemoveUserFromGroup", lambda **_: removals.append(1))
    target = item(bot, "Developers", "dev02")
    bot.clicks_at_once(["U0BOB", "U0CAROL", "U0BOB"], ACTION_REMOVE, str(target.id), message_ts=cards(slack)[0].ts)
    assert len(removals) == 1 and "Developers" not in groups_of(aws, "dev02")
    assert [e.what for e in bot.store.events()].count("review_decision") == 1
    assert bot.store.review_item(target.id).decision == "removed"
    told = [p.get("text", "") for p in slack.of("response_url")]
    assert sum("was decided already" in t for t in told) == 2


def test_a_reviewer_never_decides_about_their_own_user_and_others_are_not_reviewers(world, aws, slack):
    bot, at, _ = world
    start(bot)
    own = item(bot, "Admins", "bob")
    assert own.owner_id == "U0BOB"  # bob@example.com
    response = bot.click("U0BOB", ACTION_REMOVE, own.id, message_ts=cards(slack)[3].ts)
    assert "You own `bob`" in bot.said(response.response_url)
    response = bot.click("U0JANE", ACTION_KEEP, own.id, message_ts=cards(slack)[3].ts)
    assert "Only the reviewers of `Admins`" in bot.said(response.response_url)
    assert bot.store.review_item(own.id).decision is None and "Admins" in groups_of(aws, "bob")
    response = bot.click("U0CAROL", ACTION_KEEP, own.id, message_ts=cards(slack)[3].ts)
    assert bot.store.review_item(own.id).decision == "kept"


def test_a_member_removed_outside_the_bot_is_recorded_as_already_removed(world, aws, slack):
    bot, at, _ = world
    start(bot)
    aws.remove_user_from_group(UserName="dev03", GroupName="Developers")
    aws.remove_user_from_group(UserName="dev04", GroupName="Developers")
    response = bot.click("U0BOB", ACTION_KEEP, item(bot, "Developers", "dev03").id, message_ts=cards(slack)[0].ts)
    assert "already left the group" in bot.said(response.response_url)
    bot.click("U0BOB", ACTION_REMOVE, item(bot, "Developers", "dev04").id, message_ts=cards(slack)[0].ts)
    assert [bot.store.review_item(item(bot, "Developers", u).id).decision for u in ("dev03", "dev04")] == [
        "already_removed", "already_removed"]
    assert "<@U0BOB> found already removed it" in str(cards(slack)[0].blocks)


def test_reminders_back_off_then_the_deadline_acts_per_group_and_closes(world, aws, slack):
    bot, at, key = world
    start(bot)
    bot.click("U0CAROL", ACTION_KEEP, item(bot, "Admins", "ann").id, message_ts=cards(slack)[3].ts)

    def reminders():
        return [p["text"] for p in slack.of("chat.postMessage") if p.get("thread_ts") and ":bell:" in p["text"]]

    at(dt.timedelta(minutes=59))
    assert reminders() == []
    at(dt.timedelta(hours=1))
    assert len(reminders()) == 3  # one per group still undecided, in the thread of its first card
    assert any("25 of 25 members of `Developers`" in t and "<@U0BOB>" in t for t in reminders())
    at(dt.timedelta(hours=2))
    assert len(reminders()) == 3  # the next is 2 hours after the first
    at(dt.timedelta(hours=3))
    assert len(reminders()) == 6
    at(dt.timedelta(days=6))
    assert "Admins" in groups_of(aws, "bob")
    at(dt.timedelta(days=7))  # Admins' own deadline is the campaign's longest? no: the longest of its groups
    at(dt.timedelta(days=14))
    campaign = bot.store.campaign(1)
    assert campaign.closed_at is not None and bot.store.review_due_at("deadline", ["1"]) == {}
    # remove: bob removed; breakglass (protected) and robot (outside /people/) listed, never removed
    assert "Admins" not in groups_of(aws, "bob") and "Admins" in groups_of(aws, "ann")
    assert "Admins" in groups_of(aws, "breakglass") and "Admins" in groups_of(aws, "robot")
    # disable: ops.one keeps its group, loses its console password, its key is inactive
    assert "Ops" in groups_of(aws, "ops.one")
    assert not aws.list_access_keys(UserName="ops.one")["AccessKeyMetadata"][0]["Status"] == "Active"
    with pytest.raises(aws.exceptions.NoSuchEntityException):
        aws.get_login_profile(UserName="ops.one")
    # report: nothing changed in Developers, the undecided are listed in the one closing message
    assert len(aws.get_group(GroupName="Developers")["Users"]) == 25
    [summary] = [p for p in slack.of("chat.postMessage") if p.get("text") == "Access review #1 closed"]
    text = str(summary["blocks"])
    assert "Undecided, reported here" in text and "`dev01`" in text
    assert "Undecided, removed from the group: `bob`" in text
    assert "left alone" in text and "`breakglass` (protected)" in text and "`robot` (outside the bot's path)" in text
    assert "Undecided, disabled: `ops.one`" in text
    assert not [b for m in cards(slack) for b in m.blocks if b["type"] == "actions"]  # every card redrawn once
    assert "Nobody decided by the deadline" in str(cards(slack)[0].blocks) and ": reported" in str(cards(slack)[0].blocks)
    at(dt.timedelta(days=15))
    assert len([p for p in slack.of("chat.postMessage") if p.get("text") == "Access review #1 closed"]) == 1
    response = bot.click("U0BOB", ACTION_KEEP, item(bot, "Developers", "dev05").id, message_ts=cards(slack)[0].ts)
    assert "closed" in bot.said(response.response_url)


def test_the_report_and_the_json_lines_export_hold_every_decision(world, aws, slack, monkeypatch, capsys):
    bot, at, _ = world
    start(bot)
    bot.click("U0BOB", ACTION_KEEP, item(bot, "Developers", "dev01").id, message_ts=cards(slack)[0].ts)
    bot.click("U0CAROL", ACTION_REMOVE, item(bot, "Admins", "ann").id, message_ts=cards(slack)[3].ts)
    response = bot.slash("U0BOB", "review report")
    report = str(bot.responses(response.response_url))
    assert "Access review #1" in report and "`Developers`* (25): 1 kept, 24 undecided" in report
    assert "`ann`: removed by <@U0CAROL>" in report
    refused = bot.slash("U0JANE", "review report 1")
    assert "Only approvers can run `/iam review report`" in said(bot, refused)
    assert "Only approvers" in said(bot, bot.slash("U0JANE", "review start Developers"))
    assert "There is no access review #9" in said(bot, bot.slash("U0BOB", "review report 9"))
    monkeypatch.setenv("DATABASE_URL", bot.settings.database_url)
    assert export_cli.main(["--reviews", "--campaign", "1"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(l["group"], l["user_name"], l["decision"], l["by"]) for l in lines] == [
        ("Developers", "dev01", "kept", "U0BOB"), ("Admins", "ann", "removed", "U0CAROL")] or \
        sorted((l["user_name"], l["decision"]) for l in lines) == [("ann", "removed"), ("dev01", "kept")]
    assert all(l["seen"]["report_at"] and "how" in l["seen"] for l in lines)
    assert export_cli.main(["--reviews", "--campaign", "7"]) == 1
    assert export_cli.main([]) == 0  # the event log carries the decisions too
    trail = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sum(1 for e in trail if e["action"] == "review_decision") == 2


def test_bad_input_says_what_to_type_and_the_mfa_group_is_never_reviewed(make_bot, aws, slack, tmp_path):
    aws.create_group(GroupName="ForceMFA")
    bot = make_bot(iam_bot_mfa_group="ForceMFA")
    assert "`/iam review start`" in said(bot, bot.slash("U0BOB", "review"))
    assert "`/iam review report 3`" in said(bot, bot.slash("U0BOB", "review report x"))
    assert "never reviewed" in said(bot, bot.slash("U0BOB", "review start ForceMFA"))
    assert "AWS has no group `Nope`" in said(bot, bot.slash("U0BOB", "review start Nope"))
    assert "nothing to review" in said(bot, bot.slash("U0BOB", "review start"))  # no rules file, nothing granted
    assert bot.store.latest_campaign() is None


def test_slack_saying_slow_down_is_waited_out_and_no_card_is_posted_twice(world, slack):
    bot, at, _ = world
    slack.rate_limit("chat.postMessage", times=2, retry_after=1)
    start(bot)
    at(dt.timedelta(minutes=1))  # the posting job's next try (5 s later by the bot's clock)
    limited = [c for c in slack.calls if c.method == "chat.postMessage" and c.error == "ratelimited"]
    assert len(limited) == 2  # once waited out by the client, then the job tried again later: no loop
    assert [m.text.split(": ", 1)[1] for m in cards(slack)] == [
        "Developers, members 1-10 of 25", "Developers, members 11-20 of 25", "Developers, members 21-25 of 25",
        "Admins, 4 members", "Ops, 1 member"]


SCHEDULED = """
[defaults]
approvers = ["U0BOB", "U0CAROL"]

[[group]]
name = "Admins"
review_every = "30d"
review_deadline = "7d"
"""


def test_a_group_with_review_every_is_reviewed_on_schedule(make_bot, aws, slack, tmp_path):
    aws.create_group(GroupName="Admins")
    aws.create_user(UserName="ann", Path="/people/")
    aws.add_user_to_group(UserName="ann", GroupName="Admins")
    path = tmp_path / "rules.toml"
    path.write_text(SCHEDULED)
    now = [T0]
    bot = make_bot(clock=lambda: now[0], iam_bot_rules_file=str(path))

    def at(delta):
        now[0] = T0 + delta
        bot.run_duty("reviews")
        bot.settle()

    at(dt.timedelta(0))
    assert [m.text for m in cards(slack)] == ["Access review #1: Admins, 1 member"]
    assert bot.store.campaign(1).started_by is None
    at(dt.timedelta(days=1))
    at(dt.timedelta(days=29))
    assert len(cards(slack)) == 1 and bot.store.campaign(1).closed_at is not None  # closed at its 7-day deadline
    at(dt.timedelta(days=30))
    assert [m.text for m in cards(slack)][-1] == "Access review #2: Admins, 1 member"
    [closing] = [p for p in slack.of("chat.postMessage") if p.get("text") == "Access review #1 closed"]
    assert "on schedule" in str(closing["blocks"])


def test_a_remove_ends_the_members_live_grant_and_its_end_removes_nothing_more(world, aws, slack):
    bot, at, _ = world
    bot.slash("U0ALICE", "add jane.doe Ops --for 4h --reason incident 7")  # request #2
    bot.click("U0BOB", blocks.ACTION_APPROVE, 2)
    [grant] = bot.store.grants_of(2)
    assert "Ops" in groups_of(aws, "jane.doe")
    start(bot, "review start Ops")
    jane = item(bot, "Ops", "jane.doe")
    assert "a grant until" in str(cards(slack)[0].blocks)
    bot.click("U0DAN", ACTION_REMOVE, jane.id, message_ts=cards(slack)[0].ts)
    assert "Ops" not in groups_of(aws, "jane.doe")
    ended = bot.store.grant(grant.id)
    assert not ended.live and ended.end_reason == "review_removed"
    lines = [m.text for m in slack.replies(APPROVALS, bot.store.get(2).card_ts)]
    assert any("membership of `Ops` ended: an access review removed it by <@U0DAN>" in line for line in lines), lines
    # The grant's own end comes and goes: nothing left to remove, no second "ended" DM.
    removals = []
    bot.client.meta.events.register("before-call.iam.RemoveUserFromGroup", lambda **_: removals.append(1))
    told = len(dms_to_jane(slack))
    at(dt.timedelta(hours=5))
    bot.run_duty("revoker")
    bot.settle()
    assert removals == [] and len(dms_to_jane(slack)) == told
