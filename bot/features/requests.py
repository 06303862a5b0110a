"""What every kind of request shares at the Slack edge: the Approve, Deny and Retry buttons on its
card, the deny modal, the owner's Reveal button, posting the card when a request is filed, the
card's and DMs' owed work, withdrawing (`/iam cancel` and the Cancel button on the requester's
confirmation), reminding the approvers, the lines the shared life of a request says in the
card's thread, and the duty that expires what waited too long.

Reminders: every minute, the single duties runner records each reminder that is due (one
compare-and-swap per reminder, see commands/reminders.py); the thread lines are owed work.

The request's kind (its feature) makes the card's face, the DM and the secret; see `bot.looks`.
"""

from __future__ import annotations

import datetime as dt
import logging

from commands.errors import CommandError, NotAllowed, Why
from commands.reminders import VERBS, CancelCommand, Reminders, reminders_sent
from commands.rules import Person, Reason
from commands.workflow import Filed, Owed
from storage import Request

from .. import blocks
from ..feature import Command, Duty, Feature, Looks
from ..mrkdwn import approver, channel, code, duration, escape, mention, when
from ..replies import answering, ephemeral
from ..router import Asked, later
from ..services import Services
from ..guardrails import approval_recorded, waiting_for, waiting_shares
from ..words import refusal

log = logging.getLogger(__name__)

MAX_REQUEST_ID_DIGITS = 12
MAX_REASON = 500
SWEEP_EVERY = dt.timedelta(seconds=60)
REMIND_EVERY = dt.timedelta(minutes=1)


def request_id_of(value: object) -> int:
    """A request id as the bot writes it: ASCII digits only ("١" and "²" are digits to Python)."""
    text = str(value if value is not None else "")
    if not (text.isascii() and text.isdigit()) or len(text) > MAX_REQUEST_ID_DIGITS:
        raise CommandError(Why.BAD_REQUEST_ID)
    return int(text)


def announce(asked: Asked, filed: Filed) -> bool:
    """Post a filed request's card (once); False, with the asker told why, if Slack refused it."""
    refused = asked.svc.notifier.post_card(filed, asked.job)
    if refused is None:
        return True
    approvals = channel(asked.svc.notifier.approvals_channel(filed.request))
    if refused in ("not_in_channel", "channel_not_found", "is_archived"):
        why = f"the bot cannot post in {approvals} (Slack says `{refused}`): invite the bot to that channel"
    else:
        why = f"Slack refused the approval card (`{refused}`); tell whoever runs the bot"
    asked.reply(f":x: Request #{filed.request.id} was cancelled, because {why}. Nothing was created or changed "
                "in AWS; once that is fixed, ask again.")
    return False


def reason_of(view: dict) -> str:
    state = view.get("state")
    values = state.get("values") if isinstance(state, dict) else None
    block = values.get(blocks.BLOCK_DENY_REASON) if isinstance(values, dict) else None
    element = block.get(blocks.ACTION_DENY_REASON) if isinstance(block, dict) else None
    value = element.get("value") if isinstance(element, dict) else None
    return value.strip() if isinstance(value, str) else ""


def withdrawn_text(request: Request, looks: Looks) -> str:
    return (f":heavy_multiplication_x: You withdrew request #{request.id} ({looks.summary(request)}). Nothing was "
            "created; ask again with `/iam create` whenever you need to.")


def reminder_line(settings, request: Request, looks: Looks, defaults: tuple[str, ...] = ()) -> str | None:
    """Re-announce a pending request to its approvers (with a rules file, those of the groups still
    waiting; else the defaults, IAM_BOT_APPROVERS); nothing once it is decided."""
    if request.state != "pending":
        return None
    waiting = [a for share in waiting_shares(request) for a in share["approvers"]]
    who = " ".join(approver(a) for a in dict.fromkeys(waiting or defaults or settings.iam_bot_approvers))
    expires = request.created_at + settings.iam_bot_request_ttl
    number = reminders_sent(request)
    return (f":bell: Reminder{f' {number}' if number > 1 else ''}: request #{request.id} "
            f"({looks.summary(request)}) has waited since {when(request.created_at)}. {who}: please approve or "
            f"deny it on the card above. It expires {when(expires)}.")


