"""Sign-in details by DM and the one-time reveal, end to end over HTTP."""

import datetime as dt
import itertools
import logging
from pathlib import Path

import pytest

import storage
from bot import blocks
from tests.support.faults import count_calls
from tests.support.stories import OWNER_DM, dms_to_jane, provision_jane, reveal_buttons, reveal_value

pytestmark = pytest.mark.e2e


def test_the_owner_gets_a_dm_with_sign_in_details(bot, slack):
    provision_jane(bot)
    [dm] = dms_to_jane(slack)
    text = str(dm["blocks"])
    assert "https://123456789012.signin.aws.amazon.com/console" in text
    assert "`jane.doe`" in text and "new password at first sign-in" in text and "MFA" in text
    [button] = reveal_buttons(dm)
    assert button["value"].startswith("1:")  # the request, and a token that retires any earlier button
    request = bot.store.get(1)
    assert (request.dm_channel, request.dm_ts) == (OWNER_DM, dm["ts"] if "ts" in dm else request.dm_ts)


def test_the_sign_in_url_uses_the_account_alias(bot, slack, aws):
    aws.create_account_alias(AccountAlias="acme-prod")
    provision_jane(bot)
    assert "https://acme-prod.signin.aws.amazon.com/console" in str(dms_to_jane(slack)[0]["blocks"])


def test_jane_reveals_her_password_once_and_only_she_sees_it(make_bot, slack, aws):
    passwords = iter(["Initial-never-shown-1Aa!", "Revealed-once-2Bb@xxxx"])
    bot = make_bot(passwords=lambda policy: next(passwords))
    provision_jane(bot)
    updates = count_calls(bot.client, "UpdateLoginProfile")
    response = bot.click("U0JANE", blocks.ACTION_REVEAL, reveal_value(slack), channel=OWNER_DM)
    [shown] = bot.responses(response.response_url)
    assert shown["response_type"] == "ephemeral" and shown["replace_original"] is False
    assert "Revealed-once-2Bb@xxxx" in shown["text"] and "visible only to you" in shown["text"]
    assert updates == ["UpdateLoginProfile"]
    assert aws.get_login_profile(UserName="jane.doe")["LoginProfile"]["PasswordResetRequired"] is True
    # The DM loses its button and says when it was revealed, without the password.
    dm_update = [p for p in slack.of("chat.update") if p.get("channel") == OWNER_DM][-1]
    assert reveal_buttons(dm_update) == [] and "Password revealed" in str(dm_update["blocks"])
    assert "Revealed-once" not in str(dm_update)
    assert any("revealed their first password" in p["text"] for p in slack.of("chat.postMessage") if p.get("thread_ts"))
    assert bot.store.get(1).state == storage.REVEALED
    # A second click shows no password.
    again = bot.click("U0JANE", blocks.ACTION_REVEAL, reveal_value(slack), channel=OWNER_DM)
    said = bot.said(again.response_url)
    assert "already revealed" in said and "ask one of the approvers" in said and "Revealed-once" not in said
    assert updates == ["UpdateLoginProfile"]


@pytest.mark.parametrize("who", ["U0BOB", "U0ALICE", "U0DAN"])
def test_anyone_but_the_owner_is_refused_and_it_is_recorded(bot, slack, who):
    provision_jane(bot)
    updates = count_calls(bot.client, "UpdateLoginProfile")
    response = bot.click(who, blocks.ACTION_REVEAL, reveal_value(slack), channel=OWNER_DM)
    assert bot.said(response.response_url) == "Only <@U0JANE> can reveal this password."
    assert updates == [] and bot.store.get(1).state == storage.PROVISIONED
    last = bot.store.events(1)[-1]
    assert (last.actor_id, last.what) == (who, "refused:reveal_not_owner")


def test_the_reveal_expires(make_bot, slack):
    now = [dt.datetime.now(dt.timezone.utc)]
    bot = make_bot(clock=lambda: now[0], iam_bot_reveal_ttl="1h")
    provision_jane(bot)
    now[0] += dt.timedelta(hours=1)
    updates = count_calls(bot.client, "UpdateLoginProfile")
    response = bot.click("U0JANE", blocks.ACTION_REVEAL, reveal_value(slack), channel=OWNER_DM)
    said = bot.said(response.response_url)
    assert "has expired" in said and "ask one of the approvers" in said
    assert updates == [] and bot.store.get(1).state == storage.REVEAL_EXPIRED


