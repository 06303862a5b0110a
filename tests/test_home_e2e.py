"""The App Home (issue 21) end to end: the `app_home_opened` event and the buttons arrive as signed
requests; the strict Slack stand-in checks every views.publish (a home view, slack_sdk's models,
at most 100 blocks) and chat.getPermalink; moto holds what AWS holds."""

import datetime as dt

import pytest

import storage
from bot import blocks
from bot.features.home import MAX_BLOCKS
from bot.features.keys import ACTION_KEY_DEACTIVATE
from commands.home import CALLS_PER_USER, HOME_USERS
from tests.support.faults import record_calls
from tests.support.grants import GROUP_RULES, add, clocked_bot, groups_of
from tests.support.harness import all_at_once
from tests.support.home import home_blocks, home_text, open_home, press_home, published, wait_for_home
from bot.shell import payloads
from tests.support.stories import provision_jane

pytestmark = pytest.mark.e2e


def dms_to(slack, user_id):
    return [p.get("text", "") for p in slack.of("chat.postMessage") if p.get("channel") == "D" + user_id[1:]]


def test_the_owner_sees_their_user_its_groups_console_mfa_and_keys(bot, aws):
    provision_jane(bot)
    key = aws.create_access_key(UserName="jane.doe")["AccessKey"]["AccessKeyId"]
    open_home(bot, "U0JANE")
    text = home_text(bot, "U0JANE")
    assert "`jane.doe`" in text and "`Developers`" in text
    assert "console sign-in: on" in text and ":warning: no MFA device" in text
    assert key in text and "Active" in text and "0 days old" in text and "never used" in text
    assert "[Rotate]" in text and "[Deactivate]" in text and "[Delete]" in text
    assert "Nothing open." in text
    assert not bot.slack.refusals()


def test_the_requester_sees_their_open_request_and_cancels_it_from_the_home(bot):
    bot.slash("U0ALICE", "create jane.doe Developers")
    open_home(bot, "U0ALICE")
    assert "#1" in home_text(bot, "U0ALICE") and "[Cancel]" in home_text(bot, "U0ALICE")

    press_home(bot, "U0ALICE", "Cancel")
    assert bot.store.get(1).state == storage.CANCELLED
    assert any("You withdrew request #1" in text for text in dms_to(bot.slack, "U0ALICE"))  # no response_url: a DM
    wait_for_home(bot, "U0ALICE", lambda text: "Nothing open." in text)


def test_an_approver_sees_what_waits_for_them_with_a_link_to_its_card(bot):
    bot.slash("U0ALICE", "create jane.doe Developers")
    card = bot.store.get(1)
    open_home(bot, "U0BOB")
    text = home_text(bot, "U0BOB")
    assert "Waiting for your approval" in text and "#1" in text and "needs 1 more approval" in text
    [asked] = bot.slack.of("chat.getPermalink")
    assert (asked["channel"], asked["message_ts"]) == (card.card_channel, card.card_ts)
    assert f"/archives/{card.card_channel}/p{card.card_ts.replace('.', '')}|Open its card>" in text
    # alice asked for it and jane owns it: it waits for neither; dan is no approver at all
    for person in ("U0ALICE", "U0JANE"):
        open_home(bot, person)
        assert "Waiting for your approval\nNothing waits for you." in home_text(bot, person)
    open_home(bot, "U0DAN")
    assert "Waiting for your approval" not in home_text(bot, "U0DAN")


def test_a_sensitive_request_says_two_approvals_then_one(make_bot):
    bot = make_bot(iam_bot_sensitive_groups="Developers")
    bot.slash("U0ALICE", "create jane.doe Developers")
    open_home(bot, "U0BOB")
    assert "needs 2 more approvals" in home_text(bot, "U0BOB")
    open_home(bot, "U0CAROL")  # carol approves through the user group S0ADMINS
    bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    bot.run_duty("app_home")
    wait_for_home(bot, "U0CAROL", lambda text: "needs 1 more approval" in text)
    wait_for_home(bot, "U0BOB", lambda text: "Nothing waits for you." in text)  # his approval is in


