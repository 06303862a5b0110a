"""Telling people in Slack what happened to a request: the card, its thread, DMs.

Each method does one kind of owed work (`commands.workflow.Owed`), written down by the
transition that owes it, so a message is sent once per event, and again after a crash until
it is recorded as done. A passing Slack failure raises TryLater; a refusal that can never
succeed (the channel is gone, the message was deleted) is logged and the work closed.
How each kind of request looks comes from the features (`bot.looks.Looks`), given when the app
is built.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

import storage
from commands.scope import current_account
from commands.settings import Settings
from commands.workflow import Filed, Owed, Workflow
from storage import Job

from . import blocks
from .feature import Looks
from .mrkdwn import code, mention
from .people import PASSING
from .work import TryLater

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, client: WebClient, workflow: Workflow, settings: Settings, looks: Looks):
        self.client = client
        self.workflow = workflow
        self.settings = settings
        self.looks = looks
        self.accounts = None  # the AccountRegistry with several AWS accounts (bot/app.py sets it)

    def approvals_channel(self, request: storage.Request | None = None) -> str:
        """Where the request's card goes (without one: the cards of the account of the work in hand):
        its account's `approvals_channel`, else IAM_BOT_APPROVALS_CHANNEL."""
        if self.accounts is not None:
            account = self.accounts.account(request.account if request is not None else current_account())
            if account is not None and account.approvals_channel:
                return account.approvals_channel
        return self.settings.iam_bot_approvals_channel

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
        return self.attempt(what, method, **kwargs)[0]

    def attempt(self, what: str, method, **kwargs) -> tuple[dict | None, str | None]:
        """A Slack call: (its answer, None), or (None, Slack's error code) if Slack refused for good;
        TryLater if it may work later."""
        try:
            return method(**kwargs), None
        except SlackApiError as error:
            code_ = str(error.response.get("error") or "unknown_error")
            if code_ in PASSING:
                raise TryLater(f"Slack answered {code_} to {what}") from None
            log.warning("Slack refused to %s: %s", what, code_)
            return None, code_
        except (SlackClientError, OSError) as error:
            raise TryLater(f"could not reach Slack to {what}: {type(error).__name__}") from None

    # -- the approval card ----------------------------------------------------------------

    def post_card(self, filed: Filed, poster: Job) -> str | None:
        """The card of a pending request not yet posted, by the work `poster`; None when posted (or
        posted before, or another piece of work is posting it), else Slack's error code, and the
        request is cancelled: a card Slack refuses would leave a request nobody can see.

        Its buttons carry a fresh token: if an earlier attempt may have reached Slack (the process
        died before recording it), that card's buttons stop working and this one says so.
        """
        request = filed.request
        if request.state != storage.PENDING or request.card_ts:
            return None
        resent = "card_token" in request.details
        token = self.workflow.new_card(request.id, poster.id)
        if token is None:
            return None
        filed = Filed(self.workflow.request(request.id), owner_is_guest=filed.owner_is_guest)
        card = blocks.approval_card(filed, self.looks.face(request), self.settings.iam_bot_request_ttl,
                                    token=token, resent=resent)
        posted, refused = self.attempt(f"post the card of request #{request.id}", self.client.chat_postMessage,
                                       channel=self.approvals_channel(request), unfurl_links=False,
                                       unfurl_media=False, **card)
        if refused is not None:
            self.workflow.card_refused(request.id, refused)
            return refused
        self.workflow.card_posted(request.id, posted["channel"], posted["ts"])
        return None

    def update_card(self, job: Job) -> None:
        request = self.workflow.request(job.request_id)
        if request.card_ts:
            if request.state == storage.PENDING:  # still deciding: a sensitive request's first approval
                card = blocks.approval_card(Filed(request, owner_is_guest=bool(request.details.get("owner_is_guest"))),
                                            self.looks.face(request), self.settings.iam_bot_request_ttl)
            else:
                card = blocks.decided_card(request, self.looks.face(request))
            self.call(f"update the card of request #{request.id}", self.client.chat_update,
                       channel=request.card_channel, ts=request.card_ts, **card)

    def thread(self, job: Job) -> None:
        request = self.workflow.request(job.request_id)
        text = self.thread_line(request, job.payload.get("event"), job.payload.get("actor"))
        if request.card_ts and text:
            self.to_approvers(f"post in the thread of request #{request.id}", blocks.message(text), request=request)

    def to_approvers(self, what: str, payload: dict, *, request: storage.Request | None = None) -> dict | None:
        """Post in the approvals channel: in the thread of `request`'s card when it has one."""
        if request is not None and request.card_ts:
            where = {"channel": request.card_channel, "thread_ts": request.card_ts}
        else:
            where = {"channel": self.approvals_channel(request)}
        return self.call(what, self.client.chat_postMessage, unfurl_links=False, **where, **payload)

    def thread_line(self, request: storage.Request, event: str | None, actor: str | None) -> str | None:
        # A kind may say an event its own way ("access_key:revealed"), else the shared words.
        words = self.looks.thread_line(request, event)
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
        payload = self.looks.reveal_dms[request.kind](request, url, self.settings.iam_bot_reveal_ttl, button=button,
                                                      resent=resent)
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
            spent = self.looks.reveal_dms_after[request.kind](request, url)
            self.call(f"update the DM of request #{request.id}", self.client.chat_update,
                      channel=request.dm_channel, ts=request.dm_ts, **spent)

