"""Socket Mode with the same edge as HTTP: a request is checked for shape before Bolt sees it,
and every request is acknowledged.

Socket Mode has no status codes: an envelope that is never acknowledged shows the person
"dispatch_failed". A malformed or refused request is acknowledged with words where Slack shows
them (a slash command), and plainly elsewhere. The exception is an event Bolt could not take
(its listener could not write it down): it is left unacknowledged, so Slack delivers it again,
as over HTTP after a 500.
"""

from __future__ import annotations

import logging
import time

from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.socket_mode.internals import run_bolt_app, send_response
from slack_sdk.socket_mode.response import SocketModeResponse

from . import shapes
from .metrics import ACK_SECONDS
from .words import UNREADABLE

log = logging.getLogger(__name__)


class CheckedSocketModeHandler(SocketModeHandler):
    def handle(self, client, req) -> None:  # type: ignore[override]
        started = time.time()
        try:
            self._handle(client, req, started)
        finally:
            ACK_SECONDS.observe(time.time() - started)

    def _handle(self, client, req, started: float) -> None:
        try:
            shapes.check_payload(req.payload)
        except shapes.Malformed as reason:
            log.info("refused a Socket Mode request: %s", reason)
            acknowledge(client, req)
            return
        response = run_bolt_app(self.app, req)
        if response.status != 200 and req.type == "events_api":
            log.warning("left a Socket Mode event unacknowledged (Bolt answered %s): Slack sends it again",
                        response.status)
            return
        if response.status != 200:
            log.info("acknowledged a Socket Mode request Bolt answered with %s", response.status)
            acknowledge(client, req)
            return
        send_response(client, req, response, started)


def acknowledge(client, req) -> None:
    """Ack an envelope the bot will not act on, with words when the person can see them."""
    payload = {"response_type": "ephemeral", "text": UNREADABLE} if req.type == "slash_commands" else None
    client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id, payload=payload))