# One line in a card's thread per event of a request's shared life (a kind may say one its own way).
THREAD_LINES = {
    "failed": lambda settings, request, actor: (
        f":x: Provisioning of {code(request.user_name)} stopped: {escape(request.failure)}\n"
        "Steps already done stay done. Fix the cause, then an approver can press *Retry provisioning* "
        "on the card; it resumes from the failed step."),
    "retried": lambda settings, request, actor: f":repeat: {mention(actor)} retried provisioning.",
    "expired": lambda settings, request, actor: (
        f"Request #{request.id} expired: nobody decided within {duration(settings.iam_bot_request_ttl)}."),
    "delivered": lambda settings, request, actor: (
        f":envelope: Sign-in details delivered to {mention(request.owner_id)} by DM."),
    "not_delivered": lambda settings, request, actor: (
        f":warning: Could not send the sign-in details to {mention(request.owner_id)} by DM."),
    "revealed": lambda settings, request, actor: f":lock: {mention(request.owner_id)} revealed their first password.",
    "reveal_expired": lambda settings, request, actor: (
        f":hourglass: The password reveal for {mention(request.owner_id)} expired unused."),
    "withdrawn": lambda settings, request, actor: (
        f":heavy_multiplication_x: {mention(actor)} withdrew request #{request.id}. Nothing was created."),
}


