"""A tiny HTTP proxy on 127.0.0.1 in front of moto's server: it records every IAM action the
bot sends and can hold one where it stands, so that a test can kill the bot there.

`hold("CreateLoginProfile", where=lambda form: form["UserName"] == "carol")` holds the next such
call before moto sees it; `hold_answer(...)` lets moto do it and holds the answer (the bot cannot
know it worked). `fail_after(...)` lets moto do it and answers a 5xx instead, as AWS does when
it completed a call but failed to say so. `forwarded("CreateUser", UserName="carol")` counts what
reached moto.
"""

from __future__ import annotations

import http.client
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bot.shell.awslike import error_body
from bot.shell.slack import Hold, Holds

UPSTREAM_TIMEOUT = 30
# Hop-by-hop headers a proxy does not pass on.
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


@dataclass(frozen=True)
class Seen:
    """One IAM call: its form (Action, UserName, ...) and whether it reached moto."""

    form: dict
    forwarded: bool


class _Server(ThreadingHTTPServer):
    request_queue_size = 128
    daemon_threads = True


class AwsProxy:
    def __init__(self, upstream: str):
        parts = urllib.parse.urlsplit(upstream)
        self.upstream_host, self.upstream_port = parts.hostname, parts.port
        self.seen: list[Seen] = []
        self._holds = Holds()
        self._failures: list[tuple[Hold, str, int]] = []  # (which calls, error code, HTTP status)
        self._lock = threading.Lock()
        self.server = _Server(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="aws-proxy", daemon=True)

    def start(self) -> AwsProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.abandon_holds()
        self.server.shutdown()
        self.server.server_close()

    # -- what tests ask ------------------------------------------------------------------

    def hold(self, action: str, where: Callable[[dict], bool] | None = None, times: int | None = 1) -> Hold:
        """Hold the next `times` calls of `action` before moto sees them."""
        return self._holds.add(action, where, times, answer=False)

    def hold_answer(self, action: str, where: Callable[[dict], bool] | None = None,
                    times: int | None = 1) -> Hold:
        """Let moto do the next `times` calls of `action`, and hold their answers."""
        return self._holds.add(action, where, times, answer=True)

    def fail_after(self, action: str, where: Callable[[dict], bool] | None = None, times: int | None = 1,
                   code: str = "ServiceFailure", status: int = 500) -> Hold:
        """Let moto do the next `times` calls of `action`, and answer each with this error instead
        of moto's answer (the Hold only counts them: nothing waits)."""
        matcher = Hold(action, where, times)
        with self._lock:
            self._failures.append((matcher, code, status))
        return matcher

    def time_out_after(self, action: str, where: Callable[[dict], bool] | None = None,
                       times: int | None = 1) -> Hold:
        """Let moto do the next `times` calls of `action`, and never answer them: the caller's
        read timeout ends its wait (the held answers are dropped when the proxy stops)."""
        return self.hold_answer(action, where, times)

    def abandon_holds(self) -> None:
        """Drop every held call, as when its caller is gone."""
        self._holds.abandon()

    def forwarded(self, action: str, **match: str) -> int:
        """How many calls of `action` (with these form values) reached moto."""
        with self._lock:
            seen = list(self.seen)
        return sum(1 for s in seen if s.forwarded and s.form.get("Action") == action
                   and all(s.form.get(k) == v for k, v in match.items()))

    # -- serving -------------------------------------------------------------------------

    def _record(self, form: dict, forwarded: bool) -> None:
        with self._lock:
            self.seen.append(Seen(form, forwarded))

    def _forward(self, method: str, path: str, headers: dict, body: bytes) -> tuple[int, list, bytes]:
        connection = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=UPSTREAM_TIMEOUT)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def serve(self, method: str, path: str, headers: dict, body: bytes) -> tuple[int, list, bytes] | None:
        """The upstream answer to pass back; None when the call was abandoned (its caller is gone)."""
        form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode("utf-8", "replace")).items()}
        action = form.get("Action", "")
        if not self._holds.wait(action, form, answer=False):
            self._record(form, forwarded=False)
            return None
        answer = self._forward(method, path, headers, body)
        self._record(form, forwarded=True)
        with self._lock:
            failure = next(((code, status) for matcher, code, status in self._failures
                            if matcher.take(action, form)), None)
        if failure is not None:
            code, status = failure
            return status, [("Content-Type", "text/xml")], error_body(code, "injected after the call was done",
                                                                        "Receiver")
        if not self._holds.wait(action, form, answer=True):
            return None
        return answer


def _handler(proxy: AwsProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            self._serve()

        def do_GET(self):
            self._serve()

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            try:
                answer = proxy.serve(self.command, self.path, headers, body)
            except OSError:
                answer = (502, [], b"moto is not reachable")
            if answer is None:
                self.close_connection = True
                return
            status, upstream_headers, content = answer
            try:
                self.send_response(status)
                for name, value in upstream_headers:
                    if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

    return Handler
