"""The database goes away under a running `iam-bot serve`, and comes back.

While it is away, everyone who acts is told so within Slack's 3 seconds and nothing is half-done;
an event Slack delivers is refused at once, so that Slack delivers it again; the health check
says why it fails before a load balancer's probe gives up. When the database is back, all of it
works again without a restart.
"""

import os

import pytest
import requests

import storage
from bot import blocks
from bot.words import STORE_DOWN
from tests.support.harness import APPROVALS, SLACK_WAITS
from tests.support.postgres import PostgresServer
from tests.support.process import answer, file_request, newest_request, wait_until
from tests.support.stories import leaves, user_change

pytestmark = [pytest.mark.e2e, pytest.mark.crash]

pytest_plugins = ["tests.support.process"]

PROBE_WAITS = 1  # seconds a load balancer's health probe waits


@pytest.fixture
def postgres():
    """A PostgreSQL server of this test's own, to stop and start again."""
    server = PostgresServer().start()
    yield server
    server.stop()


def health(served) -> requests.Response:
    return requests.get(f"{served.base}/healthz", timeout=PROBE_WAITS)


def deliver(served, event: str) -> requests.Response:
    """An Events API delivery, given up on after Slack's 3 seconds."""
    return served.sender.post(event, content_type="application/json", timeout=SLACK_WAITS)


def test_while_postgres_is_down_people_are_told_at_once_and_nothing_is_lost(serve, slack, aws, postgres):
    served = serve("bot", database_url=postgres.create_database())
    jane = file_request(served, "U0ALICE", "create jane.doe Developers", "U0JANE")

    postgres.halt()
    # alice asks for another user: the ack tells her, in time, that nothing was done.
    ack = served.slash("U0ALICE", "create dan Developers", timeout=SLACK_WAITS)
    assert ack.status_code == 200 and ack.json()["text"] == STORE_DOWN
    # jane is deactivated: Slack's delivery is refused in time, so Slack will send it again.
    leaves(slack, "U0JANE")
    assert deliver(served, user_change("Ev01")).status_code >= 500
    # bob approves jane's request: the click is acked, and he is told nothing was done.
    click = served.click("U0BOB", blocks.ACTION_APPROVE, value=str(jane.id), channel=APPROVALS,
                         message_ts=jane.card_ts, timeout=SLACK_WAITS)
    assert click.status_code == 200
    assert answer(served, click) == STORE_DOWN
    # A load balancer's probe is answered before it gives up, with the reason.
    probe = health(served)
    assert probe.status_code == 503 and "database" in probe.json()["reason"]

    postgres.resume()
    wait_until(lambda: health(served).status_code == 200, what="/healthz to say 200 again")
    # Slack sends the event again: jane's open request is voided now, as it would have been.
    assert deliver(served, user_change("Ev01")).status_code == 200
    wait_until(lambda: served.store.get(jane.id).state == storage.CANCELLED, what="jane's request to be voided")
    # Nothing of what was tried during the outage happened, half or whole.
    assert "approved" not in [event.what for event in served.store.events(jane.id)]
    assert newest_request(served.store, "U0DAN") is None
    # alice tries again, and it works.
    dan = file_request(served, "U0ALICE", "create dan Developers", "U0DAN")
    assert dan.state == storage.PENDING


def test_over_socket_mode_a_command_is_told_the_database_is_out_of_reach_and_nothing_is_filed(bot, slack, aws):
    from slack_sdk.socket_mode.request import SocketModeRequest

    from bot.socket_mode import CheckedSocketModeHandler
    from tests.support.socket_client import SocketClient

    handler = CheckedSocketModeHandler.__new__(CheckedSocketModeHandler)
    handler.app = bot.app
    client = SocketClient()
    payload = {"command": "/iam", "text": "create dan Developers", "user_id": "U0ALICE", "team_id": "T0TEAM",
               "channel_id": "C0GENERAL", "response_url": slack.response_url("s1", user_id="U0ALICE"),
               "trigger_id": slack.trigger("U0ALICE"), "api_app_id": "A0APP", "user_name": "alice",
               "team_domain": "test", "channel_name": "general", "token": "unused"}
    path = bot.store.path
    os.rename(path, path + ".away")  # the SQLite file is out of reach while alice types
    try:
        handler.handle(client, SocketModeRequest(type="slash_commands", envelope_id="E1", payload=payload))
    finally:
        os.rename(path + ".away", path)
    [ack] = client.sent
    assert ack["envelope_id"] == "E1" and ack["payload"]["text"] == STORE_DOWN
    bot.settle()
    assert bot.store.for_owner("U0DAN") == [] and bot.store.jobs() == []
