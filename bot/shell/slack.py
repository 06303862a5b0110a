"""A stand-in for Slack's Web API on 127.0.0.1 that draws what it is sent in the terminal.

The bot's WebClient (and Bolt's `respond`, through response_url) talk to it over HTTP
exactly as they would talk to Slack. It knows a few sample people and two channels,
keeps every message so that its buttons can be pressed by number, and holds the modals
the bot opens until the shell asks the person for their fields.
"""

from __future__ import annotations

import itertools
import json
import logging
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .render import Terminal, blocks_to_lines, plain

log = logging.getLogger(__name__)

TEAM_ID = "T0LOCAL"
TEAM_DOMAIN = "local"
APP_ID = "A0IAMBOT"
BOT_USER_ID = "U0IAMBOT"
BOT_NAME = "iam-bot"
GENERAL = "C0GENERAL"
APPROVALS = "C0APPROVALS"
APPROVER_GROUP = "S0IAMADMINS"
APPROVER_GROUP_HANDLE = "iam-admins"
EMAIL_DOMAIN = "example.com"


@dataclass(frozen=True)
class Person:
    name: str
    user_id: str
    email: str
    role: str

    def as_slack_user(self) -> dict:
        return {"id": self.user_id, "name": self.name, "real_name": self.name.title(), "team_id": TEAM_ID,
                "is_bot": False, "deleted": False, "is_restricted": False, "is_ultra_restricted": False,
                "profile": {"email": self.email, "real_name": self.name.title(), "display_name": self.name}}


PEOPLE = (
    Person("alice", "U0ALICE", f"alice@{EMAIL_DOMAIN}", "a developer who asks for IAM users"),
    Person("bob", "U0BOB", f"bob@{EMAIL_DOMAIN}", "an approver (named in IAM_BOT_APPROVERS)"),
    Person("carol", "U0CAROL", f"carol@{EMAIL_DOMAIN}",
           f"an approver (through the @{APPROVER_GROUP_HANDLE} user group)"),
    Person("jane", "U0JANE", f"jane.doe@{EMAIL_DOMAIN}", "a new colleague: the IAM user jane.doe is for her"),
)
APPROVERS = ("U0BOB", APPROVER_GROUP)
GROUP_MEMBERS = {APPROVER_GROUP: ["U0CAROL"]}
CHANNELS = {GENERAL: "general", APPROVALS: "iam-approvals"}


@dataclass
class Message:
    """One message as Slack keeps it. `only` is the one person who sees an ephemeral message."""

    channel: str
    ts: str
    text: str
    blocks: list
    number: int | None = None
    only: str | None = None
    thread_ts: str | None = None
    version: int = 1
    deleted: bool = False


@dataclass(frozen=True)
class Button:
    number: int
    message: Message
    version: int
    block_id: str
    element: dict


@dataclass(frozen=True)
class Origin:
    """Where a person acted: what the response_url of that payload answers into."""

    user_id: str
    channel: str
    message: Message | None = None


@dataclass
class Modal:
    user_id: str
    view_id: str
    view: dict


@dataclass
class _Trigger:
    user_id: str
    used: bool = False
    at: float = field(default_factory=time.monotonic)