def test_the_sweep_expires_the_reveal_and_updates_the_dm(make_bot, slack):
    now = [dt.datetime.now(dt.timezone.utc)]
    bot = make_bot(clock=lambda: now[0], iam_bot_reveal_ttl="2h")
    provision_jane(bot)
    bot.run_duty("sweep")
    assert bot.store.get(1).state == storage.PROVISIONED
    now[0] += dt.timedelta(hours=2, seconds=1)
    bot.run_duty("sweep")
    bot.settle()
    assert bot.store.get(1).state == storage.REVEAL_EXPIRED
    dm_update = [p for p in slack.of("chat.update") if p.get("channel") == OWNER_DM][-1]
    assert reveal_buttons(dm_update) == [] and "expired" in str(dm_update["blocks"])


def test_if_slack_cannot_show_it_the_claim_is_released(bot, slack):
    provision_jane(bot)
    slack.response_status = 500
    response = bot.click("U0JANE", blocks.ACTION_REVEAL, reveal_value(slack), channel=OWNER_DM)
    assert bot.store.get(1).state == storage.PROVISIONED
    slack.response_status = 200
    again = bot.click("U0JANE", blocks.ACTION_REVEAL, reveal_value(slack), channel=OWNER_DM)
    assert "Password for `jane.doe`" in bot.said(again.response_url)
    assert bot.store.get(1).state == storage.REVEALED
    assert [e.what for e in bot.store.events(1)][-4:] == ["reveal_claimed", "reveal_released", "reveal_claimed", "revealed"]


def test_if_aws_cannot_set_it_the_claim_is_released(bot, slack):
    from tests.support.faults import Fault
    provision_jane(bot)
    fault = Fault(bot.client, "UpdateLoginProfile", "ServiceFailure", status=500, times=None)
    response = bot.click("U0JANE", blocks.ACTION_REVEAL, reveal_value(slack), channel=OWNER_DM)
    assert "Could not set a new console password for jane.doe" in bot.said(response.response_url)
    assert bot.store.get(1).state == storage.PROVISIONED
    fault.remove()
    again = bot.click("U0JANE", blocks.ACTION_REVEAL, reveal_value(slack), channel=OWNER_DM)
    assert "Password for `jane.doe`" in bot.said(again.response_url)


def test_twenty_concurrent_reveals_show_one_password(make_bot, slack):
    counter = itertools.count()
    bot = make_bot(passwords=lambda policy: f"Pw-{next(counter):04d}-Aa1!xyzxyzxyz")
    provision_jane(bot)
    updates = count_calls(bot.client, "UpdateLoginProfile")
    value = reveal_value(slack)
    bot.clicks_at_once(["U0JANE"] * 20, blocks.ACTION_REVEAL, value, channel=OWNER_DM)
    shown = [p for p in slack.of("response_url") if "Pw-" in p.get("text", "")]
    assert len(shown) == 1 and updates == ["UpdateLoginProfile"]
    refused = [p for p in slack.of("response_url") if "already revealed" in p.get("text", "")]
    assert len(refused) == 19
    assert bot.store.get(1).state == storage.REVEALED


def test_the_canary_password_exists_only_in_one_ephemeral_message(make_bot, slack, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    initial, revealed = "CanaryInitial-9Zq!x7Wv", "CanaryReveal-4Kp@m2Ls"
    given = iter([initial, revealed])
    bot = make_bot(passwords=lambda policy: next(given))
    provision_jane(bot)
    bot.click("U0JANE", blocks.ACTION_REVEAL, reveal_value(slack), channel=OWNER_DM)
    bot.click("U0JANE", blocks.ACTION_REVEAL, reveal_value(slack), channel=OWNER_DM)  # and a second click
    bot.settle()
    carrying = [(c.method, c.params) for c in slack.calls if revealed in str(c.params)]
    assert len(carrying) == 1
    method, params = carrying[0]
    assert method == "response_url" and params["response_type"] == "ephemeral"
    assert not [c for c in slack.calls if initial in str(c.params)]
    for method in ("chat.postMessage", "chat.update", "chat.postEphemeral"):
        assert revealed not in str(slack.of(method))
    # Not in SQLite: the database file and any journal beside it, read as bytes.
    bot.store._db().execute("SELECT 1")
    files = [p for p in Path(tmp_path).iterdir() if p.name.startswith("iam-bot.db")]
    assert any(p.name == "iam-bot.db" for p in files)
    for path in files:
        data = path.read_bytes()
        assert initial.encode() not in data and revealed.encode() not in data, path.name
    # Not in any log line, any event.
    logged = "\n".join(r.getMessage() + str(r.args) + (r.exc_text or "") for r in caplog.records)
    assert caplog.records and initial not in logged and revealed not in logged
    assert all(revealed not in str(e) and initial not in str(e) for e in bot.store.events())
