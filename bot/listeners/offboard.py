"""Offboarding at the Slack edge: `/iam remove`, `/iam reset-password`, `/iam enable`, and Slack's
`user_change` event when a person's account is deactivated.

The event is written down as durable work keyed by Slack's event id before it is acknowledged,
so a retried delivery files nothing twice and a crash loses nothing; the work (voiding what the
leaver had open, filing removals, posting their cards) runs on the Runner, on any process. It is
written only when the person's leaving is not open already (see `Store.open_leaver`): the burst
of events Slack sends as an account changes costs one piece of work.
"""

from __future__ import annotations

import logging

from slack_bolt import App
from slack_sdk.errors import SlackApiError, SlackClientError

from commands.errors import CommandError, Why
from commands.offboard import BOT_REQUESTER
from commands.parse import CreateCommand, EnableCommand, RemoveCommand, ResetPasswordCommand
from commands.workflow import Filed
from storage import Job

from ..mrkdwn import channel, code, mention
from ..people import SlackBusy, lookup_person, person_by_email, resolve_owner
from ..cards import announce, post_card
from ..guard_blocks import approvers_wanted, credential_note
from ..services import Services, services
from ..work import TryLater

log = logging.getLogger(__name__)


def register(app: App) -> None:
    app.event("user_change")(user_change)


# -- the commands --------------------------------------------------------------------------------

def _requester(asked):
    svc = asked.svc
    requester = lookup_person(svc.client, asked.user_id)
    if requester is None:
        raise CommandError(Why.REQUESTER_UNKNOWN)
    if requester.team_id not in (None, svc.team_id) or requester.is_bot:
        raise CommandError(Why.REQUESTER_NOT_HERE)
    return requester


def _email_owner(svc: Services, user_name: str) -> str | None:
    """The person whose e-mail is <user-name>@IAM_BOT_EMAIL_DOMAIN, if anyone's is."""
    domain = svc.settings.iam_bot_email_domain
    if not domain:
        return None
    try:
        owner = person_by_email(svc.client, f"{user_name}@{domain}")
    except (SlackApiError, SlackClientError, OSError):  # whatever Slack said, it did not say who
        raise SlackBusy("users.lookupByEmail") from None
    return owner.user_id if owner is not None else None


def file_removal(asked, parsed: RemoveCommand) -> None:
    svc = asked.svc
    requester = _requester(asked)
    offboarding = svc.offboarding
    facts = offboarding.target(parsed.user_name)
    owner_id = offboarding.owner_hint(facts) or _email_owner(svc, facts.name)
    filed = offboarding.file_remove(parsed, requester_id=requester.user_id, owner_id=owner_id,
                                    since=asked.job.created_at, facts=facts)
    what = "disable" if parsed.disable_only else "remove"
    if announce(asked, filed):
        asked.reply(f":hourglass_flowing_sand: Request #{filed.request.id} filed: {what} the IAM user "
                    f"{code(filed.request.user_name)}, waiting for a second person to approve it in "
                    f"{channel(svc.settings.iam_bot_approvals_channel)}.")


def file_new_password(asked, parsed: ResetPasswordCommand | EnableCommand) -> None:
    svc = asked.svc
    requester = _requester(asked)
    offboarding = svc.offboarding
    facts = offboarding.target(parsed.user_name)
    owner_id = offboarding.owner_hint(facts)
    if owner_id:
        owner = lookup_person(svc.client, owner_id)
        if owner is None:
            raise CommandError(Why.OWNER_UNKNOWN, owner_id=owner_id, user_name=facts.name, groups=())
    else:
        domain = svc.settings.iam_bot_email_domain
        try:
            owner = resolve_owner(svc.client, CreateCommand(user_name=facts.name, groups=()), domain)
        except CommandError as error:
            if error.why in (Why.OWNER_NO_EMAIL_MATCH, Why.OWNER_NOT_NAMED):
                raise CommandError(Why.USER_NO_OWNER, user_name=facts.name,
                                   email=f"{facts.name}@{domain or '(no IAM_BOT_EMAIL_DOMAIN)'}") from None
            raise
    filed = offboarding.file_password(parsed, requester_id=requester.user_id, owner=owner,
                                      since=asked.job.created_at, facts=facts)
    if announce(asked, filed):
        request = filed.request
        asked.reply(f":hourglass_flowing_sand: Request #{request.id} filed: a new console password for "
                    f"{code(request.user_name)}, revealed once to {mention(request.owner_id)} when approved by "
                    f"{approvers_wanted(request)} in {channel(svc.settings.iam_bot_approvals_channel)}."
                    + credential_note(request))


# -- Slack says a person left ----------------------------------------------------------------------

def user_change(body, event, context):
    """Writes the work down, once per Slack event id; Bolt answers 200 after this returns (the app runs
    with process_before_response), so an event that could not be written down is refused and Slack
    sends it again."""
    svc = services(context)
    user = event.get("user")
    if not isinstance(user, dict) or not isinstance(user.get("id"), str):
        return
    if user.get("team_id") not in (None, svc.team_id):
        return
    if user.get("deleted") is False:
        svc.offboarding.returned(user["id"])
        return
    if user.get("deleted") is not True:
        return
    job = svc.offboarding.note_leaver(user["id"], body.get("event_id"), svc.runner.worker)
    if job is not None:
        svc.runner.run_now(job)


def act_on_leaver(svc: Services, job: Job) -> None:
    """Slack's own word first (users.info): only a person deactivated now, in this workspace, counts."""
    person_id = job.payload["user_id"]
    try:
        answer = svc.client.users_info(user=person_id)
    except SlackApiError as error:
        if error.response.get("error") in ("user_not_found", "user_not_visible"):
            log.info("Slack does not know the person a user_change named; nothing to do")
            return
        raise TryLater(f"Slack answered {error.response.get('error')} to users.info") from None
    except (SlackClientError, OSError) as error:
        raise TryLater(f"could not reach Slack for users.info: {type(error).__name__}") from None
    user = answer["user"]
    if not user.get("deleted") or user.get("team_id") not in (None, svc.team_id):
        log.info("a user_change said a person left, but Slack says they are active here; nothing to do")
        return
    email = (user.get("profile") or {}).get("email")
    leaving = svc.offboarding.leaver(person_id, email, svc.settings.iam_bot_email_domain, job)
    for request in leaving.filed:
        refused = post_card(svc, Filed(request), job)
        if refused is not None:
            log.warning("the card of removal #%s (a leaver's user) was refused: %s", request.id, refused)
    svc.runner.kick()
    log.info("a person left: %s requests voided, %s removals open, %s users left alone",
             len(leaving.voided), len(leaving.filed), len(leaving.skipped))


__all__ = ["BOT_REQUESTER", "act_on_leaver", "file_new_password", "file_removal", "register", "user_change"]
