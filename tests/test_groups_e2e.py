"""`/iam add` and `/iam drop` (issue 20): group membership for an existing user, for good or for a
while, approved by the rules, and the revoker that ends it. End to end over signed HTTP, the strict
Slack stand-in and moto."""

import datetime as dt
import json

import pytest

import storage
from bot import blocks
from bot.features.groups import ACTION_GRANT_DONE, ACTION_STOP_RETRYING
from tests.support.faults import Fault
from tests.support.harness import APPROVALS
from tests.support.stories import card_text, dms_to_jane, provision_jane, thread_texts
from tests.support.grants import GROUP_RULES, T0, add, clocked_bot, extend, groups_of

pytestmark = pytest.mark.e2e


RULES = GROUP_RULES


@pytest.fixture
def clocked(make_bot, aws, tmp_path):
    """A bot whose clock the test moves, with jane.doe made (request #1, Developers) and an Admins group."""
    return clocked_bot(make_bot, aws, tmp_path, RULES, ("Admins", "BillingAdmins", "Ops"))




def newest_id(bot):
    return max(r.id for r in bot.store.in_states([storage.PENDING, storage.APPROVED, storage.PROVISIONED]))


def texts(payloads):
    return [p.get("text", "") for p in payloads]


def test_add_for_a_while_is_approved_granted_warned_and_ended(clocked, aws, slack):
    bot, at = clocked
    said = add(bot, "jane.doe Admins --for 1h --reason incident 42")
    assert "Request #2 filed" in said and "for 1 hour" in said
    request = bot.store.get(2)
    assert request.kind == storage.GROUP_ADD and request.owner_id == "U0JANE"
    card = [p for p in slack.of("chat.postMessage") if p.get("channel") == APPROVALS][-1]
    card_text = str(card["blocks"])
    assert "jane.doe" in card_text and "Admins" in card_text and "incident 42" in card_text and "1 hour" in card_text
    assert "<@U0JANE>" in card_text and "<@U0BOB>" in card_text and "<@U0CAROL>" in card_text  # owner, who may approve
    bot.click("U0BOB", blocks.ACTION_APPROVE, 2)
    assert bot.store.get(2).state == storage.PROVISIONED and "Admins" in groups_of(aws)
    [grant] = bot.store.grants_of(2)
    assert grant.ends_at == T0 + dt.timedelta(hours=1) and grant.live
    assert [e.what for e in bot.store.events(2)][-2:] == ["step:group:Admins", "provisioned"]
    assert any("now in these groups" in t and "Admins" in t for t in texts(dms_to_jane(slack)))
    # Five minutes before the end: the warning with I'm done; at the end, the revoker removes it.
    at(dt.timedelta(minutes=50))
    assert not any("ends" in t for t in texts(dms_to_jane(slack)) if "membership of `Admins`" in t)
    at(dt.timedelta(minutes=55))
    assert any("membership of `Admins` ends" in t for t in texts(dms_to_jane(slack)))
    assert "Admins" in groups_of(aws)
    at(dt.timedelta(minutes=60))
    assert "Admins" not in groups_of(aws) and "Developers" in groups_of(aws)
    [ended] = bot.store.grants_of(2)
    assert ended.end_reason == "removed" and ended.ended_at == T0 + dt.timedelta(hours=1)
    assert any("membership of `Admins` ended" in t and "removed it" in t for t in texts(dms_to_jane(slack)))
    assert any("membership of `Admins` ended" in t for t in thread_texts(slack))
    assert bot.store.due_at(2) == {}  # nothing left to do: never read by a duty again


def test_add_for_good_stays(clocked, aws):
    bot, at = clocked
    assert "Request #2 filed" in add(bot, "JANE.DOE Ops --reason on-call rota")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 2)
    assert "Ops" in groups_of(aws) and bot.store.grants_of(2) == []
    at(dt.timedelta(days=30))
    assert "Ops" in groups_of(aws)


@pytest.mark.parametrize("text, says", [
    ("jane.doe Nope --for 1h --reason x", "No IAM group named `Nope`"),
    ("jane.doe Developers --for 1h --reason x", "already in `Developers`: nothing to add"),
    ("jane.doe BillingAdmins --for 1h --reason x", "Ask in #security"),
    ("jane.doe Admins --for 5h --reason x", "at most 4h"),
    ("jane.doe Admins --reason x", "only for a while"),
    ("jane.doe Ops --for 30s --reason x", "is not a duration"),
    ("nobody.here Ops --for 1h --reason x", "no IAM user named `nobody.here`"),
    ("jane.doe Ops --for 1h", "Say why"),
])
def test_refusals_say_what_to_do(clocked, text, says):
    bot, _ = clocked
    said = add(bot, text)
    assert says in said, said
    assert bot.store.in_states([storage.PENDING]) == []


