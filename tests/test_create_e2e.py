"""Filing a request with /iam create, end to end over HTTP."""

import storage

from tests.support.harness import APPROVALS


def card_posts(slack):
    return [p for p in slack.of("chat.postMessage") if p.get("channel") == APPROVALS and "thread_ts" not in p]


def test_alice_files_a_request_and_the_card_appears(bot, slack):
    response = bot.slash("U0ALICE", "create jane.doe Developers")
    assert response.status_code == 200
    assert response.json()["response_type"] == "ephemeral"
    assert "Checking your request" in response.json()["text"]
    said = bot.said(response.response_url)
    assert "Request #1 filed" in said and "waiting for a second person" in said
    [card] = card_posts(slack)
    text = str(card["blocks"])
    assert "jane.doe" in text and "Developers" in text and "<@U0JANE>" in text and "<@U0ALICE>" in text
    buttons = [e for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [b["text"]["text"] for b in buttons] == ["Approve", "Deny"]
    assert all(b["value"] == "1" for b in buttons)
    assert "confirm" in buttons[0]
    request = bot.store.get(1)
    assert request.state == storage.PENDING and request.owner_id == "U0JANE" and request.groups == ("Developers",)
    assert request.card_channel == APPROVALS and request.card_ts
    assert [e.what for e in bot.store.events(1)] == ["filed"]


def test_unknown_group_is_refused_and_nothing_is_stored(bot, slack):
    response = bot.slash("U0ALICE", "create jane.doe Developers Wizards")
    said = bot.said(response.response_url)
    assert "No IAM group named `Wizards`" in said and "`Developers`" in said
    assert bot.store.in_states(storage.LIVE_STATES) == []
    assert card_posts(slack) == []
