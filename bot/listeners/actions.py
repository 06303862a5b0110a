"""Button clicks: Approve, Deny (opens the reason modal), Retry provisioning, Reveal password."""

from __future__ import annotations

import logging

from slack_bolt import App

from commands.errors import CommandError, NotAllowed, Why
from commands.rules import Person, Reason

from .. import blocks
from ..services import Services, services
from ..people import lookup_person
from ..replies import answering, ephemeral
from ..words import refusal
from .handoff import after_ack

log = logging.getLogger(__name__)

MAX_REQUEST_ID_DIGITS = 12


def register(app: App) -> None:
    app.action(blocks.ACTION_APPROVE)(after_ack(approve))
    app.action(blocks.ACTION_DENY)(after_ack(deny))
    app.action(blocks.ACTION_RETRY)(after_ack(retry))
    app.action(blocks.ACTION_REVEAL)(after_ack(reveal))


def request_id_of(value: object) -> int:
    """A request id as the bot writes it: ASCII digits only ("١" and "²" are digits to Python)."""
    text = str(value if value is not None else "")
    if not (text.isascii() and text.isdigit()) or len(text) > MAX_REQUEST_ID_DIGITS:
        raise CommandError(Why.BAD_REQUEST_ID)
    return int(text)


def decider(client, svc: Services, user_id: str) -> tuple[Person, bool]:
    """Who clicked, as the rules see them, and whether IAM_BOT_APPROVERS names them now."""
    person = lookup_person(client, user_id)
    if person is None:
        raise CommandError(Why.REQUESTER_UNKNOWN)
    return person, svc.approvers.is_listed(client, user_id)


def approve(body, action, respond, client, context):
    svc = services(context)
    reply = ephemeral(respond)
    with answering(reply, "approve"):
        value, _, card = str(action.get("value") or "").partition(":")
        request_id = request_id_of(value)
        svc.workflow.check_card(request_id, card or None, body["user"]["id"])
        person, listed = decider(client, svc, body["user"]["id"])
        outcome = svc.workflow.approve(request_id, person, listed=listed)
        svc.runner.kick()  # the card update and provisioning it owes, or the expiry it noticed
        if not outcome.changed:
            reply(refusal(outcome.reason, request_id, outcome.request.state))
        elif outcome.request.state == "pending":  # the first approval of a sensitive request
            from ..guard_blocks import approval_recorded

            reply(approval_recorded(outcome.request))


def deny(body, action, respond, client, context):
    """Open the reason modal at once: views.open must come within 3 s of the click.

    Only what the store can say is checked now; who the clicker is (Slack calls that may be
    slow or rate limited) is checked when the reason is submitted and the decision is taken.
    """
    svc = services(context)
    reply = ephemeral(respond)
    with answering(reply, "deny"):
        value, _, card = str(action.get("value") or "").partition(":")
        request_id = request_id_of(value)
        svc.workflow.check_card(request_id, card or None, body["user"]["id"])
        outcome = svc.workflow.precheck(request_id, body["user"]["id"])
        if outcome.reason is not Reason.ALLOWED:
            svc.runner.kick()
            reply(refusal(outcome.reason, request_id, outcome.request.state))
            return
        client.views_open(trigger_id=body["trigger_id"], view=blocks.deny_modal(outcome.request))


def retry(body, action, respond, client, context):
    svc = services(context)
    reply = ephemeral(respond)
    with answering(reply, "retry"):
        request_id = request_id_of(action.get("value"))
        person, listed = decider(client, svc, body["user"]["id"])
        outcome = svc.workflow.retry(request_id, person, listed=listed)
        svc.runner.kick()
        if not outcome.changed:
            reply(refusal(outcome.reason, request_id, outcome.request.state, verb="retry"))


def reveal(body, action, respond, context):
    svc = services(context)
    reply = ephemeral(respond)
    with answering(reply, "reveal"):
        value, _, button = str(action.get("value") or "").partition(":")
        request_id = request_id_of(value)
        person = Person(user_id=body["user"]["id"], team_id=body["user"].get("team_id"))
        try:
            revealed = svc.workflow.claim_reveal(request_id, person, button=button or None)
        except NotAllowed:
            svc.runner.kick()  # an expiry this click noticed owes the DM and the thread a word
            raise
        shown = False
        try:
            response = respond(response_type="ephemeral", replace_original=False,
                               **blocks.secret_message(revealed))
            shown = response is not None and response.status_code == 200
        except Exception as error:
            # Not log.exception: the traceback's frames could hold the password-bearing payload.
            log.warning("showing the password for request #%s failed: %s", request_id, type(error).__name__)
        finally:
            del revealed
        if not shown:
            svc.workflow.release_reveal(request_id, person, "showing the password failed")
            raise CommandError(Why.REVEAL_NOT_SHOWN)
        svc.workflow.finish_reveal(request_id, person)
        svc.runner.kick()
