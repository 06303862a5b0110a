"""Offboarding end to end over HTTP: /iam remove in AWS's order, --disable-only, enable,
reset-password, and what the bot refuses. AWS is moto's server made AWS-like (DeleteUser with
attachments and DeleteVirtualMFADevice on an enabled device are DeleteConflict)."""

from __future__ import annotations

import datetime as dt

import boto3
import pytest

import storage
from bot import blocks
from tests.support.stories import JANE, OWNER_DM, card_text, gone, seed_jane, thread_texts

pytestmark = pytest.mark.e2e

MUTATIONS = ("Delete", "Detach", "Remove", "Deactivate", "Update")


def mutations_reaching_aws(client) -> list[str]:
    """The changing IAM calls AWS answered with success, in order (a refused or crashed call is not one)."""
    done: list[str] = []

    def seen(http_response, model, **_):
        if http_response.status_code < 300 and model.name.startswith(MUTATIONS):
            done.append(model.name)
    client.meta.events.register("after-call.iam", seen)
    return done


def test_a_user_with_everything_is_removed_in_aws_order(bot, slack, aws):
    held = seed_jane(aws)
    response = bot.slash("U0ALICE", "remove jane.doe --reason left the company")
    assert "Request #1 filed: remove the IAM user `jane.doe`" in bot.said(response.response_url)
    request = bot.store.get(1)
    assert (request.kind, request.state, request.owner_id) == ("remove", storage.PENDING, "U0JANE")
    # The card lists everything that will go, read from AWS at filing.
    card = card_text(slack, request)
    for thing in (*held["keys"], "jane.doe-phone", held["ssh"], held["service"], "jane-inline", "jane.doe-extra",
                  "Developers", "ReadOnly", "left the company"):
        assert thing in card, thing
    assert "Console password: yes" in card and "never used" in card
    calls = mutations_reaching_aws(bot.client)
    bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    assert calls == [
        "DeleteLoginProfile", "DeleteAccessKey", "DeleteAccessKey", "DeleteSigningCertificate",
        "DeleteSSHPublicKey", "DeleteServiceSpecificCredential", "DeactivateMFADevice", "DeleteVirtualMFADevice",
        "DeleteUserPolicy", "DetachUserPolicy", "RemoveUserFromGroup", "RemoveUserFromGroup", "DeleteUser"]
    assert gone(lambda: aws.get_user(UserName=JANE))
    assert aws.list_virtual_mfa_devices()["VirtualMFADevices"] == []
    assert aws.get_group(GroupName="Developers")["Users"] == []
    assert bot.store.get(1).state == storage.PROVISIONED
    assert "Done: `jane.doe` and everything it held were removed" in card_text(slack, bot.store.get(1))
    assert any("Removed `jane.doe`" in t for t in thread_texts(slack))
    # The trail outlives the user: every step is in the store.
    steps = [e.what for e in bot.store.events(1) if e.what.startswith("step:")]
    assert steps[0] == "step:check" and steps[-1] == "step:delete_user" and len(steps) == 11


def test_disable_only_keeps_the_user_then_enable_gives_a_new_password(make_bot, slack, aws):
    passwords = iter(["Enabled-again-2Bb@xxxx"])
    bot = make_bot(passwords=lambda policy: next(passwords))
    held = seed_jane(aws)
    bot.slash("U0ALICE", "remove jane.doe --disable-only")
    assert "The user `jane.doe`, its groups, policies and other credentials stay" in card_text(slack, bot.store.get(1))
    bot.click("U0CAROL", blocks.ACTION_APPROVE, 1)
    assert gone(lambda: aws.get_login_profile(UserName=JANE))
    assert {k["Status"] for k in aws.list_access_keys(UserName=JANE)["AccessKeyMetadata"]} == {"Inactive"}
    assert len(aws.list_groups_for_user(UserName=JANE)["Groups"]) == 2
    assert "is disabled" in card_text(slack, bot.store.get(1))
    # A disabled user can be enabled: approved like a create, a password revealed once to its owner.
    response = bot.slash("U0ALICE", "enable jane.doe")
    assert "Request #2 filed" in bot.said(response.response_url)
    bot.click("U0BOB", blocks.ACTION_APPROVE, 2)
    dm = [p for p in slack.of("chat.postMessage") if p.get("channel") == OWNER_DM][-1]
    assert "is enabled again" in str(dm["blocks"])
    shown = bot.click("U0JANE", blocks.ACTION_REVEAL, channel=OWNER_DM)
    assert "Enabled-again-2Bb@xxxx" in bot.said(shown.response_url)
    assert aws.get_login_profile(UserName=JANE)["LoginProfile"]["PasswordResetRequired"] is True
    assert {k["Status"] for k in aws.list_access_keys(UserName=JANE)["AccessKeyMetadata"]} == {"Inactive"}
    # A later remove finishes the job: the finished disable does not hold the name.
    again = bot.slash("U0BOB", "remove jane.doe")
    assert "Request #3 filed" in bot.said(again.response_url)
    bot.click("U0CAROL", blocks.ACTION_APPROVE, 3)
    assert gone(lambda: aws.get_user(UserName=JANE))
    assert held["keys"][0] in card_text(slack, bot.store.get(3))