def test_an_add_below_the_minimum_is_refused(make_bot, aws):
    bot = make_bot()
    provision_jane(bot)
    said = add(bot, "jane.doe ReadOnly --for 10m --reason x")
    assert "shortest time-bound membership is 15m" in said


def test_an_add_for_a_protected_user_or_one_outside_the_path_is_refused(make_bot, aws, tmp_path):
    bot, _ = clocked_bot(make_bot, aws, tmp_path, RULES, ("Ops",), iam_bot_user_path="/people/",
                         iam_bot_protected_users="root.admin")
    aws.create_user(UserName="root.admin", Path="/people/")
    aws.create_user(UserName="outsider", Path="/partners/")
    assert "`root.admin` is protected" in add(bot, "root.admin Ops --for 1h --reason x")
    assert "`outsider` lives under the path `/partners/`" in add(bot, "outsider Ops --for 1h --reason x")
    assert bot.store.in_states([storage.PENDING]) == [] and aws.list_groups_for_user(UserName="outsider")["Groups"] == []


def test_the_ten_groups_limit_names_the_users_groups(clocked, aws):
    bot, _ = clocked
    for n in range(9):
        aws.create_group(GroupName=f"G{n}")
        aws.add_user_to_group(UserName="jane.doe", GroupName=f"G{n}")
    said = add(bot, "jane.doe Ops Admins --for 1h --reason x")
    assert "at most 10 groups" in said and "`G0`" in said and "`Developers`" in said


def test_a_live_grant_says_use_extend_and_overlapping_adds_may_be_open(clocked, aws):
    bot, at = clocked
    add(bot, "jane.doe Admins --for 1h --reason first")
    add(bot, "jane.doe Admins --for 2h --reason second", user="U0DAN")  # two open at once
    assert bot.store.get(2).state == bot.store.get(3).state == storage.PENDING
    bot.click("U0BOB", blocks.ACTION_APPROVE, 2)
    said = add(bot, "jane.doe Admins --for 1h --reason third")
    assert "already in `Admins` until" in said and "Extend" in said


def test_overlapping_grants_the_first_end_leaves_the_membership(clocked, aws, slack):
    bot, at = clocked
    add(bot, "jane.doe Admins --for 1h --reason first")
    add(bot, "jane.doe Admins --for 2h --reason second", user="U0DAN")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 2)
    bot.click("U0BOB", blocks.ACTION_APPROVE, 3)
    at(dt.timedelta(hours=1))
    assert "Admins" in groups_of(aws)
    [first] = bot.store.grants_of(2)
    assert first.end_reason == "kept"
    assert any("membership stays, because request #3" in t for t in texts(dms_to_jane(slack)))
    at(dt.timedelta(hours=2))
    assert "Admins" not in groups_of(aws)
    assert bot.store.grants_of(3)[0].end_reason == "removed"


def test_a_standing_membership_outlives_a_grant(clocked, aws, slack):
    bot, at = clocked
    add(bot, "jane.doe Ops --reason for good")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 2)
    aws.remove_user_from_group(UserName="jane.doe", GroupName="Ops")  # someone took it out in AWS
    add(bot, "jane.doe Ops --for 1h --reason for a while")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 3)
    at(dt.timedelta(hours=1))
    assert "Ops" in groups_of(aws)
    assert bot.store.grants_of(3)[0].end_reason == "kept"
    assert any("holds it for good (request #2)" in t for t in texts(dms_to_jane(slack)))


def test_im_done_ends_it_now(clocked, aws, slack):
    bot, at = clocked
    add(bot, "jane.doe Admins --for 1h --reason incident")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 2)
    [grant] = bot.store.grants_of(2)
    bot.click("U0DAN", ACTION_GRANT_DONE, grant.id)  # not the owner
    assert "Admins" in groups_of(aws) and bot.store.grant(grant.id).live
    bot.click("U0JANE", ACTION_GRANT_DONE, grant.id)
    assert "Admins" not in groups_of(aws)
    assert bot.store.grant(grant.id).end_reason == "done"
    assert any("owner said they are done by <@U0JANE>" in t for t in thread_texts(slack))


