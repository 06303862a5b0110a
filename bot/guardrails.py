"""What the guardrails (`commands.guardrails`) say in Slack, on any kind of request: how many approvals
a sensitive request needs and has, who approved it, and why a credential needs two approvers; with
a rules file (docs/rules.md), who approves each group and how many are still needed
("1 of 2 from @security"), from the request's `shares`.

Plain mrkdwn lines, drawn from the request's `details` and escaped through `bot.mrkdwn`; the
card (`bot.blocks`) and the features put them where they belong.
"""

from __future__ import annotations

from commands import guardrails
from storage import Request

from .mrkdwn import approver, code, escape, listing, mention

# The per-group lines stay whole within Slack's 3000-character section, beside the card's other
# lines: each group names at most APPROVERS_SHOWN approvers, and the lines stop at SHARES_TEXT.
APPROVERS_SHOWN = 5
SHARES_TEXT = 1500


def _sensitive_groups(request: Request) -> str:
    sensitive = request.details.get("sensitive") or {}
    return listing(sorted(sensitive), budget=300, most=5) if sensitive else "a sensitive group"


def approvals_line(request: Request) -> str | None:
    """"1 of 2 approvals: @bob" on a sensitive request's card; None for a one-approver request."""
    needed = guardrails.approvals_needed(request)
    if needed < 2:
        return None
    got = [a["user_id"] for a in guardrails.approvals(request)]
    head = f":rotating_light: *Sensitive:* {_sensitive_groups(request)}. Needs {needed} different approvers."
    if _shares(request) and not request.details.get("sensitive"):
        head = f":busts_in_silhouette: Needs {needed} different approvers."
    if not got:
        return head
    return f"{head}\n:busts_in_silhouette: *{len(got)} of {needed} approvals:* " + ", ".join(mention(u) for u in got)


def _shares(request: Request) -> list[dict]:
    """The per-group shares as recorded, less any approval voided since (its approver left Slack)."""
    live = {a["user_id"] for a in guardrails.approvals(request)}
    return [{**share, "counted": [u for u in share["counted"] if u in live]}
            for share in request.details.get("shares") or []]


def _share(share: dict) -> str:
    """"`Admins`: 1 of 2 from @security": one group's threshold and how far it is."""
    got, needed = min(len(share["counted"]), share["approvals"]), share["approvals"]
    where = code(share["group"]) if share.get("group") else "the defaults"
    who = listing(share["approvers"], budget=300, show=approver, most=APPROVERS_SHOWN)
    return f"{where}: {got} of {needed} from {who}"


def _within(lines: list[str], budget: int, separator: str) -> str:
    """Whole lines while they fit in `budget` characters, then "and N more groups"."""
    shown: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        rest = len(lines) - index - 1
        tail = len(f"{separator}and {rest} more groups") if rest else 0
        if used + len(line) + len(separator) + tail > budget:
            return separator.join([*shown, f"and {len(lines) - index} more groups"])
        shown.append(line)
        used += len(line) + len(separator)
    return separator.join(shown)


def shares_line(request: Request) -> str | None:
    """Per group, with a rules file: who approves and how many they have, on the card."""
    shares = _shares(request)
    if not shares:
        return None
    lines = [(":white_check_mark: " if len(s["counted"]) >= s["approvals"] else ":hourglass_flowing_sand: ") + _share(s)
             for s in shares]
    return "*Approvals, by the rules:*\n" + _within(lines, SHARES_TEXT, "\n")


def waiting_shares(request: Request) -> list[dict]:
    """The groups still short of their approvals, with a rules file ([] without one)."""
    return [s for s in _shares(request) if len(s["counted"]) < s["approvals"]]


def waiting_for(request: Request) -> str:
    """" It waits for `Admins`: 1 of 2 from @security." ("" without a rules file or once all are met)."""
    waiting = waiting_shares(request)
    return f" It waits for {_within([_share(s) for s in waiting], SHARES_TEXT, '; ')}." if waiting else ""


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


def boundary_line(boundary: dict | None, user_name: str) -> str | None:
    """`details["boundary"]` (commands.guardrails.boundary_details): the user lacks the permissions
    boundary the bot sets on the users it creates, or has another."""
    if not boundary:
        return None
    expected = code(boundary["expected"])
    if boundary.get("found") is None:
        return (f":warning: {code(user_name)} has *no permissions boundary*; the bot gives its users {expected}. "
                "Only an operator can put one on (docs/operations.md#the-permissions-boundary).")
    return (f":warning: {code(user_name)}'s permissions boundary is {code(boundary['found'])}, not {expected}, "
            "which the bot gives its users.")


def card_notes(request: Request) -> list[str]:
    """The guardrails' lines on any kind of card."""
    account = f":cloud: AWS account *{escape(request.account)}*" if request.account else None
    return [text for text in (account, approvals_line(request), shares_line(request), mfa_session_line(request),
                              boundary_line(request.details.get("boundary"), request.user_name)) if text]


def approval_recorded(request: Request) -> str:
    got, needed = len(guardrails.approvals(request)), guardrails.approvals_needed(request)
    if _shares(request):
        return f"Your approval of request #{request.id} is recorded ({got} of {needed}).{waiting_for(request)}"
    return (f"Your approval of request #{request.id} is recorded ({got} of {needed}). It is sensitive, so a "
            "second, different approver must approve it too before anything happens.")


def approvers_wanted(request: Request) -> str:
    """Who must approve, for the requester's confirmation."""
    return "two different approvers" if guardrails.approvals_needed(request) > 1 else "a second person"


def credential_note(request: Request) -> str:
    """Why a key, reset or enable for a member of a sensitive group needs two approvers ("" if it does not)."""
    if guardrails.approvals_needed(request) < 2:
        return ""
    return (f"\n:rotating_light: {code(request.user_name)} is in {_sensitive_groups(request)}, which is sensitive: "
            "like putting someone in it, this needs two different approvers.")


def approved_by(request: Request) -> str:
    rule = request.details.get("approved_by_rule")  # auto-approve or break-glass, at filing (commands/groups.py)
    if rule:
        return f"the rule {code(rule)}"
    ids = guardrails.approver_ids(request)
    return " and ".join(mention(u) for u in ids) if ids else mention(request.decider_id)