def feature(svc: Services) -> Feature:
    workflow, runner = svc.workflow, svc.runner
    reminders = Reminders(workflow, svc.store)
    rules_file = workflow.approvals.per_group

    def card_click(action, user_id: str) -> int:
        """The request a card's button names; its token must be the live card's."""
        value, _, card = str(action.get("value") or "").partition(":")
        request_id = request_id_of(value)
        workflow.check_card(request_id, card or None, user_id)
        return request_id

    def approve(body, action, respond):
        reply = ephemeral(respond)
        with answering(reply, "approve"):
            request_id = card_click(action, body["user"]["id"])
            outcome = workflow.approve(request_id, svc.asker(body["user"]["id"]))
            runner.kick()  # the card update and provisioning it owes, or the expiry it noticed
            if not outcome.changed:
                reply(refusal(outcome.reason, request_id, outcome.request.state, rules_file=rules_file)
                      + (waiting_for(outcome.request) if outcome.request.state == "pending" else ""))
            elif outcome.request.state == "pending":  # the first approval of a sensitive request
                reply(approval_recorded(outcome.request))

    def deny(body, action, respond, client):
        """Open the reason modal at once: views.open must come within 3 s of the click.

        Only what the store can say is checked now; who the clicker is (Slack calls that may be
        slow or rate limited) is checked when the reason is submitted and the decision is taken.
        """
        reply = ephemeral(respond)
        with answering(reply, "deny"):
            request_id = card_click(action, body["user"]["id"])
            outcome = workflow.precheck(request_id, body["user"]["id"])
            if outcome.reason is not Reason.ALLOWED:
                runner.kick()
                reply(refusal(outcome.reason, request_id, outcome.request.state, rules_file=rules_file))
                return
            client.views_open(trigger_id=body["trigger_id"], view=blocks.deny_modal(outcome.request))

    def deny_submitted(ack, body, view, client):
        """A reason is checked here, so the modal can say what is missing; the decision is taken after the ack."""
        if not reason_of(view):
            ack(response_action="errors", errors={blocks.BLOCK_DENY_REASON: "Say why, so the requester can act on it."})
            return
        ack()
        later(svc, deny_with_reason, {"body": body, "view": view, "client": client})

    def deny_with_reason(body, view, client):
        reason = reason_of(view)
        user_id = body["user"]["id"]

        def reply(text: str) -> None:
            client.chat_postEphemeral(channel=svc.settings.iam_bot_approvals_channel, user=user_id, text=text)

        with answering(reply, "deny"):
            request_id = request_id_of(view.get("private_metadata"))
            outcome = workflow.deny(request_id, svc.asker(user_id), reason=reason[:MAX_REASON])
            runner.kick()
            if not outcome.changed:
                reply(refusal(outcome.reason, request_id, outcome.request.state, rules_file=rules_file))

    def retry(body, action, respond):
        reply = ephemeral(respond)
        with answering(reply, "retry"):
            request_id = request_id_of(action.get("value"))
            outcome = workflow.retry(request_id, svc.asker(body["user"]["id"]))
            runner.kick()
            if not outcome.changed:
                reply(refusal(outcome.reason, request_id, outcome.request.state, verb="retry", rules_file=rules_file))

    def reveal(body, action, respond):
        reply = ephemeral(respond)
        with answering(reply, "reveal"):
            value, _, button = str(action.get("value") or "").partition(":")
            request_id = request_id_of(value)
            person = Person(user_id=body["user"]["id"], team_id=body["user"].get("team_id"))
            try:
                revealed = workflow.claim_reveal(request_id, person, button=button or None)
            except NotAllowed:
                runner.kick()  # an expiry this click noticed owes the DM and the thread a word
                raise
            shown = False
            try:
                response = respond(response_type="ephemeral", replace_original=False,
                                   **svc.looks.secret_messages[revealed.secret.what](revealed))
                shown = response is not None and response.status_code == 200
            except Exception as error:
                # Not log.exception: the traceback's frames could hold the password-bearing payload.
                log.warning("showing the password for request #%s failed: %s", request_id, type(error).__name__)
            finally:
                del revealed
            if not shown:
                workflow.release_reveal(request_id, person, "showing the password failed")
                raise CommandError(Why.REVEAL_NOT_SHOWN)
            workflow.finish_reveal(request_id, person)
            runner.kick()

    def cancel_request(asked: Asked, parsed: CancelCommand) -> None:
        request = reminders.withdraw(parsed.request_id, asked.user_id)
        runner.kick()  # the card update and the thread line it owes
        asked.reply(withdrawn_text(request, svc.looks))

    def cancel_clicked(body, action, respond):
        """The Cancel button on the requester's own confirmation: the confirmation becomes the outcome."""
        reply = ephemeral(respond)
        with answering(reply, "cancel"):
            request_id = request_id_of(action.get("value"))
            request = reminders.withdraw(request_id, body["user"]["id"])
            runner.kick()
            text = withdrawn_text(request, svc.looks)
            respond(text=text, blocks=[blocks.section(text)], response_type="ephemeral", replace_original=True)

    def remind() -> None:
        if reminders.remind_due():
            runner.kick()

    def sweep() -> None:
        """Expire what waited too long; what that owes people is written down with it."""
        workflow.sweep()
        runner.kick()

    return Feature(
        name="requests",
        verbs=VERBS,
        domain=reminders,
        commands={CancelCommand: Command(lambda c: f"Withdrawing request #{c.request_id}…", cancel_request)},
        actions={blocks.ACTION_APPROVE: approve, blocks.ACTION_DENY: deny, blocks.ACTION_RETRY: retry,
                 blocks.ACTION_REVEAL: reveal, blocks.ACTION_CANCEL: cancel_clicked},
        views={blocks.VIEW_DENY: deny_submitted},
        work={**svc.notifier.handlers(), Owed.PROVISION: lambda job: workflow.provision(job.request_id)},
        duties=(Duty("sweep", SWEEP_EVERY, sweep), Duty("reminders", REMIND_EVERY, remind)),
        looks=Looks(thread_lines={
            **THREAD_LINES,
            "reminder": lambda settings, request, actor: reminder_line(settings, request, svc.looks,
                                                                       workflow.approvals.rules.defaults.approvers),
        }),
    )
