"""Telling people in Slack what happened to a request: the card, its thread, DMs.

Each method does one kind of owed work (`commands.workflow.Owed`), written down by the
transition that owes it, so a message is sent once per event, and again after a crash until
it is recorded as done. A passing Slack failure raises TryLater; a refusal that can never
succeed (the channel is gone, the message was deleted) is logged and the work closed.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

import storage
from commands.settings import Settings
from commands.workflow import Filed, Owed, Workflow
from storage import Job, Request

from . import audit_blocks, blocks
from .mrkdwn import code, duration, escape, listing, mention
from .work import TryLater

log = logging.getLogger(__name__)

# Slack errors that mean "not now": the work is tried again later.
PASSING = {"ratelimited", "rate_limited", "fatal_error", "internal_error", "service_unavailable", "request_timeout"}


class Notifier:
    def __init__(self, client: WebClient, workflow: Workflow, settings: Settings):
        self.client = client
        self.workflow = workflow
        self.settings = settings

    def handlers(self) -> dict:
        return {
            Owed.CARD: self.update_card,
            Owed.THREAD: self.thread,
            Owed.SIGN_IN_DM: self.sign_in_dm,
            Owed.DENIED_DM: self.denied_dm,
            Owed.DM_UPDATE: self.dm_update,
        }

    def call(self, what: str, method, **kwargs) -> dict | None:
        """A Slack call: its answer; None if Slack refused for good; TryLater if it may work later."""
        try:
            return method(**kwargs)
        except SlackApiError as error:
            code_ = error.response.get("error")
            if code_ in PASSING:
                raise TryLater(f"Slack answered {code_} to {what}") from None
            log.warning("Slack refused to %s: %s", what, code_)
            return None
        except (SlackClientError, OSError) as error:
            raise TryLater(f"could not reach Slack to {what}: {type(error).__name__}") from None

    # -- the approval card ----------------------------------------------------------------

    def post_card(self, filed: Filed, poster: Job) -> str | None:
        """Post the approval card; None when posted (or no longer needed), else Slack's error code.

        Its buttons carry a fresh token: if an earlier attempt may have reached Slack (the process
        died before recording it), that card's buttons stop working and this one says so.
        """
        request = filed.request
        resent = "card_token" in request.details
        token = self.workflow.new_card(request.id, poster.id)
        if token is None:
            return None
        filed = Filed(self.workflow.request(request.id), owner_is_guest=filed.owner_is_guest)
        try:
            posted = self.client.chat_postMessage(
                channel=self.settings.iam_bot_approvals_channel, unfurl_links=False, unfurl_media=False,
                **blocks.approval_card(filed, self.settings.iam_bot_request_ttl, token=token, resent=resent),
            )
        except SlackApiError as error:
            code_ = str(error.response.get("error") or "unknown_error")
            if code_ in PASSING:
                raise TryLater(f"Slack answered {code_} to the card") from None
            log.warning("Slack refused the card of request #%s: %s", request.id, code_)
            return code_
        except (SlackClientError, OSError) as error:
            raise TryLater(f"could not reach Slack to post the card: {type(error).__name__}") from None
        self.workflow.card_posted(request.id, posted["channel"], posted["ts"])
        return None

    def update_card(self, job: Job) -> None:
        request = self.workflow.request(job.request_id)
        if request.card_ts:
            if request.state == storage.PENDING:  # still deciding: a sensitive request's first approval
                card = blocks.approval_card(Filed(request, owner_is_guest=bool(request.details.get("owner_is_guest"))),
                                            self.settings.iam_bot_request_ttl)
            else:
                card = blocks.decided_card(request)
            self.call(f"update the card of request #{request.id}", self.client.chat_update,
                       channel=request.card_channel, ts=request.card_ts, **card)

    def thread(self, job: Job) -> None:
        request = self.workflow.request(job.request_id)
        text = self.thread_line(request, job.payload.get("event"), job.payload.get("actor"))
        if request.card_ts and text:
            self.call(f"post in the thread of request #{request.id}", self.client.chat_postMessage,
                       channel=request.card_channel, thread_ts=request.card_ts, unfurl_links=False,
                       **blocks.message(text))

    def thread_line(self, request: Request, event: str | None, actor: str | None) -> str | None:
        # A kind may say an event its own way ("access_key:revealed"), else the shared words.
        words = THREAD_LINES.get(f"{request.kind}:{event}") or THREAD_LINES.get(event or "")
        if words is None:
            log.warning("no words for thread event %r", event)
            return None
        return words(self.settings, request, actor)

    # -- DMs ------------------------------------------------------------------------------

    def dm(self, user_id: str, payload: dict) -> dict | None:
        opened = self.call(f"open a DM with {user_id}", self.client.conversations_open, users=user_id)
        if opened is None:
            return None
        return self.call(f"DM {user_id}", self.client.chat_postMessage, channel=opened["channel"]["id"],
                          unfurl_links=False, **payload)

    def denied_dm(self, job: Job) -> None:
        request = self.workflow.request(job.request_id)
        denied = blocks.message(f"Your request #{request.id} for the IAM user {code(request.user_name)} was denied by "
                                f"{mention(request.decider_id)}.")
        if request.deny_reason:
            denied["blocks"].append(blocks.their_words("Reason", request.decider_id, request.deny_reason))
        self.dm(request.requester_id, denied)

    def sign_in_dm(self, job: Job) -> None:
        """The owner's sign-in details, with a Reveal button that is the only live one.

        If an earlier attempt may have reached the owner (the process died before it was
        recorded), its button is retired first and the new message says so: one extra short
        line rather than two live buttons or a silent gap.
        """
        request = self.workflow.request(job.request_id)
        if request.state != storage.PROVISIONED or request.dm_ts:
            return  # revealed or expired meanwhile, or delivered and recorded
        reveals = self.workflow.kind(request).reveals(request)
        button = self.workflow.new_reveal_button(request.id) if reveals else None
        if reveals and button is None:
            return
        resent = job.attempts > 1 or request.details.get("reveal_button") is not None
        url = self.workflow.sign_in_url(request)
        payload = blocks.reveal_dm(request, url, self.settings.iam_bot_reveal_ttl, button=button, resent=resent)
        posted = self.dm(request.owner_id, payload)
        if posted is None:
            self.workflow.sign_in_not_delivered(request.id)
            return
        self.workflow.sign_in_delivered(request.id, posted["channel"], posted["ts"])

    def dm_update(self, job: Job) -> None:
        """After the reveal (or its expiry): the DM loses its button."""
        request = self.workflow.request(job.request_id)
        if request.dm_ts:
            url = self.workflow.sign_in_url(request)
            self.call(f"update the DM of request #{request.id}", self.client.chat_update,
                       channel=request.dm_channel, ts=request.dm_ts, **blocks.reveal_dm_after(request, url))


def _provisioned(settings, request: Request, actor) -> str:
    if request.kind in PROVISIONED_LINES:
        return PROVISIONED_LINES[request.kind](settings, request, actor)
    groups = listing(request.groups, budget=1500)
    console = " with a console password that must be changed at first sign-in" if request.console else ""
    return f":white_check_mark: Created {code(request.user_arn, 400)} in {groups}{console}."


def _removed(settings, request: Request, actor) -> str:
    if request.details.get("disable_only"):
        return (f":lock: Disabled {code(request.user_name)}: console password deleted, access keys deactivated. "
                f"`/iam enable {escape(request.user_name)}` undoes it.")
    return f":wastebasket: Removed {code(request.user_name)} and everything it held from AWS, in AWS's order."


def _new_password(settings, request: Request, actor) -> str:
    return f":key: {mention(request.owner_id)} gets a new console password by one-time reveal."


# The "provisioned" line for kinds that do not create a user (the default above is a create's).
PROVISIONED_LINES = {"remove": _removed, "reset_password": _new_password, "enable": _new_password}


def _mfa_on(request: Request) -> str:
    from .guard_blocks import mfa_on_line

    return mfa_on_line(request)


# One line in a card's thread per event (`commands.workflow.thread(event, actor)`). A new event adds a line.
THREAD_LINES = {
    "provisioned": _provisioned,
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
    "mfa_on": lambda settings, request, actor: _mfa_on(request),
    "reveal_expired": lambda settings, request, actor: (
        f":hourglass: The password reveal for {mention(request.owner_id)} expired unused."),
    "reminder": audit_blocks.reminder_line,
    "withdrawn": audit_blocks.withdrawn_line,
    # Offboarding
    "user_removed": lambda settings, request, actor: (
        f":wastebasket: {code(request.user_name)} has since been removed from AWS; this request no longer holds "
        "its name."),
    "voided_leaver": lambda settings, request, actor: (
        f":heavy_multiplication_x: Request #{request.id} was cancelled: Slack says its requester or owner left."),
    "reveal_voided": lambda settings, request, actor: (
        f":no_entry_sign: The password reveal for {mention(request.owner_id)} was voided: Slack says they left."),
    "approval_voided": lambda settings, request, actor: (
        ":no_entry_sign: An approval of this request was voided: Slack says the approver left."),
}
