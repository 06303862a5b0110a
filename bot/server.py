"""Slack's HTTP requests on a production server.

gunicorn starts `WEB_CONCURRENCY` worker processes (the app is built in each, after the fork);
each worker is an asyncio event loop (uvicorn's h11 worker) that reads every request whole,
headers and body, bounded in size and time, before a thread sees it. Only then does a bounded
pool of `IAM_BOT_THREADS` threads run the WSGI side (a2wsgi): Flask, our edge checks, Bolt.
A client trickling a request byte by byte costs a socket, not a thread; with a thread per
connection (gunicorn's gthread) eight of them took the whole server offline.

The edge, in `flask_app`, runs on the raw body before Bolt parses anything: Slack's
`ssl_check`, then the signature (bot/signature.py), then the shape (bot/shapes.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import urllib.parse
from collections.abc import Callable

from flask import Flask, Response, request
from gunicorn.app.base import BaseApplication
from slack_bolt import App, BoltRequest
from slack_bolt.adapter.flask.handler import to_flask_response

from . import metrics as prometheus
from . import shapes
from .logs import gunicorn_logconfig
from .signature import signature_of

MAX_BODY_BYTES = 1_000_000
BODY_TIMEOUT_SECONDS = 10  # for the body, once the headers are in; Slack sends it at once
_SSL_CHECK_MAX_BYTES = 1_000
SLACK_PATH = "/slack/events"

log = logging.getLogger(__name__)

Health = Callable[[], "str | None"]


def flask_app(bolt_app: App, *, health: Health = lambda: None, metrics: prometheus.Metrics | None = None) -> Flask:
    """`POST /slack/events` and `GET /healthz`. `health()` is None when all is well, else why not.
    With `metrics` (IAM_BOT_METRICS_TOKEN set), also `GET /metrics` for bearers of its token (bot/metrics.py)."""
    web = Flask("iam-bot")
    web.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    signature = signature_of(bolt_app)

    @web.post(SLACK_PATH)
    def slack_events():
        body = request.get_data(cache=True)  # 413 past MAX_CONTENT_LENGTH
        if _is_ssl_check(body):
            # Slack's periodic certificate check: unsigned, answered empty, changes nothing.
            return Response(b"", status=200)
        if signature is None or not signature.verify(request.headers.get("X-Slack-Request-Timestamp"),
                                                     request.headers.get("X-Slack-Signature"), body):
            log.info("refused a request with a missing, bad or stale signature")
            return _plain("invalid request", 401)
        content_types = request.headers.getlist("Content-Type")
        content_type = content_types[0].split(";")[0] if content_types else None
        body = unmistakable(body, content_type)
        try:
            if len(content_types) > 1:
                raise shapes.Malformed("the request has more than one Content-Type")
            # Exactly as Bolt reads it (slack_bolt.request.internals.extract_content_type).
            shapes.check(body, content_type)
        except shapes.Malformed as reason:
            log.info("refused a signed request: %s", reason)
            return _plain("malformed request", 400)
        try:
            return to_flask_response(bolt_app.dispatch(BoltRequest(
                body=body.decode("utf-8"), query=request.query_string.decode("utf-8"),
                headers=request.headers)))
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            # The shape check should make this unreachable; if not, say so without the body
            # (it may hold a response_url) and without a traceback (its frames could too).
            log.warning("Bolt could not parse a signed request that passed the edge checks (%s)",
                        type(error).__name__)
            return _plain("malformed request", 400)

    @web.get("/healthz")
    def healthz():
        try:
            reason = health()
        except Exception as error:  # a health check must answer, whatever breaks
            reason = f"the health check failed ({type(error).__name__})"
        if reason is None:
            return {"ok": True}
        return {"ok": False, "reason": str(reason)[:200]}, 503

    if metrics is not None:
        prometheus.add_route(web, metrics)
    return web


def unmistakable(body: bytes, content_type: str | None) -> bytes:
    """A form body as Bolt will read it right.

    Bolt takes any form body that contains the letters "payload" for an interactive payload
    (slack_bolt.request.internals.parse_body), so `/iam create payload.tester Developers` would
    read as nothing. Where there is no `payload` field, those letters are in a value: spelling
    their "p" as %70 reads back the same. The signature was checked on the body as sent.
    """
    if content_type == "application/json" or body.startswith(b"{") or b"payload" not in body:
        return body
    try:
        fields = urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        return body
    return body if "payload" in fields else body.replace(b"payload", b"%70ayload")


def _plain(text: str, status: int) -> Response:
    return Response(text, status=status, mimetype="text/plain")


def _is_ssl_check(body: bytes) -> bool:
    if len(body) > _SSL_CHECK_MAX_BYTES or b"ssl_check" not in body:
        return False
    try:
        form = urllib.parse.parse_qs(body.decode("ascii"), max_num_fields=8)
    except (UnicodeDecodeError, ValueError):
        return False
    return form.get("ssl_check") == ["1"] and "command" not in form and "payload" not in form


# -- the event-loop front ---------------------------------------------------------------------

class _TooLarge(Exception):
    pass


class _Gone(Exception):
    pass


class WholeRequests:
    """An ASGI app that reads each request whole in the event loop, then hands it to a WSGI app
    on a bounded thread pool; slow or oversized bodies are answered without a thread."""

    def __init__(self, wsgi_app, *, threads: int, max_body: int = MAX_BODY_BYTES,
                 body_timeout: float = BODY_TIMEOUT_SECONDS, in_flight=None):
        from a2wsgi import WSGIMiddleware

        # Counts each request from the moment it is read until it is answered (bot.work.InFlight).
        self._in_flight = in_flight or contextlib.nullcontext()
        self._bridge = WSGIMiddleware(wsgi_app, workers=threads)
        self._max_body = max_body
        self._body_timeout = body_timeout

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        arrived = time.perf_counter()
        declared = _content_length(scope)
        if declared is not None and declared > self._max_body:
            await _answer(send, 413, b"request body too large")
            return
        try:
            body = await asyncio.wait_for(self._read(receive), self._body_timeout)
        except _TooLarge:
            await _answer(send, 413, b"request body too large")
            return
        except asyncio.TimeoutError:
            await _answer(send, 408, b"request body too slow")
            return
        except _Gone:
            return
        delivered = False

        async def replay():
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        with self._in_flight:
            await self._bridge(scope, replay, send)
        if scope.get("path") == SLACK_PATH:
            prometheus.ACK_SECONDS.observe(time.perf_counter() - arrived)

    async def _read(self, receive) -> bytes:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Gone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max_body:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    @staticmethod
    async def _lifespan(receive, send):
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


def _content_length(scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _answer(send, status: int, text: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(text)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": text})


class Gunicorn(BaseApplication):
    """gunicorn, configured in code; the app is built in each worker (no I/O before fork).
    `in_flight` (bot.work.InFlight) counts the requests a worker is answering; each worker
    process has its own copy of it."""

    def __init__(self, build, port: int, in_flight=None):
        self._build = build
        self._port = port
        self._in_flight = in_flight
        super().__init__()

    def load_config(self):
        self.cfg.set("bind", f"0.0.0.0:{self._port}")
        # An asyncio worker: it reads whole requests before the thread pool sees them.
        self.cfg.set("worker_class", "uvicorn_worker.UvicornH11Worker")
        self.cfg.set("workers", int(os.environ.get("WEB_CONCURRENCY", "1")))
        self.cfg.set("timeout", 60)
        self.cfg.set("keepalive", 5)
        self.cfg.set("accesslog", None)  # access lines would be noise; Slack paths carry no secrets, but keep it quiet
        if gunicorn_logconfig():  # LOG_FORMAT=json: gunicorn's own lines too (bot/logs.py)
            self.cfg.set("logconfig_dict", gunicorn_logconfig())
        if "control_socket_disable" in self.cfg.settings:
            # gunicorn 24+ opens a control socket in $HOME, one path shared by every instance on the host.
            self.cfg.set("control_socket_disable", True)

    def load(self):
        return WholeRequests(self._build(), threads=int(os.environ.get("IAM_BOT_THREADS", "8")),
                             in_flight=self._in_flight)
