"""An access review's cards are posted by durable work: `iam-bot serve` killed with SIGKILL while
posting them resumes, once started again, with the cards not yet posted, and none twice."""

import re

import pytest

from tests.support.harness import APPROVALS
from tests.support.process import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.crash, pytest.mark.slow]

pytest_plugins = ["tests.support.process"]


def card_texts(slack) -> list[str]:
    return [m.text for m in slack.messages(APPROVALS) if not m.thread_ts and re.match(r"Access review #\d+: ", m.text)]


def test_killed_while_posting_a_review_it_posts_the_rest_once(serve, slack, aws):
    for n in range(1, 26):
        aws.create_user(UserName=f"dev{n:02}")
        aws.add_user_to_group(UserName=f"dev{n:02}", GroupName="Developers")
    served = serve("bot")
    held = slack.hold("chat.postMessage", where=lambda p: "members 21-25" in str(p.get("text")))
    served.slash("U0BOB", "review start Developers")
    held.wait_reached()
    assert card_texts(slack) == ["Access review #1: Developers, members 1-10 of 25",
                                 "Access review #1: Developers, members 11-20 of 25"]
    served.restart()
    held.abandon()  # the dead process's call never reaches Slack
    wait_until(lambda: len(card_texts(slack)) == 3, timeout=30, what="the third card")
    assert card_texts(slack) == ["Access review #1: Developers, members 1-10 of 25",
                                 "Access review #1: Developers, members 11-20 of 25",
                                 "Access review #1: Developers, members 21-25 of 25"]
    assert "Traceback" not in served.log()