def test_a_key_deactivated_from_the_home_is_inactive_in_aws_and_the_home_says_so(bot, aws):
    provision_jane(bot)
    key = aws.create_access_key(UserName="jane.doe")["AccessKey"]["AccessKeyId"]
    open_home(bot, "U0JANE")
    press_home(bot, "U0JANE", "Deactivate")
    [meta] = aws.list_access_keys(UserName="jane.doe")["AccessKeyMetadata"]
    assert (meta["AccessKeyId"], meta["Status"]) == (key, "Inactive")
    assert any("is now inactive" in text for text in dms_to(bot.slack, "U0JANE"))
    wait_for_home(bot, "U0JANE", lambda text: "Inactive" in text and "[Activate]" in text)


def test_the_home_refreshes_after_a_change_once_for_a_burst(bot):
    open_home(bot, "U0BOB")
    before = published(bot, "U0BOB")
    for name in ("jane.doe", "dan"):
        bot.slash("U0ALICE", f"create {name} Developers")
    bot.run_duty("app_home")  # the duty follows the event log: bob's home is due a refresh
    text = wait_for_home(bot, "U0BOB", lambda text: "#1" in text and "#2" in text)
    assert "Waiting for your approval" in text
    assert published(bot, "U0BOB") == before + 1  # two requests, one publish
    bot.run_duty("app_home")  # nothing new: nothing more
    bot.settle()
    assert published(bot, "U0BOB") == before + 1


def test_a_home_nobody_opened_is_never_published(bot):
    bot.slash("U0ALICE", "create jane.doe Developers")
    bot.run_duty("app_home")
    bot.settle()
    assert bot.slack.of("views.publish") == []


def test_many_requests_fit_in_a_hundred_blocks_with_and_n_more(bot):
    now = dt.datetime.now(dt.timezone.utc)
    for n in range(150):
        bot.store.file_request(user_name=f"user{n}", groups=["Developers"], console=True, owner_id="U0JANE",
                               requester_id="U0ALICE", team_id="T0TEAM", now=now)
    open_home(bot, "U0BOB")
    open_home(bot, "U0ALICE")
    for person in ("U0BOB", "U0ALICE"):
        assert len(home_blocks(bot, person)) <= MAX_BLOCKS
    assert "more requests waiting for you" in home_text(bot, "U0BOB")
    assert "more open requests" in home_text(bot, "U0ALICE")
    assert not bot.slack.refusals()


def test_a_button_that_is_not_the_homes_does_nothing_from_a_home(bot):
    bot.slash("U0ALICE", "create jane.doe Developers")
    open_home(bot, "U0ALICE")
    press_home(bot, "U0ALICE", "Cancel", action_id=blocks.ACTION_APPROVE, value="1")
    assert bot.store.get(1).state == storage.PENDING
    assert "approval" not in [e.what for e in bot.store.events(1)]


def test_an_approver_may_not_deactivate_someone_elses_key_from_their_home_without_the_rules(bot, aws):
    """The home's buttons are the key actions with their own checks: alice is no approver of jane's user."""
    provision_jane(bot)
    key = aws.create_access_key(UserName="jane.doe")["AccessKey"]["AccessKeyId"]
    open_home(bot, "U0JANE")
    open_home(bot, "U0DAN")
    # dan forges a press of jane's key button from his own home
    bot.slack._homes["U0DAN"] = bot.slack.home("U0JANE")
    press_home(bot, "U0DAN", "Deactivate", action_id=ACTION_KEY_DEACTIVATE, value=f"{key} jane.doe")
    [meta] = aws.list_access_keys(UserName="jane.doe")["AccessKeyMetadata"]
    assert meta["Status"] == "Active"
    assert dms_to(bot.slack, "U0DAN")  # told why, by DM


