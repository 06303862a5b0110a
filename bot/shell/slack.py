"""A stand-in for Slack on 127.0.0.1: its Web API, response URLs and trigger ids, strict like Slack.

The bot's WebClient (and Bolt's `respond`, through response_url) talk to it over HTTP
exactly as they would talk to Slack. It keeps what Slack keeps (people, channels, DMs,
messages and their threads, ephemeral messages, modals, the trigger ids it issued) and
refuses what Slack refuses: a method Slack does not have, a wrong token, a missing required
argument, blocks or views that Block Kit rejects (see blockkit.py), `chat.update` on a user
id, a stale trigger id, and, when asked to, too many calls (HTTP 429). Tests that crash the
bot can also hold a call where it stands (`hold`: Slack never sees it; `hold_answer`: Slack does
it, the answer never comes back) until it is released or the stand-in stops.

One class serves both users: `iam-bot shell` draws what happens through an Observer
(screen.py), and the tests (tests/support/fake_slack.py) read `calls`, the record of every
call with Slack's answer.
"""

from __future__ import annotations

import functools
import importlib.resources
import itertools
import json
import logging
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .blockkit import Refusal, message_refusal, view_refusal

log = logging.getLogger(__name__)

METHODS_FILE = "web-api-methods.json"
RESPONSE_PATH = "/response/"
TRIGGER_LIFETIME = 3.0  # seconds, as in Slack


@functools.cache
def slack_methods() -> dict[str, dict]:
    """Slack's published Web API methods with their arguments (read once, on first use)."""
    return json.loads(importlib.resources.files(__package__).joinpath(METHODS_FILE).read_text("utf-8"))


@dataclass
class Call:
    """One request the stand-in received: the method (or "response_url"), its arguments,
    when, and Slack's error code if it was refused (None when accepted)."""

    method: str
    params: dict
    at: float = field(default_factory=time.monotonic)
    error: str | None = None


@dataclass
class Message:
    """One message as Slack keeps it. `only` is the one person who sees an ephemeral message;
    `ack` marks one that came back in the HTTP response to a command or click."""

    channel: str
    ts: str
    text: str
    blocks: list
    only: str | None = None
    thread_ts: str | None = None
    version: int = 1
    deleted: bool = False
    ack: bool = False


@dataclass(frozen=True)
class Origin:
    """Where a person acted: what the response_url of that payload answers into."""

    user_id: str | None
    channel: str | None
    message: Message | None = None


@dataclass
class Modal:
    user_id: str
    view_id: str
    view: dict
    hash: str = field(default_factory=lambda: f"{int(time.time())}.{secrets.token_hex(4)}")


@dataclass
class _Trigger:
    user_id: str
    at: float
    used: bool = False


class Observer:
    """What happens in the stand-in, for whoever shows it (the shell's screen). No-ops here."""

    def posted(self, message: Message) -> None: ...
    def edited(self, message: Message) -> None: ...
    def deleted(self, message: Message) -> None: ...
    def opened(self, modal: Modal) -> None: ...
    def updated(self, modal: Modal) -> None: ...
    def published(self, home: Message) -> None: ...
    def refused(self, method: str, refusal: Refusal) -> None: ...


HOLD_LIMIT = 120.0  # seconds a held call waits at most, whatever happens to the test


