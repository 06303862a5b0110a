"""Button clicks: Approve, Deny (opens the reason modal), Retry provisioning, Reveal password."""

from __future__ import annotations

import logging

from slack_bolt import App

import storage
from commands.errors import CommandError
from commands.rules import Person

from .. import blocks
from ..people import is_listed_approver, lookup_person
from ..replies import answering, ephemeral

log = logging.getLogger(__name__)


def register(app: App) -> None:
    app.action(blocks.ACTION_APPROVE)(approve)
    app.action(blocks.ACTION_DENY)(deny)
    app.action(blocks.ACTION_RETRY)(retry)
    app.action(blocks.ACTION_REVEAL)(reveal)


def request_id_of(action: dict) -> int:
    value = str(action.get("value", ""))
    if not value.isdigit() or len(value) > 12:
        raise CommandError("This button does not name a request; use the buttons on a card the bot posted.")
    return int(value)


def decider(client, services, user_id: str) -> tuple[Person, bool]:
    """Who clicked, as the rules see them, and whether IAM_BOT_APPROVERS names them now."""
    person = lookup_person(client, user_id)
    if person is None:
        raise CommandError("Slack could not tell the bot who you are; try again in a minute.")
    return person, is_listed_approver(client, user_id, services.settings.iam_bot_approvers)


def approve(ack, body, action, respond, client, context):
    ack()
    services = context["iam_bot"]
    reply = ephemeral(respond)
    with answering(reply, "approve"):
        request_id = request_id_of(action)
        user_id = body["user"]["id"]
        person, listed = decider(client, services, user_id)
        outcome = services.workflow.approve(request_id, person, listed=listed)
        if not outcome.changed:
            reply(outcome.message)
            if outcome.request.state == storage.EXPIRED:
                services.notifier.expired(outcome.request)
            return
        services.notifier.update_card(outcome.request)
        provision_and_tell(services, request_id)


def provision_and_tell(services, request_id: int) -> None:
    request = services.workflow.provision(request_id)
    services.notifier.provisioned(request)


def deny(ack, body, action, respond, client, context):
    ack()
    services = context["iam_bot"]
    reply = ephemeral(respond)
    with answering(reply, "deny"):
        request_id = request_id_of(action)
        user_id = body["user"]["id"]
        person, listed = decider(client, services, user_id)
        decision = services.workflow.check_decider(request_id, person, listed=listed)
        request = services.workflow.store.get(request_id)
        if not decision.allowed:
            reply(decision.message)
            if request.state == storage.EXPIRED:
                services.notifier.expired(request)
            return
        client.views_open(trigger_id=body["trigger_id"], view=blocks.deny_modal(request))


def retry(ack, body, action, respond, client, context):
    ack()
    services = context["iam_bot"]
    reply = ephemeral(respond)
    with answering(reply, "retry"):
        request_id = request_id_of(action)
        user_id = body["user"]["id"]
        person, listed = decider(client, services, user_id)
        outcome = services.workflow.retry(request_id, person, listed=listed)
        if not outcome.changed:
            reply(outcome.message)
            return
        services.notifier.update_card(outcome.request)
        services.notifier.thread(outcome.request, f":repeat: <@{user_id}> retried provisioning.")
        provision_and_tell(services, request_id)


def reveal(ack, body, action, respond, context):
    ack()
    services = context["iam_bot"]
    reply = ephemeral(respond)
    with answering(reply, "reveal"):
        request_id = request_id_of(action)
        person = Person(user_id=body["user"]["id"], team_id=body["user"].get("team_id"))
        revealed = services.workflow.claim_reveal(request_id, person)
        shown = False
        try:
            url = services.workflow.iam.sign_in_url(revealed.request.user_arn)
            response = respond(response_type="ephemeral", replace_original=False,
                               **blocks.password_message(revealed.request, revealed.password, url))
            shown = response is not None and response.status_code == 200
        except Exception as error:
            # Not log.exception: the traceback's frames could hold the password-bearing payload.
            log.warning("showing the password for request #%s failed: %s", request_id, type(error).__name__)
        finally:
            del revealed
        if not shown:
            services.workflow.release_reveal(request_id, person, "showing the password failed")
            raise CommandError("Slack did not show the password, so it was not revealed; press the button again.")
        services.workflow.finish_reveal(request_id, person)
        services.notifier.reveal_done(services.workflow.store.get(request_id))