def key_statuses(aws, name=JANE) -> dict:
    return {k["AccessKeyId"]: k["Status"] for k in aws.list_access_keys(UserName=name)["AccessKeyMetadata"]}


def typed(bot, user, text) -> str:
    return bot.said(bot.slash(user, text).response_url)


def test_keys_a_disable_deactivated_come_back_only_through_enable_or_an_approver(make_bot, slack, aws):
    passwords = iter(["Enabled-again-2Bb@xxxx"])
    bot = make_bot(passwords=lambda policy: next(passwords), iam_bot_approvers="U0BOB,S0ADMINS")
    first, second = seed_jane(aws)["keys"]
    bot.slash("U0ALICE", "remove jane.doe --disable-only")
    bot.click("U0CAROL", blocks.ACTION_APPROVE, 1)
    assert key_statuses(aws) == {first: "Inactive", second: "Inactive"}
    # Jane owns the user but is no approver: the disable is not hers to undo.
    said = typed(bot, "U0JANE", f"activate-key jane.doe {second}")
    assert "was deactivated when `jane.doe` was disabled (request #1)" in said
    assert "/iam enable jane.doe" in said and "ask an approver" in said
    assert key_statuses(aws) == {first: "Inactive", second: "Inactive"}
    # An approver may bring a key back; one an approver deactivates stays an approver's to activate.
    assert "active again" in typed(bot, "U0BOB", f"activate-key jane.doe {first}")
    typed(bot, "U0BOB", f"deactivate-key jane.doe {first}")
    # An approved enable gives the disabled keys back to their owner.
    bot.slash("U0ALICE", "enable jane.doe")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 2)
    assert "active again" in typed(bot, "U0JANE", f"activate-key jane.doe {second}")
    assert "only an approver can activate it again" in typed(bot, "U0JANE", f"activate-key jane.doe {first}")
    assert key_statuses(aws) == {first: "Inactive", second: "Active"}


def test_a_lost_password_is_reset_with_a_second_person_and_revealed_once(make_bot, slack, aws):
    passwords = iter(["Never-shown-first-1Aa!", "First-reveal-2Bb@xxxx", "Reset-password-3Cc#xx"])
    bot = make_bot(passwords=lambda policy: next(passwords))
    bot.slash("U0ALICE", "create jane.doe Developers")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    bot.click("U0JANE", blocks.ACTION_REVEAL, channel=OWNER_DM)
    late = bot.click("U0JANE", blocks.ACTION_REVEAL, bot.store.get(1).id, channel=OWNER_DM)
    assert "`/iam reset-password jane.doe`" in bot.said(late.response_url)
    response = bot.slash("U0JANE", "reset-password jane.doe")
    assert "Request #2 filed: a new console password for `jane.doe`" in bot.said(response.response_url)
    refused = bot.click("U0JANE", blocks.ACTION_APPROVE, 2)
    assert "a second person must decide" in bot.said(refused.response_url)
    bot.click("U0BOB", blocks.ACTION_APPROVE, 2)
    shown = bot.click("U0JANE", blocks.ACTION_REVEAL, channel=OWNER_DM)
    assert "Reset-password-3Cc#xx" in bot.said(shown.response_url)
    assert bot.store.get(2).state == storage.REVEALED
    assert "Reset-password" not in str(bot.store.events()) + str(slack.of("chat.postMessage"))


def test_a_removed_user_frees_its_name_and_its_old_create_stops_being_live(bot, slack, aws):
    bot.slash("U0ALICE", "create jane.doe Developers --no-console")
    bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    assert bot.store.get(1).state == storage.PROVISIONED  # no reveal: provisioned for ever, until now
    bot.slash("U0BOB", "remove jane.doe --reason moved teams")
    bot.click("U0CAROL", blocks.ACTION_APPROVE, 2)
    assert gone(lambda: aws.get_user(UserName=JANE))
    assert bot.store.get(1).state == storage.REMOVED
    again = bot.slash("U0ALICE", "create jane.doe ReadOnly")
    assert "Request #3 filed" in bot.said(again.response_url)
    assert [r.state for r in bot.store.for_user_name(JANE)] == [storage.REMOVED, storage.PROVISIONED, storage.PENDING]


def test_thirty_concurrent_approvals_delete_the_user_once(bot, aws):
    seed_jane(aws)
    bot.slash("U0ALICE", "remove jane.doe")
    calls = mutations_reaching_aws(bot.client)
    statuses = bot.clicks_at_once(["U0BOB"] * 30, blocks.ACTION_APPROVE, "1")
    assert statuses == [200] * 30
    assert calls.count("DeleteUser") == 1 and calls.count("DeleteAccessKey") == 2
    assert [e.what for e in bot.store.events(1)].count("approved") == 1


def later(minutes: int):
    return lambda: dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5 * minutes)