class Hold:
    """Calls held at one point: `reached` is set when the first one arrives; each waits until
    `release()` (then it goes on) or `abandon()` (then it is dropped, as if the caller had gone).

    Shared by the stand-in for Slack and the tests' proxy in front of AWS.
    """

    def __init__(self, name: str, where: Callable[[dict], bool] | None = None, times: int | None = 1):
        self.name = name
        self.where = where
        self.left = times  # None: every matching call
        self.held: list[dict] = []  # the arguments of the calls held so far
        self.reached = threading.Event()
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._go_on = True

    def take(self, name: str, params: dict) -> bool:
        """Whether this call is one to hold (and counts it)."""
        if name != self.name or self._released.is_set():
            return False
        if self.where is not None and not self.where(params):
            return False
        with self._lock:
            if self.left is not None:
                if self.left <= 0:
                    return False
                self.left -= 1
            self.held.append(params)
        return True

    def block(self) -> bool:
        """Hold the calling thread; True if the call should go on, False if it was abandoned."""
        self.reached.set()
        self._released.wait(HOLD_LIMIT)
        return self._go_on and self._released.is_set()

    def wait_reached(self, timeout: float = 20.0) -> list[dict]:
        if not self.reached.wait(timeout):
            raise AssertionError(f"no call of {self.name} reached its hold within {timeout:g} s")
        return self.held

    def release(self) -> None:
        self._released.set()

    def abandon(self) -> None:
        self._go_on = False
        self._released.set()


class Holds:
    """The holds a stand-in keeps: on calls (held before they are done) and on their answers (the
    call done, its answer held). Shared by the Slack stand-in and the tests' proxy in front of AWS."""

    def __init__(self):
        self._lock = threading.Lock()
        self._holds: list[tuple[Hold, bool]] = []  # (hold, whether it holds the answer rather than the call)

    def add(self, name: str, where: Callable[[dict], bool] | None, times: int | None, *, answer: bool) -> Hold:
        hold = Hold(name, where, times)
        with self._lock:
            self._holds.append((hold, answer))
        return hold

    def wait(self, name: str, params: dict, *, answer: bool) -> bool:
        """Hold this call (or its answer) where it stands if a hold takes it; True when it may go
        on, False when it was abandoned."""
        with self._lock:
            holds = [hold for hold, of_answer in self._holds if of_answer == answer]
        hold = next((hold for hold in holds if hold.take(name, params)), None)
        return hold is None or hold.block()

    def abandon(self) -> None:
        """Drop every held call, as when its caller is gone."""
        with self._lock:
            holds, self._holds = self._holds, []
        for hold, _ in holds:
            hold.abandon()


class _Server(ThreadingHTTPServer):
    # A deep listen backlog: concurrency tests and the benchmark open many connections at once.
    request_queue_size = 128
    daemon_threads = True


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict | str
    headers: dict = field(default_factory=dict)


def _ok(**values) -> dict:
    return {"ok": True, **values}


def _error(code: str, why: str | None = None) -> dict:
    answer = {"ok": False, "error": code}
    if why:
        answer["response_metadata"] = {"messages": [f"[ERROR] {why}"]}
    return answer


