"""/iam status and /iam audit, and the scheduled audit: end to end over HTTP, fake Slack, moto's server."""

import datetime as dt

import pytest
from moto.iam.models import iam_backends

import storage
from bot import blocks
from bot.shell.credential_report import ReportFiller
from commands.audit import parse_report, summarize
from commands.iam import IamGateway, ReportNotReady
from tests.support.faults import record_calls
from tests.support.harness import APPROVALS, all_at_once

pytestmark = pytest.mark.e2e

ACCOUNT = "123456789012"
NOW = dt.datetime.now(dt.timezone.utc)
DAY = dt.timedelta(days=1)


def fill_account(users: int) -> None:
    """Users straight into moto's model (the HTTP API would take seconds for a thousand)."""
    backend = iam_backends[ACCOUNT]["global"]
    for i in range(users):
        backend.create_user("us-east-1", f"colleague.{i:05d}", path="/people/")


def provision(bot, text, approver="U0BOB"):
    every_state = [storage.PENDING, storage.APPROVED, storage.FAILED, storage.DENIED, storage.EXPIRED,
                   storage.CANCELLED, *storage.PROVISIONED_STATES]
    before = len(bot.store.in_states(every_state))
    bot.slash("U0ALICE", text)
    request_id = before + 1
    bot.click(approver, blocks.ACTION_APPROVE, request_id)
    assert bot.store.get(request_id).state == storage.PROVISIONED
    return bot.store.get(request_id)


def answer(bot, user, text):
    """The ephemeral answer to a command, as blocks text, and the response itself."""
    response = bot.slash(user, text)
    assert response.json()["response_type"] == "ephemeral"
    replies = bot.responses(response.response_url)
    assert all(r["response_type"] == "ephemeral" for r in replies)
    return "\n".join(str(r.get("text", "")) + str(r.get("blocks", "")) for r in replies)


def line(text, title):
    """The audit message's section that starts with `title`."""
    for part in text.split("'text': '"):
        if title in part:
            return part.split("'}")[0]
    raise AssertionError(f"no line {title!r} in {text}")


# -- /iam status -------------------------------------------------------------------------

def test_an_approver_sees_every_request_about_a_user_with_its_trail(bot, aws):
    bot.slash("U0ALICE", "create jane.doe Developers")
    bot.submit_deny("U0BOB", 1, "wrong group")
    provision(bot, "create jane.doe ReadOnly", approver="U0CAROL")
    said = answer(bot, "U0BOB", "status JANE.DOE")  # IAM names ignore case
    assert "Requests about `JANE.DOE`" in said
    assert said.index("*#2*") < said.index("*#1*")  # newest first
    assert "*#2* · IAM user `jane.doe` for <@U0JANE> · *provisioned*" in said
    assert "<@U0ALICE> asked" in said and "<@U0CAROL> approved" in said and "the bot provisioned it" in said
    assert "*#1* · IAM user `jane.doe` for <@U0JANE> · *denied*" in said and "<@U0BOB> denied (their reason below, as typed)" in said
    assert "{'type': 'plain_text', 'text': 'wrong group', 'emoji': False}" in said
    assert "step:" not in said


def test_the_owner_sees_the_requests_for_them_and_others_are_refused(bot, aws):
    provision(bot, "create dan.d Developers <@U0DAN>")
    said = answer(bot, "U0DAN", "status dan.d")
    assert "Requests about `dan.d`* (those for you)" in said and "*#1*" in said
    refused = answer(bot, "U0DAN", "status jane.doe")
    assert "Only approvers, and the person `jane.doe` is for, can see its requests." in refused
    refused = answer(bot, "U0GUEST", "status dan.d")  # a guest is never an approver
    assert "Only approvers" in refused
    assert [(e.actor_id, e.what, e.detail) for e in bot.store.events() if e.what == "refused:status"] == [
        ("U0DAN", "refused:status", "jane.doe"), ("U0GUEST", "refused:status", "dan.d")]


def test_status_of_a_user_the_bot_never_saw(bot):
    said = answer(bot, "U0BOB", "status sam")
    assert "The bot has no requests about `sam`" in said


# -- /iam audit --------------------------------------------------------------------------

