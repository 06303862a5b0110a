"""The reconciler (issue 20): AWS's group members compared with the store's grants. End to end
over signed HTTP, the strict Slack stand-in and moto, with a clock the test moves."""

import datetime as dt

import pytest

from bot import blocks
from bot.features.groups import ACTION_STOP_RETRYING
from commands.iam import IamGateway
from tests.support.faults import Fault
from tests.support.harness import APPROVALS
from tests.support.stories import thread_texts
from tests.support.grants import T0, clocked_bot, groups_of

pytestmark = pytest.mark.e2e


RULES = """
[defaults]
approvers = ["U0BOB", "U0CAROL"]

[[group]]
name = "Admins"
standing = false
max_duration = "4h"

[[group]]
name = "Prod-*"
standing = false
enforce = true
max_duration = "4h"
"""


@pytest.fixture
def clocked(make_bot, aws, tmp_path):
    return clocked_bot(make_bot, aws, tmp_path, RULES, ("Admins", "Prod-Db", "Ops"), duty="reconciler")



def channel_texts(slack):
    """What the bot said in the approvals channel itself (not in a card's thread)."""
    return [p.get("text", "") for p in slack.of("chat.postMessage")
            if p.get("channel") == APPROVALS and not p.get("thread_ts")]


def test_an_outside_member_is_reported_once_and_left_without_enforce(clocked, aws, slack):
    bot, at = clocked
    aws.add_user_to_group(UserName="jane.doe", GroupName="Admins")
    at(dt.timedelta(minutes=1))
    told = [t for t in channel_texts(slack) if "outside the bot" in t]
    assert len(told) == 1 and "`jane.doe`" in told[0] and "`Admins`" in told[0]
    at(dt.timedelta(hours=2))
    at(dt.timedelta(hours=3))
    assert len([t for t in channel_texts(slack) if "outside the bot" in t]) == 1  # once per member
    assert "Admins" in groups_of(aws)
    assert [e.what for e in bot.store.events()].count("outside_member") == 1


def test_a_member_that_leaves_and_comes_back_is_reported_again(clocked, aws, slack):
    bot, at = clocked
    aws.add_user_to_group(UserName="jane.doe", GroupName="Admins")
    at(dt.timedelta(minutes=1))
    aws.remove_user_from_group(UserName="jane.doe", GroupName="Admins")
    at(dt.timedelta(hours=1))
    aws.add_user_to_group(UserName="jane.doe", GroupName="Admins")
    at(dt.timedelta(hours=2))
    assert len([t for t in channel_texts(slack) if "outside the bot" in t]) == 2


def test_enforce_removes_an_outside_member(clocked, aws, slack):
    bot, at = clocked
    aws.add_user_to_group(UserName="jane.doe", GroupName="Prod-Db")
    at(dt.timedelta(minutes=1))
    assert "Prod-Db" not in groups_of(aws) and "Developers" in groups_of(aws)
    [told] = [t for t in channel_texts(slack) if "outside the bot" in t]
    assert "`Prod-Db`" in told and "removed it" in told


def test_a_user_outside_the_path_is_reported_never_removed(clocked, aws, slack):
    bot, at = clocked
    aws.create_user(UserName="robot", Path="/service/")
    aws.add_user_to_group(UserName="robot", GroupName="Prod-Db")
    at(dt.timedelta(minutes=1))
    assert "Prod-Db" in groups_of(aws, "robot")
    [told] = [t for t in channel_texts(slack) if "outside the bot" in t]
    assert "`robot`" in told and "outside the path" in told


def test_an_unremoved_ended_grant_is_removed(clocked, aws, slack):
    bot, at = clocked
    bot.slash("U0ALICE", "add jane.doe Admins --for 1h --reason incident 42")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 2)
    assert "Admins" in groups_of(aws)
    at(dt.timedelta(minutes=30))  # live: nothing to do
    assert "Admins" in groups_of(aws) and bot.store.grants_of(2)[0].live
    at(dt.timedelta(minutes=70))  # the revoker never ran (down): the reconciler revokes it
    assert "Admins" not in groups_of(aws)
    [grant] = bot.store.grants_of(2)
    assert grant.end_reason == "removed" and bot.store.due_at(2) == {}
    assert any("membership of `Admins` ended" in t for t in thread_texts(slack))
    assert not [t for t in channel_texts(slack) if "outside the bot" in t]


