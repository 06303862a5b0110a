"""Telling people in Slack what happened to a request: the card, its thread, DMs.

The request's state is already safe in the store when these run; a Slack call that fails
here is logged and the next message still goes out, so one hiccup never hides a decision.
Each is called where its transition was won, so a message is sent once per event.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

import storage
from commands.settings import Settings
from commands.workflow import Filed, Workflow
from storage import Request

from . import blocks
from .mrkdwn import code, duration, escape, listing, mention

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, client: WebClient, workflow: Workflow, settings: Settings):
        self.client = client
        self.workflow = workflow
        self.settings = settings

    def _call(self, what: str, method, **kwargs) -> dict | None:
        try:
            return method(**kwargs)
        except SlackApiError as error:
            log.warning("Slack refused to %s: %s", what, error.response.get("error"))
        except Exception:
            log.exception("could not %s", what)
        return None

    # -- the approval card ----------------------------------------------------------------

    def post_card(self, filed: Filed) -> str | None:
        """Post the approval card; None when posted, else Slack's error code."""
        request = filed.request
        try:
            posted = self.client.chat_postMessage(
                channel=self.settings.iam_bot_approvals_channel, unfurl_links=False, unfurl_media=False,
                **blocks.approval_card(filed, self.settings.iam_bot_request_ttl),
            )
        except SlackApiError as error:
            code_ = str(error.response.get("error") or "unknown_error")
            log.warning("Slack refused the card of request #%s: %s", request.id, code_)
            return code_
        except Exception:
            log.exception("could not post the card of request #%s", request.id)
            return "unreachable"
        self.workflow.card_posted(request.id, posted["channel"], posted["ts"])
        return None

    def update_card(self, request: Request) -> None:
        request = self.workflow.request(request.id)
        if not request.card_ts:
            return
        self._call(f"update the card of request #{request.id}", self.client.chat_update,
                   channel=request.card_channel, ts=request.card_ts, **blocks.decided_card(request))

    def thread(self, request: Request, text: str) -> None:
        request = self.workflow.request(request.id)
        if not request.card_ts:
            return
        self._call(f"post in the thread of request #{request.id}", self.client.chat_postMessage,
                   channel=request.card_channel, thread_ts=request.card_ts, unfurl_links=False,
                   **blocks.message(text))

    def dm(self, user_id: str, payload: dict) -> dict | None:
        opened = self._call(f"open a DM with {user_id}", self.client.conversations_open, users=user_id)
        if opened is None:
            return None
        return self._call(f"DM {user_id}", self.client.chat_postMessage, channel=opened["channel"]["id"],
                          unfurl_links=False, **payload)

    # -- outcomes ----------------------------------------------------------------------

    def denied(self, request: Request) -> None:
        self.update_card(request)
        self.dm(request.requester_id, blocks.message(
            f"Your request #{request.id} for the IAM user {code(request.user_name)} was denied by "
            f"{mention(request.decider_id)}: {escape(request.deny_reason)}"
        ))

    def expired(self, request: Request) -> None:
        self.update_card(request)
        self.thread(request, f"Request #{request.id} expired: nobody decided within "
                             f"{duration(self.settings.iam_bot_request_ttl)}.")

    def provisioned(self, request: Request) -> None:
        """The outcome of provisioning: the card, its thread, and the owner's DM."""
        self.update_card(request)
        if request.state == storage.FAILED:
            self.thread(request, (
                f":x: Provisioning of {code(request.user_name)} stopped: {escape(request.failure)}\n"
                "Steps already done stay done. Fix the cause, then an approver can press *Retry provisioning* "
                "on the card; it resumes from the failed step."
            ))
            return
        if request.state != storage.PROVISIONED:
            return
        groups = listing(request.groups, budget=1500)
        self.thread(request, f":white_check_mark: Created {code(request.user_arn, 400)} in {groups}"
                             f"{' with a console password that must be changed at first sign-in' if request.console else ''}.")
        self.deliver_sign_in(request)

    def deliver_sign_in(self, request: Request) -> None:
        url = self.workflow.sign_in_url(request)
        posted = self.dm(request.owner_id, blocks.sign_in_dm(request, url, self.settings.iam_bot_reveal_ttl))
        if posted is None:
            self.thread(request, f":warning: Could not send the sign-in details to {mention(request.owner_id)} by DM.")
            return
        self.workflow.sign_in_delivered(request.id, posted["channel"], posted["ts"])
        self.thread(request, f":envelope: Sign-in details delivered to {mention(request.owner_id)} by DM.")

    def reveal_done(self, request: Request) -> None:
        """After the reveal (or its expiry): the DM loses its button, the thread hears of it."""
        request = self.workflow.request(request.id)
        if request.dm_ts:
            url = self.workflow.sign_in_url(request)
            self._call(f"update the DM of request #{request.id}", self.client.chat_update,
                       channel=request.dm_channel, ts=request.dm_ts, **blocks.sign_in_dm_after(request, url))
        if request.state == storage.REVEALED:
            self.thread(request, f":lock: {mention(request.owner_id)} revealed their first password.")
        elif request.state == storage.REVEAL_EXPIRED:
            self.thread(request, f":hourglass: The password reveal for {mention(request.owner_id)} expired unused.")