def test_a_live_grant_shows_its_end_and_im_done_from_the_home_ends_it(make_bot, aws, tmp_path):
    bot, at = clocked_bot(make_bot, aws, tmp_path, GROUP_RULES, ("Admins",))
    add(bot, "jane.doe Admins --for 2h --reason incident 42")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 2)
    assert "Admins" in groups_of(aws)
    open_home(bot, "U0JANE")
    text = home_text(bot, "U0JANE")
    assert "In `Admins` until" in text and "(request #2)" in text and "[Extend]" in text and "[I'm done]" in text

    press_home(bot, "U0JANE", "I'm done")
    assert "Admins" not in groups_of(aws)
    assert any("Your membership of `Admins` ended" in t for t in dms_to(bot.slack, "U0JANE"))
    at(dt.timedelta(seconds=10), duty="app_home")  # the bot's clock past the refresh's window
    wait_for_home(bot, "U0JANE", lambda text: "[I'm done]" not in text and "`jane.doe`" in text)


def test_two_replicas_publish_a_burst_once(make_bot, postgres_url):
    replicas = [make_bot(database_url=postgres_url), make_bot(database_url=postgres_url)]
    first, second = replicas
    open_home(first, "U0BOB")
    before = published(first, "U0BOB")
    first.slash("U0ALICE", "create jane.doe Developers")
    second.slash("U0ALICE", "create dan Developers")
    all_at_once(replicas, "app_home", 4)  # both follow the log at once, twice each
    wait_for_home(first, "U0BOB", lambda text: "#1" in text and "#2" in text)
    for replica in replicas:
        replica.settle()
    assert published(first, "U0BOB") == before + 1


def test_one_render_makes_a_bounded_number_of_iam_calls_and_a_second_open_none(make_bot, aws):
    now = [dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=1)]  # after the keys made below
    bot = make_bot(clock=lambda: now[0])
    for n in range(7):
        aws.create_user(UserName=f"jane.app{n}", Path="/people/")
        for _ in range(2):
            aws.create_access_key(UserName=f"jane.app{n}")
        request = bot.store.file_request(user_name=f"jane.app{n}", groups=["Developers"], console=False,
                                         owner_id="U0JANE", requester_id="U0ALICE", team_id="T0TEAM", now=now[0])
        bot.store.transition(request.id, from_states=[storage.PENDING], to_state=storage.PROVISIONED,
                             actor_id=None, what="provisioned", now=now[0])
    calls = record_calls(bot.client)
    open_home(bot, "U0JANE")
    assert 0 < len(calls) <= HOME_USERS * CALLS_PER_USER
    assert calls.count("GetAccessKeyLastUsed") == HOME_USERS * 2  # two keys each, five users read
    assert "2 more IAM users of yours" in home_text(bot, "U0JANE")
    shown = published(bot, "U0JANE")

    calls.clear()
    now[0] += dt.timedelta(seconds=6)  # opened again in the next window, within the cache's minute
    open_home(bot, "U0JANE")
    assert calls == [] and published(bot, "U0JANE") == shown  # nothing asked of AWS, nothing new to Slack


def test_a_click_without_a_response_url_is_refused_unless_it_comes_from_a_home(bot):
    button = {"type": "button", "action_id": blocks.ACTION_CANCEL, "value": "1",
              "text": {"type": "plain_text", "text": "Cancel"}}
    for kind, status in (("modal", 400), ("home", 200)):
        body = payloads.home_block_actions(
            user_id="U0ALICE", user_name="alice", team_id="T0TEAM", team_domain="test",
            view={"type": kind, "callback_id": "x", "blocks": []}, view_id="V0ALICE", view_hash="1.0",
            button=button, block_id="b", trigger_id=bot.slack.trigger("U0ALICE"))
        assert bot.post(body).status_code == status


def test_a_removed_user_leaves_its_owners_home(bot):
    provision_jane(bot)
    bot.slash("U0ALICE", "remove jane.doe --reason left the team")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 2)
    assert bot.store.get(2).state == storage.PROVISIONED  # the removal is done
    open_home(bot, "U0JANE")
    assert "You own no IAM user" in home_text(bot, "U0JANE")