@pytest.mark.parametrize("who, ends", [("U0JANE", True), ("U0BOB", True), ("U0DAN", False)])
def test_drop_by_owner_approver_or_stranger(clocked, aws, who, ends):
    bot, _ = clocked
    add(bot, "jane.doe Admins --for 1h --reason incident")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 2)
    response = bot.slash(who, "drop jane.doe admins")
    said = bot.said(response.response_url)
    assert ("Admins" not in groups_of(aws)) is ends
    if ends:
        assert "ended" in said and bot.store.grants_of(2)[0].end_reason == "dropped"
    else:
        assert "Only the person" in said and bot.store.grants_of(2)[0].live


def test_drop_of_standing_memberships_is_recorded_as_a_grants_end(clocked, aws, slack):
    bot, _ = clocked
    add(bot, "jane.doe Ops --reason on-call rota")  # #2: for good
    bot.click("U0BOB", blocks.ACTION_APPROVE, 2)
    add(bot, "jane.doe Admins --for 1h --reason incident")  # #3: for a while
    bot.click("U0BOB", blocks.ACTION_APPROVE, 3)
    status = bot.slash("U0BOB", "status jane.doe")
    said = str(bot.responses(status.response_url))
    assert "Time-bound memberships" in said and "`Admins` until" in said
    assert "Standing memberships the bot granted" in said
    assert "`Developers` for good (request #1)" in said and "`Ops` for good (request #2)" in said
    # The owner drops the create's group; an approver the add's. AWS, the trail, the thread, the DM.
    said = bot.said(bot.slash("U0JANE", "drop jane.doe developers").response_url)
    assert "out of `Developers`" in said and "standing membership (request #1)" in said
    assert "Developers" not in groups_of(aws)
    assert [e.detail for e in bot.store.events(1) if e.what == "membership_dropped"] == ["Developers: dropped"]
    assert any("membership of `Developers` ended: it was dropped by <@U0JANE>" in t for t in thread_texts(slack))
    assert any("membership of `Developers` ended (request #1)" in t for t in texts(dms_to_jane(slack)))
    bot.slash("U0BOB", "drop jane.doe Ops")
    assert groups_of(aws) == {"Admins"}
    assert any("membership of `Ops` ended (request #2): it was dropped by <@U0BOB>" in t
               for t in texts(dms_to_jane(slack)))
    status = bot.slash("U0BOB", "status jane.doe")
    said = str(bot.responses(status.response_url))
    assert "Standing memberships" not in said and "`Admins` until" in said
    # Dropped already: nothing the bot granted is left to drop.
    again = bot.said(bot.slash("U0BOB", "drop jane.doe Ops").response_url)
    assert "no membership of `Ops` that the bot granted" in again


def test_a_drop_by_a_stranger_of_a_standing_membership_is_refused(clocked, aws):
    bot, _ = clocked
    said = bot.said(bot.slash("U0DAN", "drop jane.doe Developers").response_url)
    assert "Only the person" in said and "Developers" in groups_of(aws)
    assert [e.what for e in bot.store.events(1)][-1] == "refused:drop_not_allowed"


DENY_DOCUMENT = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
    {"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"}]})


@pytest.mark.parametrize("how", ["inline", "managed"])
def test_drop_of_a_group_whose_policies_deny_needs_an_approver(clocked, aws, slack, how):
    bot, _ = clocked
    aws.create_group(GroupName="Fenced")
    if how == "inline":
        aws.put_group_policy(GroupName="Fenced", PolicyName="no-deletes", PolicyDocument=DENY_DOCUMENT)
    else:
        arn = aws.create_policy(PolicyName="no-deletes", PolicyDocument=DENY_DOCUMENT)["Policy"]["Arn"]
        aws.attach_group_policy(GroupName="Fenced", PolicyArn=arn)
    add(bot, "jane.doe Fenced --for 2h --reason incident")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 2)
    said = bot.said(bot.slash("U0JANE", "drop jane.doe Fenced").response_url)
    assert "Request #3 filed" in said and "hold a Deny" in said
    drop = bot.store.get(3)
    assert drop.kind == storage.GROUP_DROP and drop.state == storage.PENDING and drop.owner_id == "U0JANE"
    assert "Fenced" in groups_of(aws) and bot.store.grants_of(2)[0].live
    assert "Deny" in card_text(slack, drop)
    again = bot.said(bot.slash("U0BOB", "drop jane.doe Fenced").response_url)
    assert "request #3" in again.lower() and bot.store.in_states([storage.PENDING]) == [bot.store.get(3)]
    bot.click("U0JANE", blocks.ACTION_APPROVE, 3)  # the owner: a second person decides
    assert bot.store.get(3).state == storage.PENDING and "Fenced" in groups_of(aws)
    bot.click("U0BOB", blocks.ACTION_APPROVE, 3)
    assert bot.store.get(3).state == storage.PROVISIONED and "Fenced" not in groups_of(aws)
    [grant] = bot.store.grants_of(2)
    assert grant.end_reason == "dropped"
    assert any("membership of `Fenced` ended (request #2): it was dropped by <@U0JANE>" in t
               for t in texts(dms_to_jane(slack)))
    assert any("Took `jane.doe` out of `Fenced`" in t for t in thread_texts(slack))
    # A done drop holds nothing: the next one may be filed (the one-live-request rule skips drops).
    add(bot, "jane.doe Fenced --for 1h --reason again")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 4)
    assert "Request #5 filed" in bot.said(bot.slash("U0BOB", "drop jane.doe Fenced").response_url)


