"""Offboarding: `/iam remove`, `/iam reset-password`, `/iam enable`, and Slack's `user_change`
event when a person's account is deactivated. The remove card (everything that will go, read at
filing), the reset-password and enable cards, the DM with the Reveal button for a new password,
and the lines offboarding says in a card's thread.

Cards are drawn from the request alone (`details` holds what was read at filing, and what
happened since), so they can be redrawn at any state. Every text from AWS is escaped once
through `bot.mrkdwn`, a person's reason is shown as typed (`their_words`), and all is kept
inside Slack's limits.

The event is written down as durable work keyed by Slack's event id before it is acknowledged,
so a retried delivery files nothing twice and a crash loses nothing; the work (voiding what the
leaver had open, filing removals, posting their cards) runs on the Runner, on any process. It is
written only when the person's leaving is not open already (see `Store.open_leaver`): the burst
of events Slack sends as an account changes costs one piece of work.
"""

from __future__ import annotations

import datetime as dt
import logging

from slack_sdk.errors import SlackApiError, SlackClientError

from commands.errors import CommandError, Why
from commands.offboard import (
    ENABLE, LEAVER_JOB, REMOVE, RESET_PASSWORD, VERBS, EnableCommand, Offboarding, Protected, RemoveCommand,
    ResetPasswordCommand, offboarding_kinds, remove_plan,
)
from commands.workflow import Filed
from storage import Job, Request

from ..blocks import CardFace, context, field, section, their_words
from ..guardrails import approvers_wanted, credential_note
from ..feature import Command, Feature, Looks
from ..mrkdwn import channel, clip, code, escape, listing, mention, when
from ..people import SlackBusy, owner_of, resolve_owner, slack_user
from ..router import Asked
from ..services import Services
from ..work import TryLater
from .create import sign_in_dm, sign_in_dm_after
from .requests import announce

log = logging.getLogger(__name__)

INVENTORY_TEXT = 2900  # one section's text, with room to spare


def _age(created: str | None, now: dt.datetime) -> str:
    if not created:
        return "age unknown"
    days = (now - dt.datetime.fromisoformat(created)).days
    return f"{days} day{'s' if days != 1 else ''} old"


def _key_line(key: dict, now: dt.datetime) -> str:
    if key.get("last_used"):
        used = f"last used {dt.datetime.fromisoformat(key['last_used']):%Y-%m-%d}"
        if key.get("service"):
            used += f" ({escape(key['service'])})"
    else:
        used = "never used"
    return f"{code(key.get('id', '?'), 40)} {escape(key.get('status', ''))}, {_age(key.get('created'), now)}, {used}"


def _owner(request: Request) -> str:
    return mention(request.owner_id) if request.owner_id else "unknown (no owner tag, no matching e-mail)"


def _disable_only(request: Request) -> bool:
    return bool(request.details.get("disable_only"))


def inventory_text(request: Request) -> str:
    """Everything that will go (or, disabling, what will stop working), as read from AWS at filing."""
    found = request.details.get("inventory") or {}
    now = request.created_at
    keys = found.get("access_keys") or []
    if _disable_only(request):
        active = [k for k in keys if k.get("status") != "Inactive"]
        lines = [
            "*What will be disabled* (read from AWS at filing):",
            f"• Console password: {'yes, it will be deleted' if found.get('console_password') else 'none'}",
            f"• Access keys to deactivate: {listing(active, budget=600, show=lambda k: _key_line(k, now)) if active else 'none'}",
            f"The user {code(request.user_name)}, its groups, policies and other credentials stay. "
            f"`/iam enable {escape(request.user_name)}` undoes this; `/iam remove {escape(request.user_name)}` "
            "finishes the job.",
        ]
        return clip("\n".join(lines), INVENTORY_TEXT)

    def items(name: str, show=code, budget: int = 300) -> str:
        values = found.get(name) or []
        return listing(values, budget=budget, show=show) if values else "none"

    lines = [
        "*Everything that will go* (read from AWS at filing):",
        f"• Console password: {'yes' if found.get('console_password') else 'no'}",
        f"• Access keys: {items('access_keys', lambda k: _key_line(k, now), 600)}",
        f"• MFA devices: {items('mfa_devices', lambda s: code(str(s).rsplit('/', 1)[-1], 80))}",
        f"• Signing certificates: {items('signing_certificates', lambda c: code(c, 24))}",
        f"• SSH public keys: {items('ssh_public_keys')}",
        f"• Service-specific credentials: "
        f"{items('service_specific_credentials', lambda c: code(c.get('id', '?')) + ' ' + escape(c.get('service', '')))}",
        f"• Inline policies: {items('inline_policies')}",
        f"• Attached policies: {items('attached_policies', lambda p: code(p.get('name', '?')))}",
        f"• Groups: {items('groups')}",
    ]
    return clip("\n".join(lines), INVENTORY_TEXT)


