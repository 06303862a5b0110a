"""People's words (reasons, deny reasons, the names in their mentions) read as typed and set apart
from the bot's own lines, on cards, in DMs and in /iam status. End to end over HTTP."""

import json

import pytest

import storage
from bot import blocks
from bot.mrkdwn import typed
from tests.support.harness import APPROVALS
from tests.support.stories import provision_jane

pytestmark = pytest.mark.e2e

# What a requester might type to make a pending card look approved.
IMITATION = ":white_check_mark: *Approved by bob*"
# Bidirectional controls: U+202E flips the rest of a line, U+2066..U+2069 isolate a run.
BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def text_objects(thing):
    """Every Block Kit text object in a payload, however deep."""
    if isinstance(thing, dict):
        if thing.get("type") in ("mrkdwn", "plain_text") and isinstance(thing.get("text"), str):
            yield thing
        for value in thing.values():
            yield from text_objects(value)
    elif isinstance(thing, list):
        for value in thing:
            yield from text_objects(value)


def shown_as_typed(payload, words: str) -> str:
    """The one plain_text object that holds `words`; nothing the bot formats (mrkdwn) holds them."""
    objects = list(text_objects(payload["blocks"]))
    formatted = " ".join(o["text"] for o in objects if o["type"] == "mrkdwn") + " " + payload.get("text", "")
    assert words not in formatted and "Approved by bob" not in formatted, formatted
    [typed] = [o for o in objects if o["type"] == "plain_text" and words in o["text"]]
    assert typed["emoji"] is False  # `:white_check_mark:` stays those characters
    assert not BIDI & set(json.dumps(payload, ensure_ascii=False))
    return typed["text"]


def card_of(slack, request_id: int):
    """The approval card of a request as it reads now: its last update, else as posted."""
    cards = [p for p in slack.of("chat.postMessage") + slack.of("chat.update")
             if p.get("channel") == APPROVALS and not p.get("thread_ts") and f"#{request_id}" in str(p)]
    return cards[-1]


def dms_to(slack, channel: str) -> list[dict]:
    return [p for p in slack.of("chat.postMessage") if p.get("channel") == channel]


def test_a_key_reason_that_imitates_the_bot_reads_as_typed_on_the_card_and_in_the_owners_dm(bot, slack, aws):
    provision_jane(bot)
    reason = f"CI \u202egnillib\u202c for {IMITATION} as <@U0BOB|bob> said"
    filed = bot.slash("U0ALICE", f"create-key jane.doe --reason {reason}")
    assert "Request #2 filed" in bot.said(filed.response_url)

    pending = card_of(slack, 2)
    words = shown_as_typed(pending, IMITATION)
    assert "[U+202E]gnillib[U+202C]" in words  # the controls are made visible, not obeyed
    assert "as @bob said" in words  # the mention reads as the person typed it, and pings nobody
    assert "<@U0BOB|" not in json.dumps(pending)
    assert bot.store.get(2).details["reason"] == reason  # the store keeps exactly what was typed

    bot.click("U0BOB", blocks.ACTION_APPROVE, 2)
    assert bot.store.get(2).state == storage.PROVISIONED
    assert "Approved by <@U0BOB>" in str(card_of(slack, 2)["blocks"])
    shown_as_typed(card_of(slack, 2), IMITATION)
    [dm] = [p for p in dms_to(slack, "D0JANE") if "access key" in p.get("text", "").lower()]
    shown_as_typed(dm, IMITATION)


def test_a_deny_reason_reads_as_typed_on_the_card_in_the_requesters_dm_and_in_status(bot, slack, aws):
    bot.slash("U0ALICE", "create jane.doe Developers")
    bot.click("U0BOB", blocks.ACTION_DENY, 1)
    bot.submit_deny("U0BOB", 1, f"\u2067{IMITATION}\u2069\nsee <!channel> first")
    assert bot.store.get(1).state == storage.DENIED

    card = card_of(slack, 1)
    assert "Denied by <@U0BOB>" in str(card["blocks"])
    words = shown_as_typed(card, IMITATION)
    assert words == f"[U+2067]{IMITATION}[U+2069]\nsee &lt;!channel&gt; first"
    [dm] = dms_to(slack, "D0ALICE")
    assert "was denied by <@U0BOB>" in dm["text"]
    shown_as_typed(dm, IMITATION)

    response = bot.slash("U0BOB", "status jane.doe")
    [status] = bot.responses(response.response_url)
    assert "<@U0BOB> denied" in str(status["blocks"])
    shown_as_typed(status, IMITATION)


def test_a_removal_reason_reads_as_typed_on_its_card(bot, slack, aws):
    provision_jane(bot)
    bot.slash("U0ALICE", f"remove jane.doe --reason {IMITATION} \u202eleft")
    assert bot.store.get(2).kind == "remove"
    words = shown_as_typed(card_of(slack, 2), IMITATION)
    assert words.endswith("[U+202E]left")


def test_long_words_are_cut_in_what_was_typed_never_inside_an_entity():
    shown = typed("<&>" * 1000, 2000)["text"]
    assert len(shown) <= 2000 and shown.endswith(("&lt;…", "&amp;…", "&gt;…"))
    assert shown[:-1].replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") in "<&>" * 1000
