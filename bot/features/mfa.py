"""MFA: the hourly duty that looks at the console users the bot made (see `commands.mfa`), the
daily reminder DM to an owner whose user has no MFA device yet, and the line in the card's thread
once it is on."""

from __future__ import annotations

import datetime as dt

import storage
from commands.mfa import MfaWatch
from commands.workflow import Owed
from storage import Job, Request

from ..blocks import section
from ..feature import Duty, Feature, Looks
from ..mrkdwn import code, mention, when
from ..services import Services

# How often the watched users are looked at; a reminder still goes at most once a day.
CHECK_EVERY = dt.timedelta(hours=1)


def mfa_nudge(request: Request, sign_in_url: str, mfa_group: str | None) -> dict:
    """The daily DM to the owner of a console user without an MFA device, with the steps."""
    since = request.revealed_at
    lines = [
        f":closed_lock_with_key: Your AWS IAM user {code(request.user_name)} has no MFA device yet "
        f"(password revealed {when(since)}). Please turn MFA on now:",
        f"1. Sign in at {sign_in_url} as {code(request.user_name)}.",
        "2. Open your name at the top right → *Security credentials*.",
        "3. Under *Multi-factor authentication (MFA)*, press *Assign MFA device* and follow the steps "
        "(an authenticator app or a security key).",
        "4. Sign out and in again: from then on AWS asks for the MFA code.",
    ]
    if mfa_group:
        lines.append(f"Until then your user can do nothing but set up MFA (it is in the group {code(mfa_group)}).")
    lines.append("The bot reminds you once a day until your user has an MFA device.")
    text = "\n".join(lines)
    return {"text": f"Turn on MFA for your AWS IAM user {code(request.user_name)}",
            "blocks": [section(text)]}


def mfa_on_line(settings, request: Request, actor) -> str:
    seen = (request.details.get("mfa") or {}).get("on_at")
    at = when(dt.datetime.fromisoformat(seen)) if seen else "now"
    return (f":closed_lock_with_key: {mention(request.owner_id)} turned on MFA for {code(request.user_name)}: "
            f"the bot saw an MFA device {at}. No more reminders.")


def feature(svc: Services) -> Feature:
    workflow = svc.workflow
    watch = MfaWatch(workflow, svc.store, svc.iam)

    def mfa_duty() -> None:
        watch.check()
        svc.runner.kick()

    def nudge_dm(job: Job) -> None:
        request = workflow.request(job.request_id)
        if request.state != storage.REVEALED or request.details.get("mfa"):
            return  # MFA turned on (or the user went) since the reminder was owed
        url = workflow.sign_in_url(request)
        mfa_group = request.details.get("mfa_group") if request.console else None
        svc.notifier.dm(request.owner_id, mfa_nudge(request, url, mfa_group))

    return Feature(
        name="mfa",
        domain=watch,
        work={Owed.MFA_NUDGE: nudge_dm},
        duties=(Duty("mfa", CHECK_EVERY, mfa_duty),),
        looks=Looks(thread_lines={"mfa_on": mfa_on_line}),
    )