def progress_text(request: Request) -> str | None:
    """Where the removal stands, once something has happened."""
    details = request.details
    lines = []
    if details.get("disabled_at"):
        lines.append(f":lock: Disabled at once {when(dt.datetime.fromisoformat(details['disabled_at']))}, without "
                     f"waiting for approval, because Slack says {_owner(request)} left: console password deleted, "
                     "access keys deactivated. Approving removes the user for good.")
    elif details.get("disable_failed"):
        lines.append(f":warning: Could not disable the user at once: {escape(details['disable_failed'])}")
    steps = remove_plan(request)
    if request.state == "provisioned":
        if _disable_only(request):
            lines.append(f":white_check_mark: Done: {code(request.user_name)} is disabled (no console password, "
                         "access keys inactive). The user and its groups stay.")
        else:
            lines.append(f":white_check_mark: Done: {code(request.user_name)} and everything it held were removed "
                         "from AWS.")
    elif request.state in ("approved", "failed") and request.decider_id:
        done = [s for s in steps if s in request.steps_done]
        verb = "Stopped" if request.state == "failed" else "Removing"
        lines.append(f"{verb}: {len(done)} of {len(steps)} steps done"
                     + (f"; stopped at {code(steps[len(done)].replace('_', ' '))}" if request.state == "failed"
                        and len(done) < len(steps) else "") + ".")
    return "\n".join(lines) or None


def _remove_fields(request: Request) -> list[dict]:
    what = "Disable only (reversible)" if _disable_only(request) else "Remove the user and everything it holds"
    requested_by = ("iam-bot, because Slack says the owner left" if request.details.get("left")
                    else mention(request.requester_id))
    return [
        field("User name", code(request.user_name)),
        field("Owner", _owner(request)),
        field("Requested by", requested_by),
        field("Action", what),
        *([] if request.details.get("reason") else [field("Reason", "none given")]),
        field("Request", f"#{request.id}"),
    ]


def _remove_details(request: Request) -> list[dict]:
    reason = request.details.get("reason")
    blocks = [their_words("Reason", request.requester_id, reason)] if reason else []
    blocks.append(section(inventory_text(request)))
    progress = progress_text(request)
    if progress:
        blocks.append(section(progress))
    return blocks


def _remove_confirm(request: Request) -> str:
    if _disable_only(request):
        return (f"The bot will delete the console password of {code(request.user_name, 64)} and deactivate its "
                "access keys. The user stays.")
    return (f"The bot will delete the IAM user {code(request.user_name, 64)} and everything listed on the card. "
            "This cannot be undone.")


def _remove_checks(filed) -> str:
    request = filed.request
    return ("Checks passed: :white_check_mark: the user exists under the bot's user path; :white_check_mark: it is "
            f"not the bot's own identity nor a protected user; :white_check_mark: no other removal of "
            f"{code(request.user_name)} is open.")


def _password_fields(request: Request) -> list[dict]:
    return [
        field("User name", code(request.user_name)),
        field("Owner (sees the password once)", mention(request.owner_id)),
        field("Requested by", mention(request.requester_id)),
        field("Console password now", "yes" if request.details.get("had_password") else "none"),
        field("Request", f"#{request.id}"),
    ]