def test_a_crash_after_each_step_resumes_and_deletes_nothing_twice(make_bot, slack, aws):
    seed_jane(aws)
    bot = make_bot()
    bot.slash("U0ALICE", "remove jane.doe")
    from commands.offboard import REMOVAL_STEPS, STEP_CHECK
    steps = [STEP_CHECK, *REMOVAL_STEPS]
    seen: list[list[str]] = []
    for n, step in enumerate(steps):
        # The process dies after AWS did the step, before the step was written down.
        real = bot.store.record_step

        def crash(request_id, done, *, step=step, real=real, **kwargs):
            if done == step:
                raise RuntimeError("process died")
            return real(request_id, done, **kwargs)
        bot.store.record_step = crash
        seen.append(mutations_reaching_aws(bot.client))
        if n == 0:
            bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
        bot.settle()
        bot.services.runner.stop()  # dead: its retry of the step is for the next process
        assert bot.store.get(1).state == storage.APPROVED
        bot = make_bot(clock=later(n + 1))
    seen.append(mutations_reaching_aws(bot.client))
    bot.settle()
    assert bot.store.get(1).state == storage.PROVISIONED
    assert gone(lambda: aws.get_user(UserName=JANE))
    calls = [call for calls in seen for call in calls]
    assert sorted(calls) == sorted([
        "DeleteLoginProfile", "DeleteAccessKey", "DeleteAccessKey", "DeleteSigningCertificate",
        "DeleteSSHPublicKey", "DeleteServiceSpecificCredential", "DeactivateMFADevice", "DeleteVirtualMFADevice",
        "DeleteUserPolicy", "DetachUserPolicy", "RemoveUserFromGroup", "RemoveUserFromGroup", "DeleteUser"])
    assert "Done: `jane.doe`" in card_text(slack, bot.store.get(1))


def test_a_step_aws_refuses_fails_with_its_words_and_retry_carries_on(bot, slack, aws):
    from tests.support.faults import Fault
    seed_jane(aws)
    bot.slash("U0ALICE", "remove jane.doe")
    fault = Fault(bot.client, "DetachUserPolicy", "AccessDenied", status=403)
    bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    request = bot.store.get(1)
    assert request.state == storage.FAILED
    failed = [t for t in thread_texts(slack) if "stopped" in t][-1]
    assert "detach the managed policies of jane.doe" in failed and "AccessDenied" in failed
    assert "stopped at `managed policies`" in card_text(slack, request)
    assert gone(lambda: aws.get_login_profile(UserName=JANE))  # what went before stays gone
    fault.remove()
    calls = mutations_reaching_aws(bot.client)
    bot.click("U0CAROL", blocks.ACTION_RETRY, 1)
    assert calls == ["DetachUserPolicy", "RemoveUserFromGroup", "RemoveUserFromGroup", "DeleteUser"]
    assert bot.store.get(1).state == storage.PROVISIONED


def test_who_may_not_approve_and_what_may_not_be_removed(make_bot, slack, aws, moto_url):
    bot = make_bot(iam_bot_protected_users="breakglass")
    seed_jane(aws)
    aws.create_user(UserName="outsider", Path="/contractors/")
    aws.create_user(UserName="breakglass", Path="/people/")
    bot.slash("U0ALICE", "remove jane.doe")
    before = aws.list_access_keys(UserName=JANE)["AccessKeyMetadata"]
    for who, words in (("U0ALICE", "you asked for it"), ("U0DAN", "not one of the approvers"),
                       ("U0JANE", "the account is for you")):
        refused = bot.click(who, blocks.ACTION_APPROVE, 1)
        assert words in bot.said(refused.response_url)
    assert bot.store.get(1).state == storage.PENDING
    for text, words in (
            ("remove jane.doe", "Request #1 for `jane.doe` is already open"),
            ("remove outsider", "outside `/people/`"),
            ("remove nobody.here", "There is no IAM user named `nobody.here`"),
            ("remove breakglass --reason tidy up", "is protected"),
            ("reset-password breakglass", "is protected"),
            ("remove jane.doe --force", "the options are"),
            ("remove jane.doe --reason", "Say why after `--reason`")):
        response = bot.slash("U0BOB", text)
        said = response.text + bot.said(response.response_url)  # a typing mistake is answered in the ack
        assert words in said, (text, said)
    # The bot's own identity: STS names the user whose key the bot uses.
    aws.create_user(UserName="iam-bot-itself", Path="/people/")
    key = aws.create_access_key(UserName="iam-bot-itself")["AccessKey"]
    bot.services.iam.sts = boto3.client(
        "sts", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"])
    bot.services.iam._identity.forget()
    said = bot.said(bot.slash("U0BOB", "remove iam-bot-itself").response_url)
    assert "the AWS identity the bot itself runs as" in said
    # Nothing changed: one request, and AWS holds what it held.
    assert [r.id for r in bot.store.in_states(storage.LIVE_STATES)] == [1]
    assert aws.list_access_keys(UserName=JANE)["AccessKeyMetadata"] == before
    assert aws.get_user(UserName="outsider") and aws.get_user(UserName="breakglass")