def test_the_mfa_group_is_never_dropped(make_bot, aws, tmp_path):
    bot, _ = clocked_bot(make_bot, aws, tmp_path, RULES, ("ForceMFA",), iam_bot_mfa_group="ForceMFA")
    assert "ForceMFA" in groups_of(aws)  # a console user is put in it at creation
    for who in ("U0JANE", "U0BOB"):
        said = bot.said(bot.slash(who, "drop jane.doe forcemfa").response_url)
        assert "is the MFA group" in said
    assert "ForceMFA" in groups_of(aws)


def test_a_removal_aws_refuses_three_times_then_accepts(clocked, aws, slack):
    bot, at = clocked
    add(bot, "jane.doe Admins --for 1h --reason incident")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 2)
    fault = Fault(bot.client, "RemoveUserFromGroup", "ServiceFailure", status=500, times=None)
    at(dt.timedelta(minutes=60))
    grant = bot.store.grants_of(2)[0]
    assert grant.attempts == 1 and grant.next_try_at == T0 + dt.timedelta(minutes=61)
    at(dt.timedelta(minutes=61))
    assert bot.store.grants_of(2)[0].next_try_at == T0 + dt.timedelta(minutes=63)  # 2 minutes: doubled
    at(dt.timedelta(minutes=62))  # not yet due: no attempt
    assert bot.store.grants_of(2)[0].attempts == 2
    at(dt.timedelta(minutes=63))
    assert bot.store.grants_of(2)[0].attempts == 3
    told = [t for t in thread_texts(slack) if "could not remove" in t]
    assert len(told) == 1 and "ServiceFailure" in told[0]
    at(dt.timedelta(minutes=67))
    assert bot.store.grants_of(2)[0].attempts == 4
    assert len([t for t in thread_texts(slack) if "could not remove" in t]) == 1  # told once
    fault.remove()
    at(dt.timedelta(minutes=75))
    assert "Admins" not in groups_of(aws) and bot.store.grants_of(2)[0].end_reason == "removed"


def test_an_approver_stops_the_retries(clocked, aws, slack):
    bot, at = clocked
    add(bot, "jane.doe Admins --for 1h --reason incident")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 2)
    Fault(bot.client, "RemoveUserFromGroup", "ServiceFailure", status=500, times=None)
    for minutes in (60, 61, 63):
        at(dt.timedelta(minutes=minutes))
    grant = bot.store.grants_of(2)[0]
    bot.click("U0DAN", ACTION_STOP_RETRYING, grant.id)
    assert not bot.store.grant(grant.id).stopped
    bot.click("U0BOB", ACTION_STOP_RETRYING, grant.id)
    assert bot.store.grant(grant.id).stopped
    at(dt.timedelta(minutes=90))
    assert bot.store.grant(grant.id).attempts == 3 and bot.store.due_at(2) == {}


