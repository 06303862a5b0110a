"""Slack's HTTP requests on a production WSGI server: gunicorn in front of Flask and Bolt."""

from __future__ import annotations

import logging
import os

from flask import Flask, request
from gunicorn.app.base import BaseApplication
from slack_bolt import App
from slack_bolt.adapter.flask import SlackRequestHandler

MAX_BODY_BYTES = 1_000_000

log = logging.getLogger(__name__)


def flask_app(bolt_app: App) -> Flask:
    web = Flask("iam-bot")
    web.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    handler = SlackRequestHandler(bolt_app)

    @web.post("/slack/events")
    def slack_events():
        try:
            return handler.handle(request)
        except (ValueError, TypeError, KeyError, AttributeError):
            # Bolt parses the body before any middleware runs; a body it cannot parse (signed
            # or not) is answered here, without logging it: it may hold a response_url.
            log.info("refused a Slack request whose body could not be parsed")
            return {"error": "malformed request"}, 400

    @web.get("/healthz")
    def healthz():
        return {"ok": True}

    return web


class Gunicorn(BaseApplication):
    """gunicorn, configured in code; the app is built in each worker (no I/O before fork)."""

    def __init__(self, build, port: int):
        self._build = build
        self._port = port
        super().__init__()

    def load_config(self):
        self.cfg.set("bind", f"0.0.0.0:{self._port}")
        self.cfg.set("worker_class", "gthread")
        self.cfg.set("workers", int(os.environ.get("WEB_CONCURRENCY", "1")))
        self.cfg.set("threads", int(os.environ.get("IAM_BOT_THREADS", "8")))
        self.cfg.set("timeout", 60)
        self.cfg.set("accesslog", None)  # access lines would be noise; Slack paths carry no secrets, but keep it quiet

    def load(self):
        return self._build()
