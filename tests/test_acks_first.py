"""Acks first: Slack's request is answered when its listener returns, and nothing slow is in the way.

The app runs Bolt with process_before_response (bot/app.py): a click acks and leaves its part
to the listener pool (bot/listeners/handoff.py); an event is written down before its answer,
so an event the bot could not write down is refused and Slack sends it again; the durable
work after a command waits while the server is answering other requests (bot.work.InFlight).
"""

from __future__ import annotations

import json
import os
import threading
import time

import pytest
import storage
from bot import blocks
from bot.router import after_ack
from bot.work import ACKS_FIRST_SECONDS, InFlight
from tests.support.stories import JANE, leaves, seed_jane, send, user_change

pytestmark = pytest.mark.e2e


def test_a_click_is_answered_while_its_slow_part_still_waits_for_slack(bot, slack, aws):
    bot.slash("U0ALICE", "create jane.doe Developers")
    # Who clicked is asked of Slack after the ack; Slack does not answer until released.
    held = slack.hold("users.info", where=lambda params: params.get("user") == "U0BOB")
    try:
        response = bot.click("U0BOB", blocks.ACTION_APPROVE, settle=False)
        assert response.status_code == 200  # answered, with the click's part stuck at users.info
        held.wait_reached()
        assert bot.store.get(1).state == storage.PENDING
        assert gone(aws, JANE)
    finally:
        held.release()
    bot.settle()
    assert bot.store.get(1).state == storage.PROVISIONED
    assert aws.get_user(UserName=JANE)["User"]["UserName"] == JANE


def test_an_event_the_bot_could_not_write_down_is_refused_so_slack_sends_it_again(bot, slack, aws):
    seed_jane(aws)
    leaves(slack, "U0JANE")
    path = bot.store.path
    os.rename(path, path + ".away")  # the database is out of reach while the event comes in
    try:
        refused = bot.post(user_change("Ev09"), content_type="application/json")
    finally:
        os.rename(path + ".away", path)
    assert refused.status_code != 200  # Slack retries an event not answered 200
    assert bot.store.for_user_name(JANE) == []
    assert send(bot, user_change("Ev09")).status_code == 200  # Slack's retry
    [removal] = bot.store.for_user_name(JANE)
    assert (removal.kind, removal.requester_id, removal.state) == ("remove", "iam-bot", storage.PENDING)


def test_over_socket_mode_an_event_the_bot_could_not_write_down_is_left_for_slack_to_send_again(bot, slack, aws):
    from slack_sdk.socket_mode.request import SocketModeRequest

    from bot.socket_mode import CheckedSocketModeHandler
    from tests.support.socket_client import SocketClient

    handler = CheckedSocketModeHandler.__new__(CheckedSocketModeHandler)
    handler.app = bot.app
    client = SocketClient()
    seed_jane(aws)
    leaves(slack, "U0JANE")
    event = json.loads(user_change("Ev10"))
    path = bot.store.path
    os.rename(path, path + ".away")
    try:
        handler.handle(client, SocketModeRequest(type="events_api", envelope_id="E1", payload=event))
    finally:
        os.rename(path + ".away", path)
    assert client.sent == []  # unacknowledged: Slack delivers it again
    handler.handle(client, SocketModeRequest(type="events_api", envelope_id="E2", payload=event))
    assert [ack["envelope_id"] for ack in client.sent] == ["E2"]
    bot.settle()
    [removal] = bot.store.for_user_name(JANE)
    assert (removal.kind, removal.state) == ("remove", storage.PENDING)


class Watched(InFlight):
    """InFlight that tells when work comes to wait for the requests to go first, and whether
    none was left when the work went on."""

    def __init__(self):
        super().__init__()
        self.work_waits = threading.Event()
        self.quiet_when_work_went_on: list[bool] = []

    def wait_quiet(self, timeout: float) -> bool:
        self.work_waits.set()
        quiet = super().wait_quiet(timeout)
        self.quiet_when_work_went_on.append(quiet)
        return quiet


def test_the_work_after_a_command_waits_while_the_server_answers_requests(bot, monkeypatch):
    # However slow this machine is, the work must not give up waiting while the test looks.
    monkeypatch.setattr("bot.work.ACKS_FIRST_SECONDS", 120)
    answering = Watched()
    bot.services.runner.in_flight = answering
    with answering:  # a request the server is answering, as bot/server.py counts them
        response = bot.slash("U0ALICE", "create jane.doe Developers", settle=False)
        assert response.status_code == 200 and "Checking your request" in response.text
        assert answering.work_waits.wait(30), "the command's work never came to wait for the request"
        assert bot.responses(response.response_url) == []  # nothing filed while a request waits
        assert bot.store.for_user_name(JANE) == []
    bot.settle()
    assert "Request #1 filed" in bot.said(response.response_url)
    # It went on only once the request was answered.
    assert answering.quiet_when_work_went_on and all(answering.quiet_when_work_went_on)


def test_the_work_starts_anyway_when_requests_never_stop_coming(bot):
    answering = InFlight()
    bot.services.runner.in_flight = answering
    with answering:
        response = bot.slash("U0ALICE", "create jane.doe Developers", settle=False)
        deadline = time.monotonic() + ACKS_FIRST_SECONDS + 10
        while "filed" not in bot.said(response.response_url) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "Request #1 filed" in bot.said(response.response_url)  # the requests still in flight
    bot.settle()


def test_in_flight_counts_requests_from_several_threads():
    answering = InFlight()
    entered, leave = threading.Barrier(5), threading.Event()

    def request():
        with answering:
            entered.wait()
            leave.wait()

    threads = [threading.Thread(target=request) for _ in range(4)]
    for thread in threads:
        thread.start()
    entered.wait()
    assert not answering.wait_quiet(0.05)
    leave.set()
    for thread in threads:
        thread.join()
    assert answering.wait_quiet(0)


def test_a_part_run_after_the_ack_may_ask_only_for_what_it_gets():
    def wants_say(say, context):
        pass

    with pytest.raises(TypeError, match="wants_say asks for say"):
        after_ack(None, wants_say)


def gone(aws, name: str) -> bool:
    try:
        aws.get_user(UserName=name)
    except aws.exceptions.NoSuchEntityException:
        return True
    return False
