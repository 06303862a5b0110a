"""How offboarding's requests look: the remove card (everything that will go, read at filing),
the reset-password and enable cards, and the DM with the Reveal button for a new password.

Drawn from the request alone (`details` holds what was read at filing, and what happened since),
so the card can be redrawn at any state. Every text from AWS is escaped once through `bot.mrkdwn`,
a person's reason is shown as typed (`their_words`), and all is kept inside Slack's limits.
"""

from __future__ import annotations

import datetime as dt

from commands.offboard import ENABLE, REMOVE, RESET_PASSWORD, remove_plan
from storage import Request

from .blocks import CardFace, context, field, section, sign_in_dm, their_words
from .mrkdwn import clip, code, escape, listing, mention, when

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


OFFBOARD_CARD_FACES = {
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


OFFBOARD_REVEAL_DMS = {RESET_PASSWORD: new_password_dm, ENABLE: new_password_dm}
