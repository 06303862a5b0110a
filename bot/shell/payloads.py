"""What Slack sends an app, built once for the shell and the tests: slash commands, button
clicks (block_actions), modal submissions (view_submission), and Slack's v0 signature.

The shapes follow Slack's documented payloads, with the fields Bolt reads and the ones a
careful listener might; the ids in them (user, team, trigger, response_url) come from the
caller, who takes trigger ids and response URLs from the stand-in for Slack.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.parse

APP_ID = "A0IAMBOT"
FORM = "application/x-www-form-urlencoded"


def signature(secret: str, body: str | bytes, timestamp: int | str) -> str:
    """Slack's v0 request signature: HMAC-SHA256 of `v0:<timestamp>:<body>`."""
    base = f"v0:{timestamp}:".encode() + (body if isinstance(body, bytes) else body.encode())
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: str | bytes, timestamp: int | str | None = None,
                   content_type: str = FORM) -> dict[str, str]:
    timestamp = str(int(time.time())) if timestamp is None else str(timestamp)
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": signature(secret, body, timestamp)}


def slash_command(*, command: str, text: str, user_id: str, user_name: str, team_id: str, team_domain: str,
                  channel_id: str, channel_name: str, response_url: str, trigger_id: str,
                  api_app_id: str = APP_ID) -> str:
    """The form body of a slash command."""
    return urllib.parse.urlencode({
        "token": "unused", "team_id": team_id, "team_domain": team_domain, "channel_id": channel_id,
        "channel_name": channel_name, "user_id": user_id, "user_name": user_name, "command": command,
        "text": text, "api_app_id": api_app_id, "is_enterprise_install": "false", "response_url": response_url,
        "trigger_id": trigger_id,
    })


def _user(user_id: str, user_name: str, team_id: str) -> dict:
    return {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id}


def interactive(payload: dict) -> str:
    """The form body Slack posts for any interaction: `payload=<JSON>`."""
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def block_actions(*, user_id: str, user_name: str, team_id: str, team_domain: str, channel_id: str,
                  channel_name: str, message_ts: str, message_text: str = "", message_blocks: list | None = None,
                  is_ephemeral: bool = False, button: dict, block_id: str, response_url: str, trigger_id: str,
                  user_team_id: str | None = None, bot_user_id: str | None = None, api_app_id: str = APP_ID) -> str:
    """The form body of a button pressed on a message; `button` is the element as the bot sent it."""
    message = {"type": "message", "ts": message_ts, "text": message_text, "blocks": message_blocks or []}
    if bot_user_id:
        message["user"] = bot_user_id
    return interactive({
        "type": "block_actions", "team": {"id": team_id, "domain": team_domain},
        "user": _user(user_id, user_name, user_team_id or team_id),
        "api_app_id": api_app_id, "token": "unused", "trigger_id": trigger_id,
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel_id,
                      "is_ephemeral": is_ephemeral},
        "channel": {"id": channel_id, "name": channel_name}, "message": message,
        "state": {"values": {}}, "response_url": response_url, "is_enterprise_install": False,
        "actions": [{"type": button.get("type", "button"), "action_id": button.get("action_id"),
                     "block_id": block_id, "text": button.get("text"), "value": button.get("value", ""),
                     **({"style": button["style"]} if button.get("style") else {}),
                     "action_ts": f"{time.time():.6f}"}],
    })


def view_submission(*, user_id: str, user_name: str, team_id: str, team_domain: str, view: dict, view_id: str,
                    values: dict, trigger_id: str, view_hash: str = "", api_app_id: str = APP_ID) -> str:
    """The form body of a submitted modal; `values` is state.values: {block_id: {action_id: {...}}}."""
    submitted = dict(view, id=view_id, team_id=team_id, state={"values": values},
                     private_metadata=view.get("private_metadata", ""), callback_id=view.get("callback_id", ""),
                     hash=view_hash or f"{int(time.time())}.0", app_id=api_app_id)
    return interactive({
        "type": "view_submission", "team": {"id": team_id, "domain": team_domain},
        "user": _user(user_id, user_name, team_id), "api_app_id": api_app_id, "token": "unused",
        "trigger_id": trigger_id, "view": submitted, "response_urls": [], "is_enterprise_install": False,
    })


def text_input(value: str | None) -> dict:
    """One plain_text_input's entry in state.values."""
    return {"type": "plain_text_input", "value": value}


def app_home_opened(*, user_id: str, team_id: str, channel: str, event_id: str, api_app_id: str = APP_ID) -> str:
    """The JSON body of the `app_home_opened` event Slack sends when a person opens the bot's Home tab."""
    now = time.time()
    return json.dumps({
        "token": "unused", "team_id": team_id, "api_app_id": api_app_id, "type": "event_callback",
        "event_id": event_id, "event_time": int(now),
        "event": {"type": "app_home_opened", "user": user_id, "channel": channel, "tab": "home",
                  "event_ts": f"{now:.6f}"},
    })


def home_block_actions(*, user_id: str, user_name: str, team_id: str, team_domain: str, view: dict, view_id: str,
                       view_hash: str, button: dict, block_id: str, trigger_id: str, api_app_id: str = APP_ID) -> str:
    """The form body of a button pressed on the App Home: a `view` container, the home view, and no
    response_url (Slack gives a home none)."""
    shown = dict(view, id=view_id, team_id=team_id, state={"values": {}}, hash=view_hash,
                 private_metadata=view.get("private_metadata", ""), callback_id=view.get("callback_id", ""),
                 app_id=api_app_id)
    return interactive({
        "type": "block_actions", "team": {"id": team_id, "domain": team_domain},
        "user": _user(user_id, user_name, team_id), "api_app_id": api_app_id, "token": "unused",
        "trigger_id": trigger_id, "container": {"type": "view", "view_id": view_id}, "view": shown,
        "state": {"values": {}}, "is_enterprise_install": False,
        "actions": [{"type": button.get("type", "button"), "action_id": button.get("action_id"),
                     "block_id": block_id, "text": button.get("text"), "value": button.get("value", ""),
                     **({"style": button["style"]} if button.get("style") else {}),
                     "action_ts": f"{time.time():.6f}"}],
    })
