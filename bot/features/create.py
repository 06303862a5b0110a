"""`/iam create`: a new IAM user for one human. Its card (what the groups grant, the checks passed
at filing), the requester's confirmation with its Cancel button, the owner's sign-in DM with
**Reveal password**, the one ephemeral reveal, and its line when provisioned.

The domain's side is `commands/create.py` (`/iam create`'s verb, `Creation.file` and the create
kind); provisioning (CreateUser and the rest) is the shared `Owed.PROVISION` work.
"""

from __future__ import annotations

import datetime as dt

from commands import guardrails
from commands.create import VERBS, CreateCommand, Creation
from commands.workflow import Filed, Revealed
from storage import CREATE_USER, Request

from ..blocks import (
    ACTION_CANCEL, CONFIRM_TEXT, FIELD_TEXT, MESSAGE_TEXT, CardFace, button, confirmation, context, field, groups_of,
    message, resent_note, reveal_rows, section,
)
from ..guardrails import approved_by
from ..feature import Command, Feature, Looks
from ..mrkdwn import channel, clip, code, escape, listing, mention, when
from ..people import resolve_owner
from ..router import Asked
from ..services import Services
from .requests import announce

POLICIES_SHOWN = 5  # per group and kind of policy, then "and N more"

ALTERNATIVES = (
    ":bulb: *Before an IAM user without a console:* long-term access keys are the credential AWS warns about "
    "most. Code running on AWS should use an *IAM role* (instance profile, task or function role); CI systems "
    "should use *OIDC federation* to assume a role (GitHub Actions, GitLab CI); people should sign in through "
    "*IAM Identity Center*."
)


# -- the card ------------------------------------------------------------------------------

def _fields(request: Request) -> list[dict]:
    return [
        field("User name", code(request.user_name)),
        field("Groups", groups_of(request, FIELD_TEXT - 20)),
        field("Owner", mention(request.owner_id)),
        field("Requested by", mention(request.requester_id)),
        field("Console access", "yes" if request.console else "no"),
        field("Request", f"#{request.id}"),
    ]


def _checks(filed: Filed) -> str:
    request = filed.request
    many = len(request.groups) > 1
    checks = (
        f"{code(request.user_name)} is a valid IAM user name and free in AWS",
        f"group{'s' if many else ''} exist{'' if many else 's'} in AWS: {groups_of(request, 1200)}",
        f"owner {mention(request.owner_id)} is an active {'guest' if filed.owner_is_guest else 'member'} "
        "of this workspace",
        f"{mention(request.owner_id)} has no other IAM user from this bot",
    )
    return "Checks passed: " + "; ".join(f":white_check_mark: {c}" for c in checks)


def _confirm(request: Request) -> str:
    head = f"The bot will create the IAM user {code(request.user_name)} in "
    return head + groups_of(request, CONFIRM_TEXT - len(head) - 1) + "."


def _why_sensitive(why: str) -> str:
    if why == guardrails.NAMED:
        return "named in IAM_BOT_SENSITIVE_GROUPS"
    return f"{code(why, 60)} attached"


def group_line(group: str, grants: dict) -> str:
    """One line for one group: its attached policies and inline policy names, five of each at most."""
    attached = [name for name, _arn in grants.get("attached") or []]
    inline = list(grants.get("inline") or [])
    parts = []
    if attached:
        parts.append("policies " + listing(attached, budget=280, most=POLICIES_SHOWN, show=lambda n: code(n, 60)))
    if inline:
        parts.append("inline " + listing(inline, budget=280, most=POLICIES_SHOWN, show=lambda n: code(n, 60)))
    what = "; ".join(parts) or "no policies (it grants nothing by itself)"
    why = grants.get("sensitive")
    mark = f" :rotating_light: *sensitive* ({_why_sensitive(why)})" if why else ""
    return f"• {code(group, 60)}{mark}: {what}"


def grants_blocks(request: Request) -> list[dict]:
    """The card's account of what the user will be able to do (read at filing)."""
    grants = request.details.get("grants")
    blocks = []
    if grants is not None:
        lines = [group_line(group, grants.get(group) or {}) for group in request.groups]
        mfa_group = guardrails.mfa_group_of(request)
        if mfa_group:
            lines.append(f"• {code(mfa_group, 60)}: the MFA group (IAM_BOT_MFA_GROUP): nothing works without MFA "
                         "until the user turns it on")
        # A section per group: eleven lines of five policies each could pass one section's 3,000 characters.
        blocks.append(section("*What the groups grant*"))
        blocks.extend(section(line) for line in lines)
    if not request.console:
        blocks.append(context(ALTERNATIVES))
    return blocks


CARD = CardFace(
    title="New IAM user requested",
    summary=lambda r: f"IAM user {code(r.user_name)} for {mention(r.owner_id)}",
    fields=_fields, confirm=_confirm, checks=_checks, details=grants_blocks,
)


# -- the requester's confirmation ------------------------------------------------------------

def filed_notes(request: Request) -> str:
    """What the requester's confirmation adds: two approvers, and the alternatives to a user without a console."""
    notes = ""
    if guardrails.approvals_needed(request) > 1:
        notes += "\n:rotating_light: It puts the user in a sensitive group, so it needs two different approvers."
    if not request.console:
        notes += "\n" + ALTERNATIVES
    return notes