def _password_confirm(request: Request) -> str:
    return (f"The bot will give {code(request.user_name, 64)} a new console password, revealed once to its owner, "
            "to be changed at first sign-in.")


def _password_details(request: Request) -> list[dict]:
    if request.kind == ENABLE:
        return [context("Enabling gives a new console password only: access keys stay inactive until their owner "
                        "activates them.")]
    return []


CARD_FACES = {
    REMOVE: CardFace(
        title="Removal of an IAM user requested",
        summary=lambda r: (f"{'disable' if _disable_only(r) else 'remove'} IAM user {code(r.user_name)}"
                           + (f" of {mention(r.owner_id)}" if r.owner_id else "")),
        fields=_remove_fields, confirm=_remove_confirm, checks=_remove_checks, details=_remove_details,
    ),
    RESET_PASSWORD: CardFace(
        title="New console password requested",
        summary=lambda r: f"a new console password for {code(r.user_name)} ({mention(r.owner_id)})",
        fields=_password_fields, confirm=_password_confirm, details=_password_details,
    ),
    ENABLE: CardFace(
        title="Enabling a disabled IAM user requested",
        summary=lambda r: f"enable IAM user {code(r.user_name)} for {mention(r.owner_id)}",
        fields=_password_fields, confirm=_password_confirm, details=_password_details,
    ),
}


def new_password_dm(request: Request, sign_in_url: str, reveal_ttl: dt.timedelta, *, button: str | None,
                    resent: bool) -> dict:
    """The sign-in DM, saying what this is: a new password (reset, or enabling a disabled user)."""
    payload = sign_in_dm(request, sign_in_url, reveal_ttl, button=button, resent=resent)
    what = "is enabled again" if request.kind == ENABLE else "has a new console password waiting"
    payload["blocks"][0] = section(
        f":key: Your AWS IAM user {code(request.user_name)} {what} (request #{request.id}, approved by "
        f"{mention(request.decider_id)}).\n*Sign-in URL:* {sign_in_url}\n*User name:* {code(request.user_name)}")
    for block in payload["blocks"]:
        text = block.get("text", {}).get("text", "") if block.get("type") == "section" else ""
        if "first password" in text:
            block["text"]["text"] = text.replace("your first password", "your new password")
    payload["text"] = f"Your AWS IAM user {code(request.user_name)}: a new password"
    return payload


# -- lines in a card's thread ------------------------------------------------------------------

def _removed(settings, request: Request, actor) -> str:
    if request.details.get("disable_only"):
        return (f":lock: Disabled {code(request.user_name)}: console password deleted, access keys deactivated. "
                f"`/iam enable {escape(request.user_name)}` undoes it.")
    return f":wastebasket: Removed {code(request.user_name)} and everything it held from AWS, in AWS's order."


def _new_password(settings, request: Request, actor) -> str:
    return f":key: {mention(request.owner_id)} gets a new console password by one-time reveal."