class LocalSlack:
    """Slack's Web API, its response URLs, and what each person sees, in one process."""

    def __init__(self, terminal: Terminal, token: str):
        self.terminal = terminal
        self.token = token
        self.people = {p.user_id: p for p in PEOPLE}
        self._lock = threading.RLock()
        self._messages: list[Message] = []
        self._buttons: dict[int, Button] = {}
        self._button_numbers = itertools.count(1)
        self._message_numbers = itertools.count(1)
        self._ts = itertools.count(1)
        self._origins: dict[str, Origin] = {}
        self._triggers: dict[str, _Trigger] = {}
        self._modals: list[Modal] = []
        self._dms: dict[str, str] = {}  # DM channel id -> user id
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # the request lines carry response tokens; keep them out
                pass

            def do_GET(self):
                self._serve(b"")

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                self._serve(self.rfile.read(length))

            def _serve(self, raw: bytes):
                url = urllib.parse.urlsplit(self.path)
                try:
                    params = _params(url.query, raw, self.headers.get("Content-Type") or "")
                    if url.path.startswith("/response/"):
                        status, answer = stand_in.respond(url.path.removeprefix("/response/"), params)
                    else:
                        status = 200
                        authorization = self.headers.get("Authorization") or ""
                        if authorization != f"Bearer {stand_in.token}":
                            answer = {"ok": False, "error": "invalid_auth"}
                        else:
                            answer = stand_in.api(url.path.rsplit("/", 1)[-1], params)
                except Exception:
                    log.exception("the stand-in for Slack failed on %s", url.path.split("/response/")[0])
                    status, answer = 500, {"ok": False, "error": "internal_error"}
                body = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        # 127.0.0.1 only: nothing outside this machine can reach the stand-in.
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.api_url = f"{self.base_url}/api/"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="local-slack", daemon=True)

    def start(self) -> LocalSlack:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- what the shell asks of it ----------------------------------------------------------

    def person(self, name_or_id: str) -> Person | None:
        wanted = name_or_id.strip().lstrip("@").lower()
        for person in PEOPLE:
            if wanted in (person.name, person.user_id.lower(), person.email.lower()):
                return person
        return None

    def response_url(self, origin: Origin) -> str:
        token = secrets.token_urlsafe(12)
        with self._lock:
            self._origins[token] = origin
        return f"{self.base_url}/response/{token}"

    def trigger(self, user_id: str) -> str:
        trigger_id = f"{int(time.time())}.{secrets.randbelow(10**9)}.{secrets.token_hex(8)}"
        with self._lock:
            self._triggers[trigger_id] = _Trigger(user_id)
        return trigger_id

    def take_modals(self, user_id: str) -> list[Modal]:
        with self._lock:
            mine = [m for m in self._modals if m.user_id == user_id]
            self._modals = [m for m in self._modals if m.user_id != user_id]
        return mine

    def button(self, number: int) -> Button | None:
        with self._lock:
            return self._buttons.get(number)

    def is_current(self, button: Button) -> bool:
        return not button.message.deleted and button.message.version == button.version

    def audience(self, message: Message) -> str | None:
        """The one person who can see this message, or None for everyone in a channel."""
        return message.only or self._dms.get(message.channel)

    def live_buttons(self, user_id: str) -> list[Button]:
        with self._lock:
            buttons = list(self._buttons.values())
        return [b for b in buttons if self.is_current(b) and self.audience(b.message) in (None, user_id)]

    def where(self, channel: str) -> str:
        if channel in self._dms:
            return f"DM from {BOT_NAME} to {self.name_of(self._dms[channel])}"
        return "#" + CHANNELS.get(channel, channel)

    def name_of(self, user_id: str | None) -> str:
        return self.user_name(user_id) or str(user_id)

    # -- names, for the renderer ------------------------------------------------------------

    def user_name(self, user_id: str) -> str | None:
        if user_id == BOT_USER_ID:
            return BOT_NAME
        person = self.people.get(user_id)
        return person.name if person else None

    def channel_name(self, channel_id: str) -> str | None:
        return CHANNELS.get(channel_id)

    def group_handle(self, group_id: str) -> str | None:
        return APPROVER_GROUP_HANDLE if group_id == APPROVER_GROUP else None

    # -- drawing ----------------------------------------------------------------------------

    def show(self, message: Message, *, edited: bool = False, first: bool = False) -> None:
        parts = [self.where(message.channel)]
        if message.thread_ts:
            parent = self._find(message.channel, message.thread_ts)
            parts.append(f"reply in the thread of message {parent.number}" if parent and parent.number
                         else "reply in a thread")
        if message.number:
            parts.append(f"message {message.number}" + (" (edited)" if edited else ""))
        only = self.audience(message)
        if message.only:
            parts.append(f"only visible to {self.name_of(only)}")
        elif only:
            parts.append(f"{self.name_of(only)} sees it")
        else:
            parts.append("everyone in the channel sees it")
        lines = blocks_to_lines(message.blocks, message.text, self, self.terminal.style, self._numbering(message))
        self.terminal.show(f"{self.terminal.style.rule} " + self.terminal.style.dot.join(parts), lines, first=first)

    def _numbering(self, message: Message):
        def number(block: dict, element: dict) -> int:
            with self._lock:
                n = next(self._button_numbers)
                self._buttons[n] = Button(n, message, message.version, str(block.get("block_id", "")), element)
            return n
        return number

    def show_modal(self, modal: Modal) -> None:
        view = modal.view
        title = plain(view.get("title"), self, self.terminal.style)
        lines = blocks_to_lines(view.get("blocks") or [], "", self, self.terminal.style, None)
        submit = plain(view.get("submit"), self, self.terminal.style) or "Submit"
        close = plain(view.get("close"), self, self.terminal.style) or "Cancel"
        lines.append(f"[{submit}]   [{close}]")
        style = self.terminal.style
        self.terminal.show(f"{style.rule} modal \"{title}\"{style.dot}only visible to {self.name_of(modal.user_id)}",
                           lines)

    def ephemeral(self, user_id: str, channel: str, text: str, blocks: list | None = None, *,
                  first: bool = False) -> Message:
        message = Message(channel=channel, ts=self._next_ts(), text=text or "", blocks=blocks or [], only=user_id)
        with self._lock:
            self._messages.append(message)
        self.show(message, first=first)
        return message

    def post(self, channel: str, text: str, blocks: list | None = None, thread_ts: str | None = None) -> Message:
        with self._lock:
            message = Message(channel=channel, ts=self._next_ts(), text=text or "", blocks=blocks or [],
                              number=next(self._message_numbers), thread_ts=thread_ts)
            self._messages.append(message)
        self.show(message)
        return message

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def _find(self, channel: str, ts: str) -> Message | None:
        with self._lock:
            for message in self._messages:
                if message.channel == channel and message.ts == ts and not message.only:
                    return message
        return None

    # -- the Web API ------------------------------------------------------------------------

    def api(self, method: str, params: dict) -> dict:
        handler = getattr(self, "_api_" + method.replace(".", "_"), None)
        if handler is None:
            log.warning("the bot called %s, which the local stand-in for Slack does not know", method)
            return {"ok": False, "error": "unknown_method"}
        return handler(params)

    def _api_auth_test(self, params: dict) -> dict:
        return {"ok": True, "url": f"https://{TEAM_DOMAIN}.slack.com/", "team": "Local shell", "user": BOT_NAME,
                "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": "B0IAMBOT"}

    def _api_users_info(self, params: dict) -> dict:
        user_id = params.get("user")
        if user_id == BOT_USER_ID:
            return {"ok": True, "user": {"id": BOT_USER_ID, "name": BOT_NAME, "team_id": TEAM_ID, "is_bot": True,
                                         "deleted": False, "profile": {}}}
        person = self.people.get(user_id)
        return {"ok": True, "user": person.as_slack_user()} if person else {"ok": False, "error": "user_not_found"}

    def _api_users_lookupByEmail(self, params: dict) -> dict:
        email = str(params.get("email", "")).lower()
        for person in PEOPLE:
            if person.email == email:
                return {"ok": True, "user": person.as_slack_user()}
        return {"ok": False, "error": "users_not_found"}

    def _api_usergroups_users_list(self, params: dict) -> dict:
        members = GROUP_MEMBERS.get(params.get("usergroup"))
        return {"ok": True, "users": members} if members is not None else {"ok": False, "error": "no_such_subteam"}

    def _api_conversations_open(self, params: dict) -> dict:
        users = [u for u in str(params.get("users", "")).split(",") if u]
        if len(users) != 1 or users[0] not in self.people:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "channel": {"id": self._dm_with(users[0])}}

    def _dm_with(self, user_id: str) -> str:
        channel = "D" + user_id[1:]
        with self._lock:
            self._dms[channel] = user_id
        return channel

    def _channel(self, channel: str | None) -> str | None:
        """The channel a message goes to; a user id means the DM with that person, as in Slack."""
        if channel in self.people:
            return self._dm_with(channel)
        if channel in CHANNELS or channel in self._dms:
            return channel
        return None

    def _api_chat_postMessage(self, params: dict) -> dict:
        channel = self._channel(params.get("channel"))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if not params.get("text") and not params.get("blocks"):
            return {"ok": False, "error": "no_text"}
        thread_ts = params.get("thread_ts")
        if thread_ts and self._find(channel, thread_ts) is None:
            thread_ts = None  # Slack posts into the channel when the parent is unknown
        message = self.post(channel, params.get("text", ""), _list(params.get("blocks")), thread_ts)
        return {"ok": True, "channel": channel, "ts": message.ts,
                "message": {"ts": message.ts, "text": message.text, "user": BOT_USER_ID}}

    def _api_chat_update(self, params: dict) -> dict:
        channel = self._channel(params.get("channel"))
        message = self._find(channel, params.get("ts")) if channel else None
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        with self._lock:
            message.text = params.get("text", message.text)
            message.blocks = _list(params.get("blocks"))
            message.version += 1
        self.show(message, edited=True)
        return {"ok": True, "channel": channel, "ts": message.ts, "text": message.text}

    def _api_chat_postEphemeral(self, params: dict) -> dict:
        channel = self._channel(params.get("channel"))
        user_id = params.get("user")
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if user_id not in self.people:
            return {"ok": False, "error": "user_not_in_channel"}
        message = self.ephemeral(user_id, channel, params.get("text", ""), _list(params.get("blocks")))
        return {"ok": True, "message_ts": message.ts}

    def _api_views_open(self, params: dict) -> dict:
        trigger_id = params.get("trigger_id")
        with self._lock:
            trigger = self._triggers.get(trigger_id)
            if trigger is None:
                return {"ok": False, "error": "invalid_trigger_id"}
            if trigger.used or time.monotonic() - trigger.at > 3:
                return {"ok": False, "error": "expired_trigger_id"}
            trigger.used = True
        view = params.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        if not isinstance(view, dict) or view.get("type") != "modal":
            return {"ok": False, "error": "invalid_arguments"}
        modal = Modal(user_id=trigger.user_id, view_id="V" + secrets.token_hex(5).upper(), view=view)
        with self._lock:
            self._modals.append(modal)
        self.show_modal(modal)
        return {"ok": True, "view": dict(view, id=modal.view_id, team_id=TEAM_ID)}

    # -- response_url -----------------------------------------------------------------------

    def respond(self, token: str, params: dict) -> tuple[int, dict]:
        with self._lock:
            origin = self._origins.get(token)
        if origin is None:
            return 404, {"ok": False, "error": "invalid_token"}
        text, blocks = params.get("text", ""), _list(params.get("blocks"))
        original = origin.message
        if params.get("delete_original") in (True, "true") and original is not None:
            with self._lock:
                original.deleted = True
                original.version += 1
            style = self.terminal.style
            self.terminal.show(f"{style.rule} {self.where(original.channel)}{style.dot}a message was deleted")
            return 200, {"ok": True}
        if params.get("replace_original") in (True, "true") and original is not None:
            with self._lock:
                original.text, original.blocks = text or original.text, blocks
                original.version += 1
            self.show(original, edited=True)
            return 200, {"ok": True}
        if params.get("response_type") == "in_channel":
            self.post(origin.channel, text, blocks, params.get("thread_ts"))
        else:
            self.ephemeral(origin.user_id, origin.channel, text, blocks)
        return 200, {"ok": True}


def _params(query: str, raw: bytes, content_type: str) -> dict:
    params = {k: v[0] for k, v in urllib.parse.parse_qs(query).items()}
    if not raw:
        return params
    if "json" in content_type:
        params.update(json.loads(raw.decode("utf-8") or "{}"))
    else:
        params.update({k: v[0] for k, v in urllib.parse.parse_qs(raw.decode("utf-8")).items()})
        for key in ("blocks", "view", "attachments"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
    return params


def _list(value) -> list:
    if isinstance(value, str):
        value = json.loads(value or "[]")
    return value if isinstance(value, list) else []