@pytest.fixture
def seeded(bot, aws):
    """An account of 1,000 colleagues plus a few telling users, and jane.doe made by the bot."""
    jane = provision(bot, "create jane.doe Developers")
    fill_account(1000)
    filler = ReportFiller(bot.client, root_mfa=False, root_keys=1, generated=lambda: NOW - dt.timedelta(hours=3))
    for name in ("mfa.user", "no.mfa", "old.key", "idle.key", "never.key", "ghost"):
        aws.create_user(UserName=name)
    for name in ("mfa.user", "no.mfa"):
        aws.create_login_profile(UserName=name, Password="Correct-Horse-9!", PasswordResetRequired=False)
    device = aws.create_virtual_mfa_device(VirtualMFADeviceName="mfa.user")["VirtualMFADevice"]["SerialNumber"]
    aws.enable_mfa_device(UserName="mfa.user", SerialNumber=device, AuthenticationCode1="123456",
                          AuthenticationCode2="654321")
    for name in ("old.key", "idle.key", "never.key"):
        aws.create_access_key(UserName=name)
    # What AWS would hold and moto does not record: password use, old keys and their last use, an old user.
    filler.set("no.mfa", password_last_used=NOW - 10 * DAY)
    filler.set("mfa.user", password_last_used=NOW - 2 * DAY)
    filler.set("old.key", access_key_1_last_rotated=NOW - 200 * DAY, access_key_1_last_used_date=NOW - 5 * DAY)
    filler.set("idle.key", access_key_1_last_rotated=NOW - 120 * DAY, access_key_1_last_used_date=NOW - 100 * DAY)
    filler.set("ghost", user_creation_time=NOW - 400 * DAY)
    return jane


def test_audit_of_1000_users_is_the_credential_report_and_its_lines_are_right(bot, seeded):
    calls = record_calls(bot.client)
    said = answer(bot, "U0BOB", "audit")
    # The same two kinds of call for any number of users: ask until COMPLETE, then read it once.
    assert set(calls) == {"GenerateCredentialReport", "GetCredentialReport"}
    assert calls.count("GetCredentialReport") == 1 and calls[-1] == "GetCredentialReport"
    assert "Credential audit of the AWS account*: 1007 IAM users" in said
    assert "3 hours old; AWS makes a new one at most every 4 hours" in said
    assert "*Root user*: :rotating_light: *no MFA*" in said and "*1 active access key*" in said
    assert line(said, "Console users without MFA").endswith("(2): `jane.doe`, `no.mfa`")
    assert line(said, "Access keys older than 90 days").endswith(
        "(2): `idle.key` (key 1, 120 days), `old.key` (key 1, 200 days)")
    assert line(said, "unused for 90 days or never used").endswith(
        "(2): `idle.key` (key 1, 100 days), `never.key` (key 1, never used)")
    assert line(said, "Users unused for 90 days").endswith("(2): `ghost`, `idle.key` (100 days)")
    not_made = line(said, "Users the bot did not make")
    assert "(1006): `colleague.00000`" in not_made and not_made.endswith(", and 986 more")
    assert "jane.doe" not in not_made and not_made.count("`") == 40  # the first 20 users, named


def test_a_clean_account_says_none_on_each_line(bot, aws):
    ReportFiller(bot.client, root_mfa=True, root_keys=0)
    said = answer(bot, "U0BOB", "audit")
    assert "MFA on" in said and "no access keys" in said and "just made" in said
    for title in ("Console users without MFA", "Access keys older than 90 days", "Users unused for 90 days",
                  "Users the bot did not make"):
        assert line(said, title).endswith("*: none")


def test_without_a_root_row_the_message_says_so(bot, aws):
    said = answer(bot, "U0BOB", "audit")  # moto's own report: no root row
    assert "not in the report, so its MFA and keys are unknown" in said


@pytest.mark.parametrize("who", ["U0DAN", "U0GUEST"])  # not named; named but a guest
def test_only_approvers_may_audit(bot, aws, who):
    calls = record_calls(bot.client)
    said = answer(bot, who, "audit")
    assert "Only approvers can run `/iam audit`." in said
    assert calls == []
    assert bot.store.events()[-1].what == "refused:audit"


