"""What the guardrails look like in Slack: what groups grant, sensitivity and approvals on the
card, the alternatives to an IAM user without a console, and the MFA reminder DM.

Everything is drawn from the request's `details` (see `commands.guardrails`), escaped through
`bot.mrkdwn` and kept inside Block Kit's limits.
"""

from __future__ import annotations

import datetime as dt

from commands import guardrails
from storage import Request

from .blocks import context, section
from .mrkdwn import code, listing, mention, when

SECTION_TEXT = 3000
POLICIES_SHOWN = 5  # per group and kind of policy, then "and N more"

ALTERNATIVES = (
    ":bulb: *Before an IAM user without a console:* long-term access keys are the credential AWS warns about "
    "most. Code running on AWS should use an *IAM role* (instance profile, task or function role); CI systems "
    "should use *OIDC federation* to assume a role (GitHub Actions, GitLab CI); people should sign in through "
    "*IAM Identity Center*."
)


def _why(why: str) -> str:
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
    mark = f" :rotating_light: *sensitive* ({_why(why)})" if why else ""
    return f"• {code(group, 60)}{mark}: {what}"


def grants_blocks(request: Request) -> list[dict]:
    """The create card's account of what the user will be able to do (read at filing)."""
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


def approvals_line(request: Request) -> str | None:
    """"1 of 2 approvals: @bob" on a sensitive request's card; None for a one-approver request."""
    needed = guardrails.approvals_needed(request)
    if needed < 2:
        return None
    got = [a["user_id"] for a in guardrails.approvals(request)]
    sensitive = request.details.get("sensitive") or {}
    groups = listing(sorted(sensitive), budget=300, most=5) if sensitive else "a sensitive group"
    head = f":rotating_light: *Sensitive:* {groups}. Needs {needed} different approvers."
    if not got:
        return head
    return f"{head}\n:busts_in_silhouette: *{len(got)} of {needed} approvals:* " + ", ".join(mention(u) for u in got)


def who_decides(request: Request) -> str:
    if guardrails.approvals_needed(request) > 1:
        return "Needs two different approvers: neither the requester nor the owner."
    return "Needs a second person: not the requester, not the owner."


def mfa_session_line(request: Request) -> str | None:
    """A key for a member of the MFA group works only with an MFA session."""
    if not request.details.get("mfa_session"):
        return None
    return (f":iphone: {code(request.user_name)} is in the MFA group: this key will work only with an MFA "
            "session (`aws sts get-session-token --serial-number <MFA device ARN> --token-code <code>`).")


def notes(request: Request) -> list[dict]:
    """The guardrails' lines on any kind of card."""
    return [section(text) for text in (approvals_line(request), mfa_session_line(request)) if text]


def approval_recorded(request: Request) -> str:
    got, needed = len(guardrails.approvals(request)), guardrails.approvals_needed(request)
    return (f"Your approval of request #{request.id} is recorded ({got} of {needed}). It is sensitive, so a "
            "second, different approver must approve it too before anything happens.")


def filed_notes(request: Request) -> str:
    """What the requester's confirmation adds: two approvers, and the alternatives to a user without a console."""
    notes = ""
    if guardrails.approvals_needed(request) > 1:
        notes += "\n:rotating_light: It puts the user in a sensitive group, so it needs two different approvers."
    if not request.console:
        notes += "\n" + ALTERNATIVES
    return notes


def approvers_wanted(request: Request) -> str:
    """Who must approve, for the requester's confirmation."""
    return "two different approvers" if guardrails.approvals_needed(request) > 1 else "a second person"


def credential_note(request: Request) -> str:
    """Why a key, reset or enable for a member of a sensitive group needs two approvers ("" if it does not)."""
    if guardrails.approvals_needed(request) < 2:
        return ""
    sensitive = request.details.get("sensitive") or {}
    groups = listing(sorted(sensitive), budget=300, most=5) if sensitive else "a sensitive group"
    return (f"\n:rotating_light: {code(request.user_name)} is in {groups}, which is sensitive: like putting "
            "someone in it, this needs two different approvers.")


def approved_by(request: Request) -> str:
    ids = guardrails.approver_ids(request)
    return " and ".join(mention(u) for u in ids) if ids else mention(request.decider_id)


# -- the MFA reminder --------------------------------------------------------------------

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


def mfa_on_line(request: Request) -> str:
    seen = (request.details.get("mfa") or {}).get("on_at")
    at = when(dt.datetime.fromisoformat(seen)) if seen else "now"
    return (f":closed_lock_with_key: {mention(request.owner_id)} turned on MFA for {code(request.user_name)}: "
            f"the bot saw an MFA device {at}. No more reminders.")