def test_extend_approved_moves_the_end_from_the_current_end(clocked, aws, slack):
    bot, at = clocked
    add(bot, "jane.doe Admins --for 1h --reason incident")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 2)
    [grant] = bot.store.grants_of(2)
    at(dt.timedelta(minutes=55))  # the warning, with Extend
    warning = [p for p in dms_to_jane(slack) if "ends" in p.get("text", "")][-1]
    assert [e["text"]["text"] for b in warning["blocks"] if b["type"] == "actions" for e in b["elements"]] == [
        "Extend", "I'm done"]
    assert extend(bot, slack, "U0DAN", grant.id) is None  # only the owner: no form
    assert bot.store.in_states([storage.PENDING]) == []
    # The form asks how much longer, filled in with the grant's own length; the rules' limit holds.
    assert extend(bot, slack, "U0JANE", grant.id, "soon")["response_action"] == "errors"
    extend(bot, slack, "U0JANE", grant.id, "5h")
    assert bot.store.in_states([storage.PENDING]) == []
    assert any("at most 4h" in t for t in texts(dms_to_jane(slack)))
    assert extend(bot, slack, "U0JANE", grant.id, "2h") == {}
    extension = bot.store.get(3)
    assert extension.kind == storage.GROUP_EXTEND and extension.state == storage.PENDING and extension.card_ts
    assert "2 hours" in card_text(slack, extension)
    assert extend(bot, slack, "U0JANE", grant.id) is None  # one open extension per grant
    assert len(bot.store.in_states([storage.PENDING])) == 1
    bot.click("U0JANE", blocks.ACTION_APPROVE, 3)  # the owner asked: a second person decides
    assert bot.store.get(3).state == storage.PENDING
    bot.click("U0BOB", blocks.ACTION_APPROVE, 3)
    assert bot.store.get(3).state == storage.PROVISIONED
    assert bot.store.grant(grant.id).ends_at == T0 + dt.timedelta(hours=3)  # the current end, 2h later
    assert any("now ends" in t for t in texts(dms_to_jane(slack)))
    at(dt.timedelta(minutes=60))
    assert "Admins" in groups_of(aws)
    at(dt.timedelta(minutes=180))
    assert "Admins" not in groups_of(aws)


def test_extend_denied_leaves_the_end_and_tells_the_owner(clocked, aws, slack):
    bot, at = clocked
    add(bot, "jane.doe Admins --for 1h --reason incident")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 2)
    [grant] = bot.store.grants_of(2)
    extend(bot, slack, "U0JANE", grant.id)
    assert bot.store.get(3).details["duration_seconds"] == 3600  # the form offered the grant's length
    bot.click("U0BOB", blocks.ACTION_DENY, 3)
    bot.submit_deny("U0BOB", 3, "not today")
    assert bot.store.get(3).state == storage.DENIED
    assert bot.store.grant(grant.id).ends_at == T0 + dt.timedelta(hours=1)
    assert any("#3" in t and "was denied by <@U0BOB>" in t for t in texts(dms_to_jane(slack)))
    at(dt.timedelta(minutes=60))
    assert "Admins" not in groups_of(aws)


def test_an_extension_still_waiting_is_cancelled_when_its_grant_ends(clocked, aws, slack):
    bot, at = clocked
    add(bot, "jane.doe Admins --for 1h --reason incident")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 2)
    [grant] = bot.store.grants_of(2)
    extend(bot, slack, "U0JANE", grant.id, "1h")
    assert bot.store.get(3).state == storage.PENDING
    bot.click("U0JANE", ACTION_GRANT_DONE, grant.id)
    assert bot.store.get(3).state == storage.CANCELLED and "Admins" not in groups_of(aws)
    assert "cancelled" in card_text(slack, bot.store.get(3)).lower()


def test_create_refuses_a_time_bound_only_group(clocked):
    bot, _ = clocked
    response = bot.slash("U0ALICE", "create dan Admins")
    said = bot.said(response.response_url)
    assert "create the user without it, then" in said and "/iam add dan Admins --for" in said


def test_status_lists_live_grants_with_their_ends(clocked):
    bot, _ = clocked
    add(bot, "jane.doe Admins --for 1h --reason incident")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 2)
    response = bot.slash("U0BOB", "status jane.doe")
    said = str(bot.responses(response.response_url))
    assert "Time-bound memberships" in said and "`Admins` until" in said and "request #2" in said


def test_removing_the_user_ends_its_grants_and_voids_open_adds_and_extensions(clocked, aws, slack):
    bot, at = clocked
    add(bot, "jane.doe Admins --for 1h --reason incident")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 2)
    add(bot, "jane.doe Ops --for 1h --reason later")  # #3, open
    extend(bot, slack, "U0JANE", bot.store.grants_of(2)[0].id, "1h")  # #4, an open extension
    assert bot.store.get(4).kind == storage.GROUP_EXTEND and bot.store.get(4).state == storage.PENDING
    bot.slash("U0ALICE", "remove jane.doe --reason left")  # #5
    bot.click("U0BOB", blocks.ACTION_APPROVE, 5)
    assert bot.store.get(5).state == storage.PROVISIONED
    [grant] = bot.store.grants_of(2)
    assert grant.end_reason == "user_removed" and bot.store.due_at(2) == {}
    assert bot.store.get(3).state == bot.store.get(4).state == storage.CANCELLED
    at(dt.timedelta(hours=2))  # nothing left for the revoker
    assert bot.store.grants_of(2)[0].attempts == 0