class SlackStandIn:
    """Slack's Web API, its response URLs, and what each person sees, in one process.

    `users` (id -> Slack user object), `channels` (id -> name) and `usergroups` (S... -> member
    ids) are plain dicts, read at every call: change them and Slack has changed.
    """

    def __init__(self, *, token: str, team_id: str, bot_user_id: str, users: dict[str, dict],
                 channels: dict[str, str], usergroups: dict[str, list[str]] | None = None,
                 team_domain: str = "local", bot_id: str = "B0IAMBOT",
                 clock: Callable[[], float] = time.monotonic):
        self.token = token
        self.team_id = team_id
        self.team_domain = team_domain
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.users = users
        self.channels = channels
        self.usergroups = usergroups if usergroups is not None else {}
        self.clock = clock  # for trigger ids' 3 seconds; tests may give their own
        self.calls: list[Call] = []
        self.fail: dict[str, str] = {}  # method -> the error Slack should answer with
        self.response_status = 200  # what response_url posts get; anything else fails them
        self.observers: list[Observer] = []
        self._lock = threading.RLock()
        self._messages: list[Message] = []
        self._ts = itertools.count(1)
        self._origins: dict[str, Origin] = {}
        self._triggers: dict[str, _Trigger] = {}
        self._modals: dict[str, Modal] = {}
        self._homes: dict[str, Message] = {}  # user id -> their App Home, as views.publish left it
        self._dms: dict[str, str] = {}  # DM channel id -> user id
        self._rate_limits: dict[str, list[int]] = {}  # method -> [times left, retry_after]
        self._holds = Holds()
        self.server = _Server(("127.0.0.1", 0), _handler(self))  # 127.0.0.1: nothing outside can reach it
        self.port = self.server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.api_url = f"{self.base_url}/api/"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="slack-stand-in", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self) -> None:
        self.abandon_holds()
        self.server.shutdown()
        self.server.server_close()

    # -- what the stand-in is asked by the shell and the tests -------------------------------

    def watch(self, observer: Observer) -> None:
        self.observers.append(observer)

    def trigger(self, user_id: str) -> str:
        """A trigger id, as Slack puts in a slash command or click: good for one views.open within 3 s."""
        trigger_id = f"{int(time.time())}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"
        with self._lock:
            self._triggers[trigger_id] = _Trigger(user_id, self.clock())
        return trigger_id

    def issue_response_url(self, origin: Origin, token: str | None = None) -> str:
        token = token or secrets.token_urlsafe(12)
        with self._lock:
            self._origins[token] = origin
        return f"{self.base_url}{RESPONSE_PATH}{token}"

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """Answer the next `times` calls of `method` with HTTP 429 and Retry-After, as Slack does."""
        with self._lock:
            self._rate_limits[method] = [times, retry_after]

    def hold(self, method: str, where: Callable[[dict], bool] | None = None, times: int | None = 1) -> Hold:
        """Hold the next `times` calls of `method` (whose arguments satisfy `where`) before Slack
        sees them: nothing is recorded or done until the hold is released."""
        return self._holds.add(method, where, times, answer=False)

    def hold_answer(self, method: str, where: Callable[[dict], bool] | None = None,
                    times: int | None = 1) -> Hold:
        """Do the next `times` calls of `method` (recorded, messages delivered) but hold their HTTP
        answer: the caller cannot know it worked ("delivered, but the answer was lost")."""
        return self._holds.add(method, where, times, answer=True)

    def abandon_holds(self) -> None:
        """Drop every held call, as when its caller is gone."""
        self._holds.abandon()

    def of(self, method: str) -> list[dict]:
        """The arguments of every call of `method` that Slack accepted, in order."""
        with self._lock:
            return [c.params for c in self.calls if c.method == method and c.error is None]

    def refusals(self) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.error is not None]

    def message(self, channel: str, ts: str) -> Message | None:
        """A message everyone in the channel sees (not an ephemeral one), by its ts."""
        with self._lock:
            for message in self._messages:
                if message.channel == channel and message.ts == ts and not message.only:
                    return message
        return None

    def latest(self, channel: str) -> Message | None:
        """The newest message at the top level of a channel."""
        with self._lock:
            for message in reversed(self._messages):
                if message.channel == channel and not message.only and not message.thread_ts:
                    return message
        return None

    def home(self, user_id: str) -> Message | None:
        """The App Home last published to this person (its `channel` is `home:<user id>`), if any."""
        with self._lock:
            return self._homes.get(user_id)

    def dm_user(self, channel: str) -> str | None:
        """The person a DM channel is with, or None for any other channel."""
        return self._dms.get(channel)

    def dm_with(self, user_id: str) -> str:
        channel = "D" + user_id[1:]
        with self._lock:
            self._dms[channel] = user_id
        return channel

    def post_message(self, channel: str, text: str, blocks: list | None = None,
                     thread_ts: str | None = None) -> Message:
        """A message in a channel, as chat.postMessage leaves it (no checks: the API's job)."""
        with self._lock:
            if thread_ts:
                parent = self.message(channel, thread_ts)
                # A reply to a reply joins its parent's thread; an unknown parent, the channel.
                thread_ts = (parent.thread_ts or parent.ts) if parent else None
            message = Message(channel, self._next_ts(), text or "", blocks or [], thread_ts=thread_ts)
            self._messages.append(message)
        self._tell("posted", message)
        return message

    def post_ephemeral(self, user_id: str | None, channel: str | None, text: str, blocks: list | None = None,
                       *, ack: bool = False) -> Message:
        with self._lock:
            message = Message(channel or "", self._next_ts(), text or "", blocks or [], only=user_id, ack=ack)
            self._messages.append(message)
        self._tell("posted", message)
        return message

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def _tell(self, event: str, *args) -> None:
        for observer in list(self.observers):
            try:
                getattr(observer, event)(*args)
            except Exception:
                log.exception("an observer of the stand-in for Slack failed")

    # -- HTTP ---------------------------------------------------------------------------------

    def serve(self, path: str, headers, raw: bytes) -> Answer:
        """One HTTP request, answered as Slack would answer it."""
        url = urllib.parse.urlsplit(path)
        try:
            params = _params(url.query, raw, headers.get("Content-Type") or "")
        except ValueError:
            return Answer(400, "invalid_payload")
        if url.path.startswith(RESPONSE_PATH):
            return self._respond(url.path, params)
        method = url.path.rsplit("/", 1)[-1]
        if method not in slack_methods():
            return self._refuse(method, params, _error("unknown_method"))
        token = params.pop("token", None)
        authorization = headers.get("Authorization") or ""
        if authorization.startswith("Bearer "):
            token = authorization.removeprefix("Bearer ")
        if not token:
            return self._refuse(method, params, _error("not_authed"))
        if not secrets.compare_digest(str(token), self.token):
            return self._refuse(method, params, _error("invalid_auth"))
        with self._lock:
            limit = self._rate_limits.get(method)
            if limit and limit[0] > 0:
                limit[0] -= 1
                self.calls.append(Call(method, params, error="ratelimited"))
                return Answer(429, _error("ratelimited"), {"Retry-After": str(limit[1])})
        if not self._holds.wait(method, params, answer=False):
            return Answer(503, "abandoned")
        answer = self._answer(method, params)
        if not self._holds.wait(method, params, answer=True):
            return Answer(503, "abandoned")
        return Answer(200, answer)

    def _refuse(self, method: str, params: dict, answer: dict) -> Answer:
        with self._lock:
            self.calls.append(Call(method, params, error=answer["error"]))
        return Answer(200, answer)

    def _answer(self, method: str, params: dict) -> dict:
        """A Web API call from a rightful caller: recorded, checked, done."""
        answer = self._check_and_do(method, params)
        with self._lock:
            self.calls.append(Call(method, params, error=None if answer.get("ok") else answer.get("error")))
        if not answer.get("ok"):
            messages = (answer.get("response_metadata") or {}).get("messages") or []
            why = "; ".join(m.removeprefix("[ERROR] ") for m in messages)
            self._tell("refused", method, Refusal(answer["error"], why))
        return answer

    def _check_and_do(self, method: str, params: dict) -> dict:
        if method in self.fail:
            return _error(self.fail[method])
        missing = [name for name in slack_methods()[method]["required"] if params.get(name) in (None, "")]
        if missing:
            return _error("invalid_arguments", "missing required field: " + ", ".join(missing))
        handler = getattr(self, "_api_" + method.replace(".", "_"), None)
        if handler is None:
            log.warning("the bot called %s, which Slack has but its stand-in does not implement", method)
            return _error("not_implemented_in_fake", f"{method} is not implemented by the stand-in for Slack")
        return handler(params)

    # -- the Web API --------------------------------------------------------------------------

    def _api_auth_test(self, params: dict) -> dict:
        return _ok(url=f"https://{self.team_domain}.slack.com/", team=self.team_domain, user="iam-bot",
                   team_id=self.team_id, user_id=self.bot_user_id, bot_id=self.bot_id)

    def _api_users_info(self, params: dict) -> dict:
        found = self.users.get(params.get("user"))
        return _ok(user=found) if found else _error("user_not_found")

    def _api_users_lookupByEmail(self, params: dict) -> dict:
        email = str(params.get("email", "")).lower()
        for person in list(self.users.values()):
            if str((person.get("profile") or {}).get("email") or "").lower() == email:
                return _ok(user=person)
        return _error("users_not_found")

    def _api_users_list(self, params: dict) -> dict:
        """The workspace's people, a page at a time (`limit`, at most 1000; `cursor`), as Slack pages them."""
        try:
            limit = int(params.get("limit") or 0) or 1000
            start = int(params.get("cursor") or 0)
        except ValueError:
            return _error("invalid_cursor")
        people = list(self.users.values())
        page = people[start:start + min(limit, 1000)]
        following = start + len(page)
        return _ok(members=page, response_metadata={"next_cursor": str(following) if following < len(people) else ""})

    def _api_usergroups_users_list(self, params: dict) -> dict:
        members = self.usergroups.get(params.get("usergroup"))
        return _ok(users=list(members)) if members is not None else _error("no_such_subteam")

    def _api_usergroups_list(self, params: dict) -> dict:
        return _ok(usergroups=[{"id": group, "team_id": self.team_id, "user_count": len(members)}
                               for group, members in self.usergroups.items()])

    def _api_conversations_open(self, params: dict) -> dict:
        if params.get("channel"):
            channel = params["channel"]
            if channel in self._dms:
                return _ok(channel={"id": channel})
            return _error("channel_not_found")
        users = [u for u in str(params.get("users") or "").split(",") if u]
        if not users:
            return _error("users_list_not_supplied")
        if len(users) > 1:
            return _error("not_implemented_in_fake", "group DMs are not implemented by the stand-in for Slack")
        person = self.users.get(users[0])
        if person is None:
            return _error("user_not_found")
        if person.get("deleted"):
            return _error("user_disabled")
        return _ok(channel={"id": self.dm_with(users[0])})

    def _conversation(self, channel) -> str | None:
        """The conversation a message goes to; a user id means the DM with that person, as in Slack."""
        if not isinstance(channel, str):
            return None
        if channel in self.users:
            return self.dm_with(channel)
        if channel in self.channels or channel in self._dms:
            return channel
        return None

    def _message_problem(self, params: dict) -> dict | None:
        refusal = message_refusal(params)
        if refusal:
            return _error(refusal.error, refusal.why)
        if not params.get("text") and not params.get("blocks") and not params.get("attachments"):
            return _error("no_text")
        return None

    def _api_chat_postMessage(self, params: dict) -> dict:
        channel = self._conversation(params.get("channel"))
        if channel is None:
            return _error("channel_not_found")
        problem = self._message_problem(params)
        if problem:
            return problem
        message = self.post_message(channel, params.get("text") or "", _list(params.get("blocks")),
                                    params.get("thread_ts"))
        return _ok(channel=channel, ts=message.ts, message=self._as_slack(message))

    def _as_slack(self, message: Message) -> dict:
        shown = {"type": "message", "ts": message.ts, "text": message.text, "user": self.bot_user_id,
                 "bot_id": self.bot_id, "blocks": message.blocks}
        if message.thread_ts:
            shown["thread_ts"] = message.thread_ts
        return shown

    def _api_chat_update(self, params: dict) -> dict:
        channel = params.get("channel")
        if channel in self.users or channel not in self.channels and channel not in self._dms:
            return _error("channel_not_found")  # Slack updates only in a conversation id (C/G/D), never a U
        message = self.message(channel, params.get("ts"))
        if message is None or message.deleted:
            return _error("message_not_found")
        problem = self._message_problem(params)
        if problem:
            return problem
        with self._lock:
            if "text" in params:
                message.text = params.get("text") or ""
            if "blocks" in params:  # left out, Slack keeps the message's blocks
                message.blocks = _list(params.get("blocks"))
            message.version += 1
        self._tell("edited", message)
        return _ok(channel=channel, ts=message.ts, text=message.text, message=self._as_slack(message))

    def _api_chat_delete(self, params: dict) -> dict:
        message = self.message(params.get("channel"), params.get("ts"))
        if message is None or message.deleted:
            return _error("message_not_found")
        with self._lock:
            message.deleted = True
            message.version += 1
        self._tell("deleted", message)
        return _ok(channel=message.channel, ts=message.ts)

    def _api_chat_postEphemeral(self, params: dict) -> dict:
        channel = self._conversation(params.get("channel"))
        if channel is None:
            return _error("channel_not_found")
        person = self.users.get(params.get("user"))
        if person is None or person.get("deleted"):
            return _error("user_not_in_channel")
        problem = self._message_problem(params)
        if problem:
            return problem
        message = self.post_ephemeral(person["id"], channel, params.get("text") or "", _list(params.get("blocks")))
        return _ok(message_ts=message.ts)

    def _take_trigger(self, trigger_id) -> tuple[_Trigger | None, dict | None]:
        with self._lock:
            trigger = self._triggers.get(trigger_id)
            if trigger is None:
                return None, _error("invalid_trigger_id")
            if trigger.used:
                return None, _error("exchanged_trigger_id")
            if self.clock() - trigger.at > TRIGGER_LIFETIME:
                return None, _error("expired_trigger_id")
            trigger.used = True
            return trigger, None

    def _api_views_open(self, params: dict) -> dict:
        refusal = view_refusal(params.get("view"))
        if refusal:
            return _error(refusal.error, refusal.why)
        trigger, problem = self._take_trigger(params.get("trigger_id"))
        if problem:
            return problem
        return self._open(trigger.user_id, _dict(params["view"]))

    _api_views_push = _api_views_open

    def _open(self, user_id: str, view: dict) -> dict:
        modal = Modal(user_id, "V" + secrets.token_hex(5).upper(), view)
        with self._lock:
            self._modals[modal.view_id] = modal
        self._tell("opened", modal)
        return _ok(view=self._as_view(modal))

    def _as_view(self, modal: Modal) -> dict:
        return dict(modal.view, id=modal.view_id, team_id=self.team_id, hash=modal.hash, app_id="A0IAMBOT",
                    bot_id=self.bot_id, state={"values": {}}, private_metadata=modal.view.get("private_metadata", ""),
                    callback_id=modal.view.get("callback_id", ""), external_id=modal.view.get("external_id", ""))

    def _api_views_update(self, params: dict) -> dict:
        if not params.get("view_id") and not params.get("external_id"):
            return _error("invalid_arguments", "view_id or external_id is required")
        refusal = view_refusal(params.get("view"))
        if refusal:
            return _error(refusal.error, refusal.why)
        with self._lock:
            modal = self._modals.get(params.get("view_id")) or next(
                (m for m in self._modals.values()
                 if params.get("external_id") and m.view.get("external_id") == params.get("external_id")), None)
            if modal is None:
                return _error("not_found")
            if params.get("hash") and params["hash"] != modal.hash:
                return _error("hash_conflict")
            modal.view = _dict(params["view"])
            modal.hash = f"{int(time.time())}.{secrets.token_hex(4)}"
        self._tell("updated", modal)
        return _ok(view=self._as_view(modal))

    def _api_views_publish(self, params: dict) -> dict:
        """A person's App Home: a `home` view (Block Kit's checks, at most 100 blocks) for a person of
        this workspace; `hash`, when given, must be the home's current one."""
        user_id = params.get("user_id")
        if user_id not in self.users:
            return _error("user_not_found")
        refusal = view_refusal(params.get("view"), kind="home")
        if refusal:
            return _error(refusal.error, refusal.why)
        view = _dict(params["view"])
        with self._lock:
            old = self._homes.get(user_id)
            if params.get("hash") and (old is None or params["hash"] != old.ts):
                return _error("hash_conflict")
            home = Message(channel=f"home:{user_id}", ts=self._next_ts(), text="", blocks=list(view["blocks"]),
                           only=user_id, version=old.version + 1 if old else 1)
            self._homes[user_id] = home
        self._tell("published", home)
        return _ok(view=dict(view, id=f"V{user_id[1:]}", team_id=self.team_id, hash=home.ts, app_id="A0IAMBOT",
                             bot_id=self.bot_id, state={"values": {}}))

    def _api_chat_getPermalink(self, params: dict) -> dict:
        channel = self._conversation(params["channel"])
        if channel is None:
            return _error("channel_not_found")
        with self._lock:
            found = any(m.channel == channel and m.ts == params["message_ts"] and not m.deleted
                        for m in self._messages)
        if not found:
            return _error("message_not_found")
        return _ok(channel=channel, permalink=f"https://{self.team_domain}.slack.com/archives/{channel}/"
                                              f"p{str(params['message_ts']).replace('.', '')}")

    # -- response_url ---------------------------------------------------------------------------

    def _respond(self, path: str, params: dict) -> Answer:
        token = path.removeprefix(RESPONSE_PATH)
        recorded = dict(params, _url=path)
        with self._lock:
            origin = self._origins.get(token)
            status = self.response_status
        refusal = message_refusal(params)
        if origin is None:
            error, answer = "expired_url", Answer(404, "expired_url")
        elif status != 200:
            error, answer = f"http_{status}", Answer(status, "failed")
        elif refusal:
            error, answer = refusal.error, Answer(400, refusal.error)
        elif not (params.get("text") or params.get("blocks") or _true(params.get("delete_original"))):
            error, answer = "no_text", Answer(400, "no_text")
        else:
            error, answer = None, Answer(200, "ok")
        with self._lock:
            self.calls.append(Call("response_url", recorded, error=error))
        if refusal and origin is not None and status == 200:
            self._tell("refused", "response_url", refusal)
        if error is None:
            self._show_response(origin, params)
        return answer

    def _show_response(self, origin: Origin, params: dict) -> None:
        text, blocks = params.get("text") or "", _list(params.get("blocks"))
        original = origin.message
        if _true(params.get("delete_original")) and original is not None:
            with self._lock:
                original.deleted = True
                original.version += 1
            self._tell("deleted", original)
        elif _true(params.get("replace_original")) and original is not None:
            with self._lock:
                original.text, original.blocks = text or original.text, blocks
                original.version += 1
            self._tell("edited", original)
        elif params.get("response_type") == "in_channel" and origin.channel:
            self.post_message(origin.channel, text, blocks, params.get("thread_ts"))
        else:
            self.post_ephemeral(origin.user_id, origin.channel, text, blocks)


