"""Filing a request with /iam create, end to end over HTTP."""

from pathlib import Path

import pytest

import storage
from bot.router import help_message
from tests.support.domain import full_parser
from tests.support.harness import APPROVALS

pytestmark = pytest.mark.e2e


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
    # The request, and the card's token: a card that replaces this one (after a crash) retires these buttons.
    assert all(b["value"] == f"1:{bot.store.get(1).details['card_token']}" for b in buttons)
    assert "confirm" in buttons[0]
    request = bot.store.get(1)
    assert request.state == storage.PENDING and request.owner_id == "U0JANE" and request.groups == ("Developers",)
    assert request.card_channel == APPROVALS and request.card_ts
    assert [e.what for e in bot.store.events(1)] == ["filed", "card_sent"]


def test_unknown_group_is_refused_and_nothing_is_stored(bot, slack):
    response = bot.slash("U0ALICE", "create jane.doe Developers Wizards")
    said = bot.said(response.response_url)
    assert "No IAM group named `Wizards`" in said and "`Developers`" in said
    assert bot.store.in_states(storage.LIVE_STATES) == []
    assert card_posts(slack) == []


def test_owner_by_mention_is_used(bot, slack):
    response = bot.slash("U0ALICE", "create svc.jane Developers ReadOnly <@U0DAN|dan> --no-console")
    assert "Request #1 filed" in bot.said(response.response_url)
    request = bot.store.get(1)
    assert request.owner_id == "U0DAN" and request.console is False and request.groups == ("Developers", "ReadOnly")
    [card] = card_posts(slack)
    assert "*Console access*\\nno" in str(card["blocks"]) or "Console access*\nno" in str(card["blocks"])


def test_no_owner_found_says_how_to_name_one(bot, slack):
    response = bot.slash("U0ALICE", "create nobody.here Developers")
    said = bot.said(response.response_url)
    assert "Nobody in this workspace has the e-mail nobody.here@example.com" in said
    assert "@jane" in said
    assert bot.store.in_states(storage.LIVE_STATES) == [] and card_posts(slack) == []


def test_owner_must_be_a_human(bot, slack):
    said = bot.said(bot.slash("U0ALICE", "create robo Developers <@U0ROBOT>").response_url)
    assert "not an active person" in said
    said = bot.said(bot.slash("U0ALICE", "create gone Developers <@U0GONE>").response_url)
    assert "not an active person" in said
    assert card_posts(slack) == []


def test_existing_user_ignoring_case_is_refused(bot, aws, slack):
    aws.create_user(UserName="Jane.Doe")
    said = bot.said(bot.slash("U0ALICE", "create jane.doe Developers").response_url)
    assert "already exists" in said and "`Jane.Doe`" in said
    assert bot.store.in_states(storage.LIVE_STATES) == [] and card_posts(slack) == []


def test_a_second_request_for_the_same_name_is_refused(bot, slack):
    bot.slash("U0ALICE", "create jane.doe Developers")
    said = bot.said(bot.slash("U0DAN", "create JANE.doe Developers <@U0DAN>").response_url)
    assert "Request #1 for `JANE.doe` is already open" in said
    assert len(card_posts(slack)) == 1


def test_one_iam_user_per_human(bot, slack):
    bot.slash("U0ALICE", "create jane.doe Developers")
    said = bot.said(bot.slash("U0ALICE", "create jane.two Developers <@U0JANE>").response_url)
    assert "already has request #1" in said
    assert len(card_posts(slack)) == 1


def test_syntax_errors_come_back_in_the_ack_and_store_nothing(bot, slack):
    response = bot.slash("U0ALICE", "create jane/doe Developers")
    assert response.status_code == 200
    body = response.json()
    assert body["response_type"] == "ephemeral" and "not a valid IAM user name" in body["text"]
    assert bot.store.in_states(storage.LIVE_STATES) == [] and slack.of("users.info") == []


def test_help_and_unknown_subcommands(bot):
    for text in ("", "help", "frobnicate"):
        body = bot.slash("U0ALICE", text).json()
        assert body["response_type"] == "ephemeral"
        assert "/iam create <user-name> <group>" in body["text"]
    assert "`frobnicate` is not an /iam command" in bot.slash("U0ALICE", "frobnicate").json()["text"]


def test_the_apps_help_is_its_features_verbs_byte_for_byte(bot):
    """The app builds `/iam`'s parser from its features; the tests' parser is the same, and so its help."""
    assert bot.slash("U0ALICE", "help").json()["text"] == help_message(full_parser())["text"]
    assert full_parser().usage() == (Path(__file__).parent / "support" / "help.txt").read_text(encoding="utf-8")


def test_user_text_is_escaped_in_slack(bot, slack):
    # Group names cannot hold < or >, so the reason text of a deny is where escaping matters;
    # here: the unknown-subcommand echo and a mention-like user name are shown literally.
    body = bot.slash("U0ALICE", "<!channel> hi").json()
    assert "<!channel>" not in body["text"] and "&lt;!channel&gt;" in body["text"]


def test_aws_unreachable_is_a_plain_message_and_changes_nothing(make_bot, slack):
    import boto3
    from botocore.config import Config
    dead = boto3.client("iam", endpoint_url="http://127.0.0.1:9", region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x",
                        config=Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=1))
    bot = make_bot(iam_client_override=dead)
    said = bot.said(bot.slash("U0ALICE", "create jane.doe Developers").response_url)
    assert "Could not look up user jane.doe: AWS could not be reached." in said
    assert bot.store.in_states(storage.LIVE_STATES) == [] and card_posts(slack) == []


def test_a_user_named_payload_something_can_be_asked_for(bot, slack):
    """Bolt reads any form body containing "payload" as an interactive payload; the edge keeps it a command."""
    response = bot.slash("U0ALICE", "create payload.tester Developers <@U0DAN>")
    assert response.status_code == 200
    assert "Request #1 filed" in bot.said(response.response_url)
    assert bot.store.get(1).user_name == "payload.tester"


def test_auth_test_is_called_once_at_start_up_and_never_per_request(bot, slack):
    bot.slash("U0ALICE", "create jane.doe Developers")
    bot.slash("U0ALICE", "help")
    bot.click("U0BOB", "iam_approve")
    assert len(slack.of("auth.test")) == 1