def test_audit_takes_no_arguments(bot):
    response = bot.slash("U0BOB", "audit everything")
    assert "takes nothing after it" in response.json()["text"]


def test_a_report_aws_is_still_generating_is_a_clear_try_again():
    class Generating:
        calls = 0

        def generate_credential_report(self):
            self.calls += 1
            return {"State": "INPROGRESS"}

    client = Generating()
    slept = []
    with pytest.raises(ReportNotReady):
        IamGateway(client).credential_report(sleep=slept.append, waits=(1.0, 2.0))
    assert client.calls == 3 and slept == [1.0, 2.0]


def test_the_report_is_parsed_as_aws_writes_it():
    content = (
        "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,"
        "password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,"
        "access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,"
        "access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,"
        "access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n"
        "<root_account>,arn:aws:iam::111122223333:root,2019-01-01T00:00:00+00:00,not_supported,"
        "2026-01-01T00:00:00+00:00,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,"
        "false,N/A,false,N/A\n"
        "Bob.Smith,arn:aws:iam::111122223333:user/Bob.Smith,2020-01-01T00:00:00+00:00,true,no_information,"
        "2020-01-01T00:00:00+00:00,N/A,false,true,2020-01-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,"
        "false,N/A,false,N/A\n"
    )
    now = dt.datetime(2026, 11, 28, tzinfo=dt.timezone.utc)
    summary = summarize(parse_report(content), generated_at=now, now=now,
                        made={"arn:aws:iam::111122223333:user/Bob.Smith"})
    assert summary.users == 1 and summary.root.mfa_active and summary.root.active_keys == 0
    assert [f.user for f in summary.no_mfa] == ["Bob.Smith"]
    assert [(f.user, f.key) for f in summary.old_keys] == [("Bob.Smith", 1)]
    assert [(f.user, f.days) for f in summary.unused_keys] == [("Bob.Smith", None)]
    assert [(f.user, f.days) for f in summary.unused_users] == [("Bob.Smith", None)]
    assert summary.not_made == ()


# -- IAM_BOT_AUDIT_EVERY -----------------------------------------------------------------

def scheduled_posts(slack):
    return [p for p in slack.of("chat.postMessage")
            if p.get("channel") == APPROVALS and "Scheduled credential audit" in p.get("text", "")]


def test_the_scheduled_audit_is_posted_once_per_period_however_many_processes_run(make_bot, slack, aws):
    now = [dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.timezone.utc)]  # a Thursday: weeks from the epoch start then
    bots = [make_bot(clock=lambda: now[0], iam_bot_audit_every="7d") for _ in range(2)]
    ReportFiller(bots[0].client, generated=lambda: now[0])
    ReportFiller(bots[1].client, generated=lambda: now[0])

    def tick_everywhere():
        all_at_once(bots, "scheduled_audit", 6)

    tick_everywhere()
    [post] = scheduled_posts(slack)
    assert "IAM users" in str(post["blocks"]) and "Root user" in str(post["blocks"])
    now[0] += dt.timedelta(days=6, hours=11)  # still this period
    tick_everywhere()
    assert len(scheduled_posts(slack)) == 1
    now[0] += dt.timedelta(hours=1)  # the next Thursday, 00:00 UTC
    tick_everywhere()
    assert len(scheduled_posts(slack)) == 2


def test_no_schedule_no_post(make_bot, slack, aws):
    bot = make_bot()
    bot.run_duty("scheduled_audit")
    bot.settle()
    assert scheduled_posts(slack) == [] and bot.store.jobs(kind="audit_post") == []


def test_the_schedule_is_a_duration_or_unset():
    from commands.settings import SettingsError, load_settings

    base = dict(iam_bot_approvals_channel="C0APPROVALS", iam_bot_approvers="U0BOB")
    assert load_settings(**base, iam_bot_audit_every="7d").iam_bot_audit_every == 7 * DAY
    assert load_settings(**base, iam_bot_audit_every="").iam_bot_audit_every is None
    assert load_settings(**base).iam_bot_audit_every is None
    with pytest.raises(SettingsError, match="IAM_BOT_AUDIT_EVERY is malformed"):
        load_settings(**base, iam_bot_audit_every="weekly")
