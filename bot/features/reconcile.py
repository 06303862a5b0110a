"""The reconciler's edge: its duty (every IAM_BOT_RECONCILE_EVERY) and its notes in the approvals
channel (in the add's thread when a grant of it is concerned). Part of the groups feature, which
builds it from its own domain object (`parts`); the domain's side is `commands/reconcile.py`."""

from __future__ import annotations

from collections.abc import Callable

from commands.groups import Groups
from commands.reconcile import AFTER_END, STOPPED, ReconcileOwed, Reconciler
from storage import Job

from ..blocks import message
from ..feature import Duty
from ..mrkdwn import code, escape
from ..services import Services

_KEPT = {
    "user_outside_path": "it is outside the path where the bot manages users ({path}), so the bot leaves it alone",
    "user_protected": "it is a protected user, so the bot leaves it alone",
    "user_is_the_bot": "it is the bot's own identity, so the bot leaves it alone",
    "identity_unknown": "the bot could not tell which AWS identity it runs as, so it removed nobody",
}


def note_text(payload: dict) -> str:
    user, group = code(payload.get("user_name")), code(payload.get("group"))
    event = payload.get("event")
    if event == STOPPED:
        head = (f":warning: {user} is still in {group}: its membership ended, and an approver stopped the bot's "
                "retries. Remove it in AWS.")
    elif event == AFTER_END:
        head = f":warning: {user} was still in {group} after its membership ended"
    else:
        head = f":eyes: {user} is in {group}, but the bot never granted it: added outside the bot"
    if event == STOPPED:
        return head
    if payload.get("removed"):
        return head + ": the bot removed it."
    kept = payload.get("kept")
    if kept:
        return head + ": " + _KEPT.get(kept, escape(kept)).format(path=code(payload.get("path"))) + "."
    if payload.get("aws"):
        return head + f": the bot could not remove it: {escape(payload['aws'])} It tries again next pass."
    return head + ("." if event == AFTER_END else
                   ". The group is for time-bound membership only: ask with `/iam add ... --for`, or remove it "
                   "(`enforce = true` in the group's rule makes the bot remove such members).")


def parts(svc: Services, groups: Groups) -> tuple[Duty, dict[str, Callable[[Job], None]]]:
    """The reconciler duty and its work, for the groups feature to give the app."""
    reconciler = Reconciler(groups, svc.store, svc.iam, groups.protected)

    def reconcile() -> None:
        reconciler.reconcile()
        svc.runner.kick()

    def note(job: Job) -> None:
        request = svc.workflow.request(job.request_id) if job.request_id is not None else None
        svc.notifier.to_approvers(f"tell of {job.payload.get('user_name')} in {job.payload.get('group')}",
                                  message(note_text(job.payload)), request=request)

    return Duty("reconciler", svc.settings.iam_bot_reconcile_every, reconcile), {ReconcileOwed.NOTE: note}

