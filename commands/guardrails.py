"""Guardrails: what a request's groups grant, when it needs two approvers, and the MFA group.

Plain values in, plain values out. What is read from AWS at filing time is kept in the
request's `details`, so the card can be redrawn at any later state:

- `grants`: {group: {"attached": [[name, arn], ...], "inline": [name, ...], "sensitive": why}}
- `sensitive`: {group: why} for the groups at stake that are sensitive (why: `named`, meaning
  IAM_BOT_SENSITIVE_GROUPS names it, or the admin-like AWS managed policy attached to it)
- `approvals_needed`: 2 for a sensitive request (absent: 1); it never goes down
- `approvals`: [{"user_id": ..., "at": iso time}], in order; the last one decided. An entry
  with a truthy `voided` (its approver left) stays on record and counts no more
- `mfa_group`: the group a console user also joins (IAM_BOT_MFA_GROUP at filing)
- `mfa_session`: a key request for a member of the MFA group (the key needs an MFA session)
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from storage import CREATE_USER, GROUP_ADD, GROUP_DROP, GROUP_EXTEND, Request

from .errors import CommandError, Why
from .iam import GroupGone, IamGateway, IamUser

ACCESS_KEY = "access_key"
# Kinds that give an existing user a credential (a key, a console password): judged by the user's
# groups as they are, since the credential is a way into whatever those groups grant.
CREDENTIAL_KINDS = (ACCESS_KEY, "reset_password", "enable")
MAX_GROUPS = 10
# AWS managed policies that make a group sensitive, matched by ARN in any partition: a customer
# managed policy of the same name is something else.
ADMIN_LIKE = ("AdministratorAccess", "IAMFullAccess", "PowerUserAccess")
_AWS_MANAGED = re.compile(r"arn:aws(?:-[a-z]+)*:iam::aws:policy/(?P<name>[\w+=,.@-]+)")
NAMED = "named"  # sensitive because IAM_BOT_SENSITIVE_GROUPS names it


@dataclass(frozen=True)
class Guardrails:
    """The guardrails' configuration."""

    sensitive_groups: tuple[str, ...] = ()
    mfa_group: str | None = None
    mfa_grace: dt.timedelta = dt.timedelta(hours=24)


def admin_like(arn: str) -> str | None:
    """The name of the admin-like AWS managed policy this ARN is, or None."""
    match = _AWS_MANAGED.fullmatch(arn)
    return match["name"] if match and match["name"] in ADMIN_LIKE else None


def why_sensitive(group: str, attached_arns, guardrails: Guardrails) -> str | None:
    """Why a group is sensitive (`named`, or the admin-like policy's name), or None."""
    if group.lower() in {name.lower() for name in guardrails.sensitive_groups}:
        return NAMED
    for arn in attached_arns:
        name = admin_like(arn)
        if name:
            return name
    return None


def recorded_approvals(request: Request) -> list[dict]:
    """Every approval entry as stored, voided ones included (what a conditional write compares)."""
    return list(request.details.get("approvals") or [])


def approvals(request: Request) -> list[dict]:
    """The approvals that count: an entry voided (its approver left) counts no more."""
    return [a for a in recorded_approvals(request) if not a.get("voided")]


def approver_ids(request: Request) -> list[str]:
    """Who approved, in order: both approvers of a sensitive request, else the decider."""
    ids = [a["user_id"] for a in approvals(request)]
    return ids or ([request.decider_id] if request.decider_id else [])


def approvals_needed(request: Request) -> int:
    return int(request.details.get("approvals_needed") or 1)


def mfa_group_of(request: Request) -> str | None:
    """The MFA group this request's user joins besides the groups asked for, if any."""
    group = request.details.get("mfa_group")
    if not group or not request.console or group.lower() in (g.lower() for g in request.groups):
        return None
    return group


def check_group_count(groups: tuple[str, ...], console: bool, guardrails: Guardrails) -> None:
    """With an MFA group, a console user can be asked into at most 9 more groups (IAM allows 10)."""
    mfa = guardrails.mfa_group
    if console and mfa and mfa.lower() not in (g.lower() for g in groups) and len(groups) >= MAX_GROUPS:
        raise CommandError(Why.TOO_MANY_GROUPS_WITH_MFA, count=len(groups), limit=MAX_GROUPS - 1, mfa_group=mfa)


def filing_details(iam: IamGateway, guardrails: Guardrails, groups: tuple[str, ...], console: bool) -> dict:
    """What a create request's card shows and its approval needs, read at filing: two calls a group
    (and one GetGroup for the MFA group of a console user)."""
    check_group_count(groups, console, guardrails)
    details: dict = {}
    if console and guardrails.mfa_group:
        if iam.missing_groups((guardrails.mfa_group,)):
            raise CommandError(Why.MFA_GROUP_MISSING, mfa_group=guardrails.mfa_group)
        details["mfa_group"] = guardrails.mfa_group
    grants, sensitive = {}, {}
    for group in groups:
        read = iam.group_grants(group)
        why = why_sensitive(group, (arn for _, arn in read.attached), guardrails)
        grants[group] = {"attached": [list(p) for p in read.attached], "inline": list(read.inline), "sensitive": why}
        if why:
            sensitive[group] = why
    details.update(grants=grants, sensitive=sensitive)
    if sensitive:
        details["approvals_needed"] = 2
    return details


def groups_at_stake(iam: IamGateway, request: Request) -> tuple[str, ...]:
    """The groups whose sensitivity decides a request: a create's (an add's, an extension's, a
    drop's) own groups; for a key, a password reset or an enable, the user's groups as they are
    now (one ListGroupsForUser). Other kinds: none."""
    if request.kind in (CREATE_USER, GROUP_ADD, GROUP_EXTEND, GROUP_DROP):
        return tuple(request.groups)
    if request.kind in CREDENTIAL_KINDS:
        return tuple(iam.groups_for_user(request.user_name) or ())
    return ()


def judge(iam: IamGateway, guardrails: Guardrails, request: Request, groups: tuple[str, ...] | None = None) -> dict:
    """Sensitivity judged afresh (at filing of a key, reset or enable, and at every approval of any kind):
    one ListAttachedGroupPolicies per group at stake (`groups`, when the caller read them already).
    Returns the `details` to merge; the number of approvals needed only ever goes up."""
    groups = groups_at_stake(iam, request) if groups is None else groups
    sensitive = {}
    for group in groups:
        try:
            attached = iam.group_grants(group, inline=False).attached
        except GroupGone:
            attached = ()  # provisioning says so in plain words; a name in IAM_BOT_SENSITIVE_GROUPS still counts
        why = why_sensitive(group, (arn for _, arn in attached), guardrails)
        if why:
            sensitive[group] = why
    judged: dict = {"sensitive": {**(request.details.get("sensitive") or {}), **sensitive}}
    needed = max(approvals_needed(request), 2 if judged["sensitive"] else 1)
    if needed > 1:
        judged["approvals_needed"] = needed
    if request.kind == ACCESS_KEY and guardrails.mfa_group:
        judged["mfa_session"] = guardrails.mfa_group.lower() in (g.lower() for g in groups)
    return judged


def boundary_details(user: IamUser, boundary: str | None) -> dict:
    """`{"boundary": {"expected": ..., "found": ...}}` for a card about an existing user when a
    permissions boundary is set and the user has none (`found` None) or another; else `{}`.
    From what GetUser said already: no call of its own."""
    if boundary is None or user.boundary == boundary:
        return {}
    return {"boundary": {"expected": boundary, "found": user.boundary}}
