"""Slack people as the rules see them: users.info, user groups, e-mail lookup."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from commands.errors import CommandError
from commands.parse import CreateCommand
from commands.rules import Person

log = logging.getLogger(__name__)


def person_from_user(user: dict) -> Person:
    return Person(
        user_id=user["id"],
        team_id=user.get("team_id"),
        is_bot=bool(user.get("is_bot")) or user.get("id") == "USLACKBOT",
        deleted=bool(user.get("deleted")),
        is_guest=bool(user.get("is_restricted") or user.get("is_ultra_restricted")),
        name=user.get("name"),
    )


def lookup_person(client: WebClient, user_id: str) -> Person | None:
    try:
        return person_from_user(client.users_info(user=user_id)["user"])
    except SlackApiError as error:
        if error.response.get("error") in ("user_not_found", "user_not_visible"):
            return None
        raise


def is_listed_approver(client: WebClient, user_id: str, approvers: tuple[str, ...]) -> bool:
    """In IAM_BOT_APPROVERS directly, or through one of its user groups (resolved now)."""
    if user_id in approvers:
        return True
    for group in (a for a in approvers if a.startswith("S")):
        try:
            members = client.usergroups_users_list(usergroup=group)["users"]
        except SlackApiError as error:
            log.warning("could not list user group %s: %s", group, error.response.get("error"))
            continue
        if user_id in members:
            return True
    return False


def resolve_owner(client: WebClient, command: CreateCommand, email_domain: str | None) -> Person:
    """The person the account is for: the mention, else <user-name>@IAM_BOT_EMAIL_DOMAIN."""
    example = f"`/iam create {command.user_name} {' '.join(command.groups)} @jane`"
    if command.owner_id:
        owner = lookup_person(client, command.owner_id)
        if owner is None:
            raise CommandError(f"Slack does not know <@{command.owner_id}>; mention the owner again, for example {example}.")
        return owner
    if not email_domain:
        raise CommandError(f"Say who the account is for by mentioning them, for example {example}.")
    email = f"{command.user_name}@{email_domain}"
    try:
        user = client.users_lookupByEmail(email=email)["user"]
    except SlackApiError as error:
        if error.response.get("error") in ("users_not_found", "user_not_found"):
            raise CommandError(
                f"Nobody in this workspace has the e-mail {email}. Say who the account is for by mentioning "
                f"them, for example {example}."
            ) from None
        raise
    return person_from_user(user)
