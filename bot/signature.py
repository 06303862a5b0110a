"""Slack's v0 request signature, checked on the raw body before anything parses it.

Slack signs `v0:{timestamp}:{raw body}` with the app's signing secret (HMAC-SHA256) and sends
the timestamp and `v0=<hex>` in two headers. A request is accepted only if the signature
matches and the timestamp is within five minutes of the app's clock, so a captured request
cannot be replayed later. Malformed headers are simply invalid: nothing here raises.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Callable

from slack_bolt import App

TOLERANCE_SECONDS = 300
_MAX_TIMESTAMP_DIGITS = 12  # far beyond any real Unix time; keeps int() and the HMAC input small
_SIGNATURE_LENGTH = len("v0=") + 64

Clock = Callable[[], dt.datetime]


def wall_clock() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class SlackSignature:
    """The signing secret and the clock a request's signature is checked against."""

    def __init__(self, secret: str, clock: Clock = wall_clock):
        self._secret = secret.encode()
        self._clock = clock

    def __repr__(self) -> str:  # never the secret, even in a debugger or a traceback
        return "SlackSignature(secret=<hidden>)"

    def verify(self, timestamp: str | None, signature: str | None, body: bytes) -> bool:
        if not self._secret or not timestamp or not signature:
            return False
        if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > _MAX_TIMESTAMP_DIGITS:
            return False
        if len(signature) != _SIGNATURE_LENGTH or not signature.isascii():
            return False
        if abs(self._clock().timestamp() - int(timestamp)) > TOLERANCE_SECONDS:
            return False
        expected = hmac.new(self._secret, b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
        return hmac.compare_digest("v0=" + expected, signature)


_ATTRIBUTE = "iam_bot_signature"


def attach(app: App, signature: SlackSignature | None) -> None:
    """Keep the app's signature (its secret and injected clock) with it, for the HTTP edge."""
    setattr(app, _ATTRIBUTE, signature)


def signature_of(app: App) -> SlackSignature | None:
    """What `attach` kept; for a Bolt app built elsewhere, its own signing secret and the wall clock."""
    if hasattr(app, _ATTRIBUTE):
        return getattr(app, _ATTRIBUTE)
    secret = getattr(app, "_signing_secret", None)
    return SlackSignature(secret) if secret else None
