"""`/iam who-approves <group> [<group> ...]`: the approval rules (docs/rules.md) as they apply to
the person asking, in words only they see."""

from __future__ import annotations

import os

from commands.approvals import VERBS, Preview, WhoApprovesCommand
from commands.ruleset import GroupPreview, Verdict, format_duration

from ..feature import Command, Feature
from ..mrkdwn import approver, code, escape, listing
from ..router import Asked
from ..services import Services


def _who(preview: GroupPreview) -> str:
    threshold = preview.threshold
    count = f"{threshold.approvals} approval{'s' if threshold.approvals != 1 else ''}"
    who = ", ".join(approver(a) for a in threshold.approvers)
    floor = " (sensitive: never fewer than 2)" if threshold.sensitive else ""
    return f"{count}{floor} from {who} ({escape(threshold.rule)})"


def _how_long(preview: GroupPreview) -> str:
    longest = f"at most {format_duration(preview.max_duration)}" if preview.max_duration else "no time limit"
    return f"time-bound only, {longest}" if not preview.standing else longest


def _you(preview: GroupPreview) -> str:
    parts = []
    auto, glass = preview.auto_approve, preview.break_glass
    if auto.allowed:
        parts.append(f"you could have time-bound membership approved by the rule, up to {format_duration(auto.limit)}")
    elif auto.why is Verdict.NOT_LISTED:
        parts.append("no auto-approval for you")
    if glass.allowed:
        parts.append(f"you could break glass, for up to {format_duration(glass.limit)}")
    elif glass.why in (Verdict.NOT_LISTED, Verdict.NOT_COVERED):
        parts.append("no break-glass for you")
    return "; ".join(parts) if parts else "no auto-approval or break-glass for you"


def group_lines(preview: GroupPreview, missing: bool) -> str:
    head = f"*{code(preview.threshold.group)}*"
    if missing:
        head += " (no IAM group of that name in this account)"
    if preview.denied is not None:
        return (f"{head}: :no_entry: never through this bot: {escape(preview.denied.reason)} "
                f"({escape(preview.denied.name)})")
    return "\n".join((head, f"• Approved by: {_who(preview)}", f"• Membership: {_how_long(preview)}",
                      f"• You: {_you(preview)}"))


def who_approves_text(preview: Preview) -> str:
    source = f"the rules file {code(os.path.basename(preview.rules_file))}" if preview.rules_file else \
        "the environment (IAM_BOT_APPROVERS; no rules file)"
    missing = {group.lower() for group in preview.missing}
    lines = [f"*Who approves {listing([g.threshold.group for g in preview.groups], budget=300)}*, by {source}. "
             "The requester and the person an account is for never count."]
    lines += [group_lines(group, group.threshold.group.lower() in missing) for group in preview.groups]
    if len(preview.groups) > 1:
        lines.append("Asked together, each group needs its own approvals; one person may count for several.")
    return "\n\n".join(lines)


def feature(svc: Services) -> Feature:
    def who_approves(asked: Asked, parsed: WhoApprovesCommand) -> None:
        svc.asker(asked.user_id)  # Slack must know who is asking
        found = svc.workflow.approvals.who_approves(svc.iam, svc.workflow.policy.guardrails, parsed.groups,
                                                     asked.user_id)
        asked.reply(who_approves_text(found))

    return Feature(
        name="approvals",
        verbs=VERBS,
        commands={WhoApprovesCommand: Command(
            lambda c: f"Looking up who approves {listing(c.groups, budget=300)}…", who_approves)},
    )