THREAD_LINES = {
    f"{REMOVE}:provisioned": _removed,
    f"{RESET_PASSWORD}:provisioned": _new_password,
    f"{ENABLE}:provisioned": _new_password,
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


# -- the feature -------------------------------------------------------------------------------

def feature(svc: Services) -> Feature:
    settings, runner = svc.settings, svc.runner
    protected = Protected(user_path=settings.iam_bot_user_path, protected=settings.iam_bot_protected_users,
                          path_of=svc.iam.user_path_or)  # the account's user_path, where it has one
    kinds = offboarding_kinds(svc.store, svc.iam, svc.clock, protected, svc.passwords)
    offboarding = Offboarding(svc.workflow, svc.store, svc.iam, protected, kinds=kinds,
                              disable_on_deactivation=settings.iam_bot_on_slack_deactivation == "disable",
                              accounts=(None, *svc.accounts.names[1:]) if svc.accounts else (None,))
    domain = settings.iam_bot_email_domain

    def email_owner(user_name: str) -> str | None:
        """The person whose e-mail is <user-name>@IAM_BOT_EMAIL_DOMAIN, if anyone's is."""
        try:
            owner = owner_of(svc.client, user_name, None, domain)
        except (SlackApiError, SlackClientError, OSError):  # whatever Slack said, it did not say who
            raise SlackBusy("users.lookupByEmail") from None
        return owner.user_id if owner is not None else None

    def file_removal(asked: Asked, parsed: RemoveCommand) -> None:
        requester = svc.requester(asked.user_id)
        facts = offboarding.target(parsed.user_name)
        owner_id = offboarding.owner_hint(facts) or email_owner(facts.name)
        filed = offboarding.file_remove(parsed, requester_id=requester.user_id, owner_id=owner_id,
                                        since=asked.job.created_at, facts=facts)
        what = "disable" if parsed.disable_only else "remove"
        if announce(asked, filed):
            asked.reply(f":hourglass_flowing_sand: Request #{filed.request.id} filed: {what} the IAM user "
                        f"{code(filed.request.user_name)}, waiting for a second person to approve it in "
                        f"{channel(svc.notifier.approvals_channel(filed.request))}.")

    def file_new_password(asked: Asked, parsed: ResetPasswordCommand | EnableCommand) -> None:
        requester = svc.requester(asked.user_id)
        facts = offboarding.target(parsed.user_name)
        try:
            owner = resolve_owner(svc.client, facts.name, (), offboarding.owner_hint(facts), domain)
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
                        f"{approvers_wanted(request)} in {channel(svc.notifier.approvals_channel(request))}."
                        + credential_note(request))

    # -- Slack says a person left ---------------------------------------------------------------

    def user_change(body, event):
        """Writes the work down, once per Slack event id; Bolt answers 200 after this returns (the app runs
        with process_before_response), so an event that could not be written down is refused and Slack
        sends it again."""
        user = event.get("user")
        if not isinstance(user, dict) or not isinstance(user.get("id"), str):
            return
        if user.get("team_id") not in (None, svc.team_id):
            return
        if user.get("deleted") is False:
            offboarding.returned(user["id"])
            return
        if user.get("deleted") is not True:
            return
        job = offboarding.note_leaver(user["id"], body.get("event_id"), runner.worker)
        if job is not None:
            runner.run_now(job)

    def act_on_leaver(job: Job) -> None:
        """Slack's own word first (users.info): only a person deactivated now, in this workspace, counts."""
        person_id = job.payload["user_id"]
        try:
            user = slack_user(svc.client, person_id)
        except SlackBusy:
            raise TryLater("Slack could not answer users.info") from None
        if user is None:
            log.info("Slack does not know the person a user_change named; nothing to do")
            return
        if not user.get("deleted") or user.get("team_id") not in (None, svc.team_id):
            log.info("a user_change said a person left, but Slack says they are active here; nothing to do")
            return
        email = (user.get("profile") or {}).get("email")
        leaving = offboarding.leaver(person_id, email, domain, job)
        for request in leaving.filed:
            refused = svc.notifier.post_card(Filed(request), job)
            if refused is not None:
                log.warning("the card of removal #%s (a leaver's user) was refused: %s", request.id, refused)
        runner.kick()
        log.info("a person left: %s requests voided, %s removals open, %s users left alone",
                 len(leaving.voided), len(leaving.filed), len(leaving.skipped))

    return Feature(
        name="offboard",
        kinds=kinds,
        verbs=VERBS,
        domain=offboarding,
        commands={
            RemoveCommand: Command(lambda c: f"Checking what {code(c.user_name)} holds in AWS…", file_removal),
            ResetPasswordCommand: Command(
                lambda c: f"Checking {code(c.user_name)} before asking for a new password…", file_new_password),
            EnableCommand: Command(
                lambda c: f"Checking {code(c.user_name)} before asking to enable it…", file_new_password),
        },
        events={"user_change": user_change},
        work={LEAVER_JOB: act_on_leaver},
        looks=Looks(
            card_faces=CARD_FACES,
            reveal_dms={RESET_PASSWORD: new_password_dm, ENABLE: new_password_dm},
            reveal_dms_after={RESET_PASSWORD: sign_in_dm_after, ENABLE: sign_in_dm_after},
            thread_lines=THREAD_LINES,
        ),
    )
