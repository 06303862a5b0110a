"""Acks first: the durable work after a command waits while the server is answering other
requests (bot.work.InFlight), so that an ack never waits for the interpreter behind it."""

from __future__ import annotations

import threading
import time

from bot.work import ACKS_FIRST_SECONDS, InFlight
from tests.test_offboard_e2e import JANE


def test_the_work_after_a_command_waits_while_the_server_answers_requests(bot):
    answering = InFlight()
    bot.services.runner.in_flight = answering
    with answering:  # a request the server is answering, as bot/server.py counts them
        response = bot.slash("U0ALICE", "create jane.doe Developers", settle=False)
        assert response.status_code == 200 and "Checking your request" in response.text
        time.sleep(min(0.3, ACKS_FIRST_SECONDS / 2))
        assert bot.responses(response.response_url) == []  # nothing filed while a request waits
        assert bot.store.for_user_name(JANE) == []
    bot.settle()
    assert "Request #1 filed" in bot.said(response.response_url)


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
