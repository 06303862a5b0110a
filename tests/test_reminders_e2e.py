"""A pending request is re-announced to the approvers with backoff, and its requester can withdraw it."""

import datetime as dt

import pytest

import storage
from bot import blocks
from tests.support.harness import APPROVALS, all_at_once

pytestmark = pytest.mark.e2e

T0 = dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.timezone.utc)
HOUR = dt.timedelta(hours=1)


def thread_lines(slack, request):
    return [p["text"] for p in slack.of("chat.postMessage") if p.get("thread_ts") == request.card_ts]


def reminders(slack, request):
    return [t for t in thread_lines(slack, request) if t.startswith(":bell:")]


def card_updates(slack):
    return [p for p in slack.of("chat.update") if p.get("channel") == APPROVALS]


@pytest.fixture
def clocked(make_bot):
    now = [T0]
    bot = make_bot(clock=lambda: now[0])

    def at(delta):
        """Move the clock to T0 + delta and let the single duties runner look, as it does every minute."""
        now[0] = T0 + delta
        bot.run_duty("reminders")
        bot.settle()

    return bot, at


def file_jane(bot):
    response = bot.slash("U0ALICE", "create jane.doe Developers")
    assert "Request #1 filed" in bot.said(response.response_url)
    return bot.store.get(1)


# -- reminders ---------------------------------------------------------------------------

def test_reminders_come_1h_after_filing_then_2h_4h_8h_later_until_expiry(clocked, slack):
    bot, at = clocked
    request = file_jane(bot)
    seen = []
    for quarter in range(0, 4 * 26):  # every 15 minutes, past the 24 h expiry
        delta = quarter * dt.timedelta(minutes=15)
        before = len(reminders(slack, request))
        at(delta)
        if len(reminders(slack, request)) > before:
            seen.append(delta / HOUR)
    assert seen == [1, 3, 7, 15]  # the next would be at 31 h, after the request expired at 24 h
    bot.run_duty("sweep")
    at(40 * HOUR)
    assert bot.store.get(1).state == storage.EXPIRED and len(reminders(slack, request)) == 4
    first, second = reminders(slack, request)[:2]
    # In the card's thread, mentioning the approvers: people and user groups.
    assert "request #1 (IAM user `jane.doe` for <@U0JANE>)" in first
    assert "<@U0BOB>" in first and "<!subteam^S0ADMINS>" in first
    assert "please approve or deny it" in first and "expires" in first
    assert second.startswith(":bell: Reminder 2:")
    assert [e.detail for e in bot.store.events(1) if e.what == "reminded"] == [
        "reminder 1", "reminder 2", "reminder 3", "reminder 4"]


def test_no_reminder_after_a_decision(clocked, slack, aws):
    bot, at = clocked
    request = file_jane(bot)
    at(HOUR)
    assert len(reminders(slack, request)) == 1
    bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    for hours in (3, 7, 15, 23):
        at(hours * HOUR)
    assert len(reminders(slack, request)) == 1
    assert bot.store.get(1).state == storage.PROVISIONED


def test_no_reminder_after_a_denial_or_withdrawal(clocked, slack):
    bot, at = clocked
    request = file_jane(bot)
    bot.submit_deny("U0BOB", 1, "not this quarter")
    second = bot.slash("U0ALICE", "create dan.d Developers <@U0DAN>")
    assert "Request #2 filed" in bot.said(second.response_url)
    bot.slash("U0ALICE", "cancel 2")
    for hours in (1, 3, 7):
        at(hours * HOUR)
    assert reminders(slack, request) == [] and reminders(slack, bot.store.get(2)) == []


def test_a_late_runner_sends_one_reminder_not_the_ones_it_missed(clocked, slack):
    """The bot was down from 30 minutes to 8 hours: one reminder now, the next 2 h after it."""
    bot, at = clocked
    request = file_jane(bot)
    at(8 * HOUR)
    assert len(reminders(slack, request)) == 1
    at(9 * HOUR + 59 * dt.timedelta(minutes=1))
    assert len(reminders(slack, request)) == 1
    at(10 * HOUR)
    assert len(reminders(slack, request)) == 2


def test_one_reminder_per_step_however_many_processes_look(make_bot, slack):
    """Two bots on one database (two replicas), each with several runners looking at once."""
    now = [T0]
    bots = [make_bot(clock=lambda: now[0]), make_bot(clock=lambda: now[0])]
    request = file_jane(bots[0])
    now[0] = T0 + HOUR
    all_at_once(bots, "reminders", 8)
    assert len(reminders(slack, request)) == 1
    assert [e.what for e in bots[0].store.events(1)].count("reminded") == 1


# -- withdrawing -------------------------------------------------------------------------