def filed_message(request: Request, approvals_channel: str, notes: str = "") -> dict:
    """The requester's confirmation: what waits for whom, and a Cancel button to withdraw it."""
    text = (f":hourglass_flowing_sand: Request #{request.id} filed: IAM user {code(request.user_name)} for "
            f"{mention(request.owner_id)}, waiting for a second person to approve it in {channel(approvals_channel)}."
            + notes)
    cancel = button("Cancel request", ACTION_CANCEL, str(request.id), confirm=confirmation(
        "Withdraw this request?", f"Request #{request.id} will be cancelled; nothing will be created.", "Withdraw",
        no="Keep it"))
    return {"text": clip(text, MESSAGE_TEXT), "blocks": [
        section(text),
        {"type": "actions", "block_id": f"withdraw_{request.id}", "elements": [cancel]},
        context(f"Changed your mind? Cancel it here or with `/iam cancel {request.id}`."),
    ]}


# -- the owner's sign-in details and the reveal ----------------------------------------------

def sign_in_dm(request: Request, sign_in_url: str, reveal_ttl: dt.timedelta, *, button: str | None = None,
               resent: bool = False) -> dict:
    lines = [
        f":wave: Your AWS IAM user {code(request.user_name)} is ready (request #{request.id}, "
        f"approved by {approved_by(request)}).",
        f"*Sign-in URL:* {sign_in_url}",
        f"*User name:* {code(request.user_name)}",
    ]
    blocks = [section("\n".join(lines))]
    if resent:
        blocks.append(resent_note())
    if request.console:
        blocks.append(section(
            "Click *Reveal password* to see your first password. Only you will see it, only once. "
            "You must set a new password at first sign-in. Then turn on MFA: "
            "IAM console → Security credentials → Assign MFA device."
        ))
        blocks.extend(reveal_rows(request, "Reveal password", button, reveal_ttl))
    else:
        blocks.append(section("This user has no console password. Turn on MFA for anything you do with it."))
    return {"text": f"Your AWS IAM user {code(request.user_name)} is ready", "blocks": blocks}


def sign_in_dm_after(request: Request, sign_in_url: str) -> dict:
    """The DM once the button has done its work: no button, no secret."""
    head = section(f"Your AWS IAM user {code(request.user_name)} (request #{request.id}).\n"
                   f"*Sign-in URL:* {sign_in_url}\n*User name:* {code(request.user_name)}")
    if request.state == "revealed":
        tail = (f":lock: Password revealed {when(request.revealed_at)}. If this was not you, tell the approvers "
                "in the approvals channel at once.")
    elif request.state == "removed":
        tail = ":wastebasket: This IAM user has since been removed; there is no password to reveal."
    else:
        tail = (":hourglass: The reveal button has expired. To get a password, type "
                f"`/iam reset-password {escape(request.user_name)}` and ask one of the approvers to approve it.")
    return {"text": f"Your AWS IAM user {code(request.user_name)}", "blocks": [head, section(tail)]}


def password_message(revealed: Revealed) -> dict:
    """The ephemeral reveal of a password. Never a persistent message."""
    text = (f"Password for {code(revealed.request.user_name)}: {code(revealed.secret.value)}\n"
            f"Sign in at {revealed.sign_in_url} and set a new password now. This message is visible only to you "
            "and will not be shown again.")
    return message(text)


def provisioned_line(settings, request: Request, actor) -> str:
    groups = listing(request.groups, budget=1500)
    console = " with a console password that must be changed at first sign-in" if request.console else ""
    return f":white_check_mark: Created {code(request.user_arn, 400)} in {groups}{console}."


# -- the feature -------------------------------------------------------------------------------

def feature(svc: Services) -> Feature:
    settings = svc.settings
    creation = Creation(svc.workflow, svc.store, svc.iam, svc.workflow.policy, passwords=svc.passwords)

    def file_request(asked: Asked, parsed: CreateCommand) -> None:
        requester = svc.requester(asked.user_id)
        svc.workflow.refuse_denied(lambda: parsed.groups)  # a [[deny]] group: said before anyone is looked up
        owner = resolve_owner(svc.client, parsed.user_name, parsed.groups, parsed.owner_id,
                              settings.iam_bot_email_domain)
        filed = creation.file(parsed, requester=requester, owner=owner, since=asked.job.created_at)
        request = filed.request
        if not announce(asked, filed):
            return
        confirmation_ = filed_message(request, svc.notifier.approvals_channel(request), notes=filed_notes(request))
        if not asked.ephemeral_blocks(confirmation_):
            svc.notifier.dm(asked.user_id, confirmation_)  # after a crash: a Cancel button is no secret

    return Feature(
        name="create",
        kinds=(creation.kind,),
        verbs=VERBS,
        domain=creation,
        commands={CreateCommand: Command(lambda c: f"Checking your request for {code(c.user_name)}…", file_request)},
        looks=Looks(
            card_faces={CREATE_USER: CARD},
            reveal_dms={CREATE_USER: sign_in_dm},
            reveal_dms_after={CREATE_USER: sign_in_dm_after},
            secret_messages={"password": password_message},
            thread_lines={f"{CREATE_USER}:provisioned": provisioned_line},
        ),
    )
