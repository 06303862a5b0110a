"""The App Home in the end-to-end tests: opening it (a signed `app_home_opened` event), what it
shows (the stand-in's home, as the last views.publish left it), and pressing its buttons (a signed
block_actions from a home view: no response_url)."""

from __future__ import annotations

import itertools
import time

from bot.features.home import HOME_CALLBACK
from bot.shell import payloads

from .fake_slack import TEAM

_events = itertools.count(1)


def open_home(bot, user_id: str) -> None:
    """The person opens the Home tab: Slack sends the event; the bot publishes their home."""
    body = payloads.app_home_opened(user_id=user_id, team_id=TEAM, channel="D" + user_id[1:],
                                    event_id=f"EvHOME{next(_events)}")
    response = bot.post(body, content_type="application/json")
    assert response.status_code == 200, response.text
    bot.settle()


def published(bot, user_id: str) -> int:
    """How many homes were published to this person."""
    return len([p for p in bot.slack.of("views.publish") if p.get("user_id") == user_id])


def home_blocks(bot, user_id: str) -> list[dict]:
    home = bot.slack.home(user_id)
    assert home is not None, f"no App Home was published to {user_id}"
    return home.blocks


def home_text(bot, user_id: str) -> str:
    """The home as a person reads it, one line per line."""
    return "\n".join(_lines(home_blocks(bot, user_id)))


def _lines(blocks: list[dict]) -> list[str]:
    out = []
    for block in blocks:
        texts = [block.get("text") or {}] + [e for e in block.get("elements") or [] if e.get("type") != "button"]
        out.append(" ".join(t.get("text", "") for t in texts if isinstance(t, dict)))
        for element in [*(block.get("elements") or []), block.get("accessory") or {}]:
            if element.get("type") == "button":
                out.append(f"[{element['text']['text']}]")
    return out


def wait_for_home(bot, user_id: str, predicate, timeout: float = 20.0) -> str:
    """Wait until the person's home reads so that predicate(text) holds (a refresh is due within
    commands/home.py's WINDOW); its text."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        home = bot.slack.home(user_id)
        text = "\n".join(_lines(home.blocks)) if home else ""
        if predicate(text):
            return text
        time.sleep(0.05)
    raise AssertionError(f"the home of {user_id} never read as wanted; it reads:\n{text}")


def home_buttons(bot, user_id: str, label: str) -> list[tuple[str, dict]]:
    """(block_id, button) of every button with this label on the person's home, in order."""
    found = []
    for block in home_blocks(bot, user_id):
        for element in [*(block.get("elements") or []), block.get("accessory") or {}]:
            if element.get("type") == "button" and element["text"]["text"] == label:
                found.append((str(block.get("block_id", "")), element))
    return found


def press_home(bot, user_id: str, label: str, index: int = 0, *, action_id: str | None = None,
               value: str | None = None, settle: bool = True):
    """Press the button `label` on the person's home (the `index`th with that label)."""
    home = bot.slack.home(user_id)
    block_id, element = home_buttons(bot, user_id, label)[index]
    if action_id is not None or value is not None:
        element = dict(element, **({"action_id": action_id} if action_id else {}),
                       **({"value": value} if value is not None else {}))
    view = {"type": "home", "callback_id": HOME_CALLBACK, "blocks": home.blocks}
    body = payloads.home_block_actions(user_id=user_id, user_name=user_id.lower(), team_id=TEAM, team_domain="test",
                                       view=view, view_id=f"V{user_id[1:]}", view_hash=home.ts, button=element,
                                       block_id=block_id, trigger_id=bot.slack.trigger(user_id))
    response = bot.post(body)
    assert response.status_code == 200, response.text
    if settle:
        bot.settle()
    return response


__all__ = ["home_blocks", "home_buttons", "home_text", "open_home", "press_home", "published",
           "wait_for_home"]