def _handler(stand_in: SlackStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # request lines carry response-url tokens: keep them out of logs
            pass

        def do_GET(self):
            self._serve(b"")

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            self._serve(self.rfile.read(length))

        def _serve(self, raw: bytes) -> None:
            try:
                answer = stand_in.serve(self.path, self.headers, raw)
            except Exception:
                log.exception("the stand-in for Slack failed on %s", self.path.split(RESPONSE_PATH)[0])
                answer = Answer(500, _error("internal_error"))
            is_json = isinstance(answer.body, dict)
            body = (json.dumps(answer.body) if is_json else answer.body).encode()
            try:
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json; charset=utf-8" if is_json else "text/plain")
                self.send_header("Content-Length", str(len(body)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the caller is gone (a held call whose process was killed)

    return Handler


def _params(query: str, raw: bytes, content_type: str) -> dict:
    """The arguments of a call: query string, then a form or JSON body; JSON-in-a-form decoded."""
    params = {k: v[0] for k, v in urllib.parse.parse_qs(query).items()}
    if raw:
        if "json" in content_type:
            body = json.loads(raw.decode("utf-8") or "{}")
            if not isinstance(body, dict):
                raise ValueError("a JSON body must be an object")
            params.update(body)
        else:
            params.update({k: v[0] for k, v in urllib.parse.parse_qs(raw.decode("utf-8")).items()})
    for key in ("blocks", "view", "attachments"):
        if isinstance(params.get(key), str):
            try:
                params[key] = json.loads(params[key])
            except ValueError:
                pass  # left as a string: the checks refuse it as Slack would
    return params


def _list(value) -> list:
    return value if isinstance(value, list) else []


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _true(value) -> bool:
    return value in (True, "true", "True", "1")
