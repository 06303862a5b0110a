"""A fake Slack Web API on 127.0.0.1 that records every call, for tests.

It answers the methods iam-bot uses, and takes response_url posts at /response/<id>.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TEAM = "T0TEAM"
OTHER_TEAM = "T0OTHER"
BOT_USER = "U0BOT"


def user(uid, name, *, team=TEAM, email=None, is_bot=False, deleted=False, restricted=False):
    return {"id": uid, "name": name, "team_id": team, "is_bot": is_bot, "deleted": deleted,
            "is_restricted": restricted, "is_ultra_restricted": False,
            "profile": {"email": email, "real_name": name}}


def default_users() -> dict[str, dict]:
    people = [
        user("U0ALICE", "alice", email="alice@example.com"),
        user("U0BOB", "bob", email="bob@example.com"),
        user("U0CAROL", "carol", email="carol@example.com"),
        user("U0JANE", "jane", email="jane.doe@example.com"),
        user("U0DAN", "dan", email="dan@example.com"),
        user("U0ROBOT", "robot", is_bot=True),
        user("U0GUEST", "guest", restricted=True, email="guest@example.com"),
        user("U0GONE", "gone", deleted=True, email="gone@example.com"),
        user("U0FAR", "far", team=OTHER_TEAM, email="far@elsewhere.com"),
        user(BOT_USER, "iam-bot", is_bot=True),
    ]
    return {p["id"]: p for p in people}


@dataclass
class Call:
    method: str
    params: dict
    at: float = field(default_factory=time.monotonic)


class _Server(ThreadingHTTPServer):
    # A deep listen backlog: concurrency tests and the benchmark open many connections at once.
    request_queue_size = 128
    daemon_threads = True


class FakeSlack:
    def __init__(self):
        self.calls: list[Call] = []
        self.users = default_users()
        self.usergroups: dict[str, list[str]] = {"S0ADMINS": ["U0CAROL"]}
        self.fail: dict[str, str] = {}  # method -> error to answer with
        self.response_status = 200
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                if "json" in (self.headers.get("Content-Type") or ""):
                    params = json.loads(raw or "{}")
                else:
                    params = {k: v[0] for k, v in urllib.parse.parse_qs(raw).items()}
                    for key in ("blocks", "view", "attachments"):
                        if isinstance(params.get(key), str):
                            params[key] = json.loads(params[key])
                path = self.path.split("?")[0]
                if path.startswith("/response/"):
                    fake._record("response_url", dict(params, _url=path))
                    self.send_response(fake.response_status)
                    self.end_headers()
                    self.wfile.write(b"ok")
                    return
                method = path.rsplit("/", 1)[-1]
                answer = fake._answer(method, params)
                body = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.api_url = f"http://127.0.0.1:{self.port}/api/"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self) -> "FakeSlack":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def response_url(self, name: str = "r1") -> str:
        return f"http://127.0.0.1:{self.port}/response/{name}"

    def _record(self, method: str, params: dict) -> None:
        with self._lock:
            self.calls.append(Call(method, params))

    def _answer(self, method: str, params: dict) -> dict:
        self._record(method, params)
        if method in self.fail:
            return {"ok": False, "error": self.fail[method]}
        if method == "auth.test":
            return {"ok": True, "team_id": TEAM, "user_id": BOT_USER, "bot_id": "B0BOT", "team": "Test"}
        if method == "users.info":
            found = self.users.get(params.get("user"))
            return {"ok": True, "user": found} if found else {"ok": False, "error": "user_not_found"}
        if method == "users.lookupByEmail":
            for person in self.users.values():
                if person["profile"].get("email") == params.get("email"):
                    return {"ok": True, "user": person}
            return {"ok": False, "error": "users_not_found"}
        if method == "usergroups.users.list":
            group = self.usergroups.get(params.get("usergroup"))
            return {"ok": True, "users": group} if group is not None else {"ok": False, "error": "no_such_subteam"}
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + str(params.get("users", "")).lstrip("U")}}
        if method == "chat.postMessage":
            ts = f"{1700000000 + next(self._ts)}.000100"
            return {"ok": True, "channel": params.get("channel"), "ts": ts, "message": {"ts": ts}}
        if method == "chat.update":
            return {"ok": True, "channel": params.get("channel"), "ts": params.get("ts")}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"{1700000000 + next(self._ts)}.000200"}
        if method == "views.open":
            return {"ok": True, "view": {"id": "V0VIEW"}}
        return {"ok": False, "error": "unknown_method"}

    # -- reading what happened --------------------------------------------------------

    def of(self, method: str) -> list[dict]:
        with self._lock:
            return [c.params for c in self.calls if c.method == method]

    def wait_for(self, predicate, timeout: float = 10.0, what: str = "a Slack call"):
        """Wait until predicate(calls) returns something truthy; return it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                calls = list(self.calls)
            found = predicate(calls)
            if found:
                return found
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}; calls were: {[c.method for c in self.calls]}")

    def wait_method(self, method: str, count: int = 1, timeout: float = 10.0, where=None) -> list[dict]:
        def matching(calls):
            found = [c.params for c in calls if c.method == method and (where is None or where(c.params))]
            return found if len(found) >= count else None
        return self.wait_for(matching, timeout, f"{count} x {method}")
