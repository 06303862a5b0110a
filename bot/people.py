"""Slack people as the rules see them: users.info, user groups, e-mail lookup.

"Could not check" is never turned into "not allowed": when Slack is rate limiting or out of
reach (after the client's own retries), `SlackBusy` says so, and the person is asked to try
again.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from commands.errors import CommandError, Why
from commands.rules import Person

log = logging.getLogger(__name__)

# usergroups.users.list is a Tier 2 method (about 20 calls a minute): membership is kept this long.
MEMBERSHIP_TTL = dt.timedelta(minutes=1)


# Slack's error codes that mean "not now": ask again later, never "no".
PASSING = frozenset({"ratelimited", "rate_limited", "fatal_error", "internal_error", "service_unavailable",
                     "request_timeout"})


class SlackBusy(Exception):
    "Slack did not answer a question the bot must ask first (rate limited or unreachable)"


def _busy(error: Exception) -> bool:
    if isinstance(error, SlackApiError):
        return error.response.get("error") in PASSING
    return isinstance(error, (SlackClientError, OSError))


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
    """The person, None if Slack does not know them; SlackBusy if Slack could not say."""
    user = slack_user(client, user_id)
    return person_from_user(user) if user is not None else None


def slack_user(client: WebClient, user_id: str) -> dict | None:
    """Slack's own record of a person (users.info), None if Slack does not know them; SlackBusy if
    Slack could not say."""
    return _user("users.info", lambda: client.users_info(user=user_id), nobody=("user_not_found", "user_not_visible"))


def person_by_email(client: WebClient, email: str) -> Person | None:
    """The person Slack knows by this e-mail, None if nobody; SlackBusy if Slack could not say."""
    user = _user("users.lookupByEmail", lambda: client.users_lookupByEmail(email=email),
                 nobody=("users_not_found", "user_not_found"))
    return person_from_user(user) if user is not None else None


def _user(method: str, ask: Callable[[], dict], *, nobody: tuple[str, ...]) -> dict | None:
    try:
        return ask()["user"]
    except (SlackApiError, SlackClientError, OSError) as error:
        if isinstance(error, SlackApiError) and error.response.get("error") in nobody:
            return None
        if _busy(error):
            raise SlackBusy(method) from None
        raise


class UserGroups:
    """Who is in a Slack user group (S...), as the approval rules ask: usergroups.users.list, kept
    MEMBERSHIP_TTL per group."""

    def __init__(self, clock: Callable[[], dt.datetime]):
        self._clock = clock
        self._members: dict[str, tuple[frozenset[str], dt.datetime]] = {}
        self._lock = threading.Lock()

    def member(self, client: WebClient, user_id: str, group: str) -> bool:
        """In it now? SlackBusy when the group could not be read: never "no" for "could not check"."""
        members = self._group(client, group)
        if members is None:
            raise SlackBusy("usergroups.users.list")
        return user_id in members

    def _group(self, client: WebClient, group: str) -> frozenset[str] | None:
        now = self._clock()
        with self._lock:
            cached = self._members.get(group)
        if cached and now - cached[1] < MEMBERSHIP_TTL:
            return cached[0]
        try:
            members = frozenset(client.usergroups_users_list(usergroup=group)["users"])
        except (SlackApiError, SlackClientError, OSError) as error:
            if _busy(error):
                log.warning("could not list user group %s: Slack is busy", group)
                return None
            # A group that does not exist (or a missing scope) is configuration, not load: it names nobody.
            log.warning("could not list user group %s: %s", group,
                        error.response.get("error") if isinstance(error, SlackApiError) else type(error).__name__)
            members = frozenset()
        with self._lock:
            self._members[group] = (members, now)
        return members


def email_of(user_name: str, email_domain: str | None) -> str | None:
    """Whose account an IAM user is when nothing else says: <user-name>@IAM_BOT_EMAIL_DOMAIN."""
    return f"{user_name}@{email_domain}" if email_domain else None


def people_by_email_name(client: WebClient, user_names: list[str], email_domain: str | None) -> dict[str, str]:
    """Who owns each IAM user by e-mail, for many users at once (an access review): the active human
    whose e-mail is <user-name>@IAM_BOT_EMAIL_DOMAIN (any domain when none is set), read with
    users.list, 200 people a page, instead of one users.lookupByEmail per user. {name lower: id}.
    SlackBusy if Slack could not say."""
    wanted = {name.lower() for name in user_names}
    found: dict[str, str] = {}
    cursor = None
    while wanted - set(found):
        try:
            page = client.users_list(limit=200, **({"cursor": cursor} if cursor else {}))
        except (SlackApiError, SlackClientError, OSError) as error:
            if _busy(error):
                raise SlackBusy("users.list") from None
            raise
        for user in page.get("members") or []:
            email = str((user.get("profile") or {}).get("email") or "").lower()
            local, _, domain = email.partition("@")
            if user.get("deleted") or user.get("is_bot") or not local:
                continue
            if local in wanted and (email_domain is None or domain == email_domain.lower()):
                found.setdefault(local, user["id"])
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            break
    return found


def owner_of(client: WebClient, user_name: str, owner_id: str | None, email_domain: str | None) -> Person | None:
    """The person an IAM user is for: the one named (a mention, or its owner tag), else the one whose
    e-mail is <user-name>@IAM_BOT_EMAIL_DOMAIN; None if neither is anyone."""
    if owner_id:
        return lookup_person(client, owner_id)
    email = email_of(user_name, email_domain)
    return person_by_email(client, email) if email else None


def resolve_owner(client: WebClient, user_name: str, groups: tuple[str, ...], owner_id: str | None,
                  email_domain: str | None) -> Person:
    """The person a new account is for, or why there is none in words the requester can act on."""
    facts = dict(user_name=user_name, groups=groups)
    owner = owner_of(client, user_name, owner_id, email_domain)
    if owner is not None:
        return owner
    if owner_id:
        raise CommandError(Why.OWNER_UNKNOWN, owner_id=owner_id, **facts)
    if not email_domain:
        raise CommandError(Why.OWNER_NOT_NAMED, **facts)
    raise CommandError(Why.OWNER_NO_EMAIL_MATCH, email=email_of(user_name, email_domain), **facts)