def test_the_requester_withdraws_with_a_command_and_may_ask_again_at_once(bot, slack, aws):
    request = file_jane(bot)
    response = bot.slash("U0ALICE", "cancel 1")
    assert response.json()["text"] == "Withdrawing request #1…"
    assert "You withdrew request #1 (IAM user `jane.doe` for <@U0JANE>)" in bot.said(response.response_url)
    assert bot.store.get(1).state == storage.CANCELLED
    card = card_updates(slack)[-1]
    assert card["ts"] == request.card_ts and "Withdrawn by <@U0ALICE>" in str(card["blocks"])
    assert not [b for b in card["blocks"] if b["type"] == "actions"]  # no Approve or Deny any more
    assert any("<@U0ALICE> withdrew request #1" in t for t in thread_lines(slack, request))
    # Nothing waits for jane.doe any more: she can be asked for again straight away.
    again = bot.slash("U0ALICE", "create jane.doe Developers")
    assert "Request #2 filed" in bot.said(again.response_url)
    # An approver's late click on the old card changes nothing.
    late = bot.click("U0BOB", blocks.ACTION_APPROVE, 1, message_ts=request.card_ts)
    assert "Request #1 is already cancelled; nothing changed." in bot.said(late.response_url)
    with pytest.raises(aws.exceptions.NoSuchEntityException):
        aws.get_user(UserName="jane.doe")


def test_the_cancel_button_on_the_filed_confirmation(bot, slack):
    response = bot.slash("U0ALICE", "create jane.doe Developers")
    [filed] = bot.responses(response.response_url)
    assert filed["response_type"] == "ephemeral"
    [cancel] = [e for b in filed["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert cancel["action_id"] == blocks.ACTION_CANCEL and cancel["confirm"]
    clicked = bot.click("U0ALICE", blocks.ACTION_CANCEL, cancel["value"], channel="C0GENERAL")
    [answer] = bot.responses(clicked.response_url)
    assert answer["replace_original"] is True and "You withdrew request #1" in answer["text"]
    assert bot.store.get(1).state == storage.CANCELLED
    assert "Withdrawn by <@U0ALICE>" in str(card_updates(slack)[-1]["blocks"])


NOT_YOURS = "You can only withdraw a request you filed, and #{n} is not one of yours. Nothing changed."


@pytest.mark.parametrize("who", ["U0BOB", "U0JANE", "U0DAN"])
def test_only_the_requester_may_withdraw(bot, slack, who):
    file_jane(bot)
    response = bot.slash(who, "cancel 1")
    said = bot.said(response.response_url)
    assert NOT_YOURS.format(n=1) in said and "U0ALICE" not in said
    assert bot.store.get(1).state == storage.PENDING and card_updates(slack) == []
    last = bot.store.events(1)[-1]
    assert (last.what, last.actor_id) == ("refused:not_requester", who)


def test_a_stranger_cannot_tell_whether_a_request_exists_or_who_filed_it(bot, slack):
    file_jane(bot)
    theirs = bot.said(bot.slash("U0DAN", "cancel 1").response_url)
    nothing = bot.said(bot.slash("U0DAN", "cancel 42").response_url)
    assert theirs.replace("#1", "#N") == nothing.replace("#42", "#N")
    assert NOT_YOURS.format(n=42) in nothing
    assert bot.store.get(1).state == storage.PENDING and bot.store.find(42) is None
    # Both refusals are on record; the one about no request points at none (the id is in its detail).
    refusals = [(e.request_id, e.actor_id, e.what, e.detail) for e in bot.store.events()
                if e.what.startswith("refused:")]
    assert refusals == [(1, "U0DAN", "refused:not_requester", "cancel"),
                        (None, "U0DAN", "refused:not_requester", "cancel #42: no such request")]


def test_someone_elses_cancel_button_changes_nothing(bot, slack):
    file_jane(bot)
    clicked = bot.click("U0DAN", blocks.ACTION_CANCEL, 1, channel="C0GENERAL")
    assert NOT_YOURS.format(n=1) in bot.said(clicked.response_url)
    assert bot.store.get(1).state == storage.PENDING


def test_a_decided_request_cannot_be_withdrawn(bot, aws):
    file_jane(bot)
    bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    response = bot.slash("U0ALICE", "cancel #1")
    assert ("Request #1 is already provisioned; only a request still waiting for approval can be withdrawn."
            in bot.said(response.response_url))
    assert bot.store.get(1).state == storage.PROVISIONED


@pytest.mark.parametrize("text, says", [
    ("cancel", "Name the request to withdraw by its number"),
    ("cancel jane.doe", "Name the request to withdraw by its number"),
    ("cancel 1 2", "Name the request to withdraw by its number"),
    ("cancel 0", "Name the request to withdraw by its number"),
])
def test_cancel_without_a_request_number_says_how(bot, text, says):
    response = bot.slash("U0ALICE", text)
    assert says in response.json()["text"]


def test_cancel_of_no_such_request(bot):
    response = bot.slash("U0ALICE", "cancel 42")
    assert NOT_YOURS.format(n=42) in bot.said(response.response_url)