def test_a_member_put_back_after_its_grant_ended_is_removed(clocked, aws, slack):
    bot, at = clocked
    bot.slash("U0ALICE", "add jane.doe Ops --for 1h --reason incident 42")  # Ops: a standing group
    bot.click("U0BOB", blocks.ACTION_APPROVE, 2)
    at(dt.timedelta(minutes=60), duty="revoker")
    assert "Ops" not in groups_of(aws)
    aws.add_user_to_group(UserName="jane.doe", GroupName="Ops")  # put back by hand, or a removal lost
    at(dt.timedelta(minutes=90))
    assert "Ops" not in groups_of(aws)
    assert "reconciled" in [e.what for e in bot.store.events(2)]
    assert any("still in `Ops` after its membership ended" in t for t in thread_texts(slack))
    at(dt.timedelta(days=2))  # a day later the group is no longer looked at
    assert bot.store.group_grants_since("Ops", T0 + dt.timedelta(days=1)) == []


def test_a_live_grant_and_a_standing_membership_are_left_alone(clocked, aws, slack):
    bot, at = clocked
    bot.slash("U0ALICE", "add jane.doe Admins --for 1h --reason incident 42")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 2)
    aws.create_group(GroupName="Prod-Web")
    at(dt.timedelta(minutes=10))
    assert "Admins" in groups_of(aws) and "Developers" in groups_of(aws)
    assert not [t for t in channel_texts(slack) if "outside the bot" in t]


def test_a_grant_whose_retries_an_approver_stopped_is_reported_not_removed(clocked, aws, slack):
    bot, at = clocked
    bot.slash("U0ALICE", "add jane.doe Admins --for 1h --reason incident 42")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 2)
    fault = Fault(bot.client, "RemoveUserFromGroup", "ServiceFailure", status=500, times=None)
    for minutes in (60, 61, 63):
        at(dt.timedelta(minutes=minutes), duty="revoker")
    bot.click("U0BOB", ACTION_STOP_RETRYING, bot.store.grants_of(2)[0].id)
    fault.remove()
    at(dt.timedelta(minutes=70))
    at(dt.timedelta(minutes=130))
    told = [t for t in channel_texts(slack) if "stopped the bot's retries" in t]
    assert len(told) == 1 and "`Admins`" in told[0]  # once
    assert "Admins" in groups_of(aws) and bot.store.grants_of(2)[0].live


def test_the_reconciler_asks_one_get_group_a_group_whatever_its_history(clocked, aws, slack):
    bot, at = clocked
    calls = []
    bot.client.meta.events.register("before-parameter-build.iam.GetGroup", lambda params, **_: calls.append(dict(params)))
    for n in range(150):
        aws.create_user(UserName=f"robot{n}", Path="/service/")
        aws.add_user_to_group(UserName=f"robot{n}", GroupName="Admins")
    at(dt.timedelta(minutes=1))
    # AWS (and awslike's moto) answers in pages of 100: 151 members are two GetGroup calls
    assert [c["GroupName"] for c in calls] == ["Admins", "Admins", "Prod-Db"] and calls[0]["MaxItems"] == 100
    assert len([t for t in channel_texts(slack) if "outside the bot" in t]) == 150


class Paged:
    """GetGroup as AWS answers it: 100 members a page at most, then a Marker."""

    def __init__(self, members: int):
        self.users = [{"UserName": f"u{n}", "UserId": f"AIDA{n}", "Arn": f"arn:aws:iam::1:user/u{n}", "Path": "/"}
                      for n in range(members)]
        self.calls = []

    def get_group(self, GroupName, MaxItems, Marker=None):
        self.calls.append(Marker)
        start = int(Marker or 0)
        page = self.users[start:start + MaxItems]
        more = start + MaxItems < len(self.users)
        return {"Users": page, "IsTruncated": more, **({"Marker": str(start + MaxItems)} if more else {})}


@pytest.mark.parametrize("members, pages", [(0, 1), (100, 1), (101, 2), (250, 3)])
def test_group_members_is_one_call_a_page(members, pages):
    client = Paged(members)
    found = IamGateway(client).group_members("Admins")
    assert len(found) == members and len(client.calls) == pages
