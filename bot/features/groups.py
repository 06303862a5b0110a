"""`/iam add` and `/iam drop`: group membership for an existing user, for good or for a while.

Its card (the user, its owner, the groups with what they grant as a create shows them, the
duration, the reason; who may approve is the shared card's), the owner's DMs (what they have and
until when; the warning before the end with **Extend** and **I'm done**; the end and why), the
lines in the add's thread, **Stop retrying** for a removal AWS keeps refusing, and the revoker duty.

The domain's side is `commands/groups.py` (`Groups`); approval and provisioning (AddUserToGroup
per group) are the shared lifecycle's.
"""

from __future__ import annotations

import datetime as dt

from commands.accounts import current_account, in_account
from commands.errors import CommandError
from commands.groups import (
    DONE, DROPPED, KEPT, REMOVED, REVIEW_REMOVED, REVOKED, USER_REMOVED, VERBS, AddCommand, DropCommand, Dropped, GroupOwed, Groups,
    approved_by_rule, duration_of, is_break_glass, parse_grant_duration,
)
from commands.offboard import Protected
from commands.ruleset import format_duration
from commands.workflow import Filed
from storage import GROUP_ADD, GROUP_DROP, GROUP_EXTEND, PROVISIONED, Grant, Job, Request

from ..blocks import (
    CONFIRM_TEXT, FIELD_TEXT, CardFace, button, confirmation, decided_card, field, groups_of, message, modal, section,
)
from ..feature import Command, Duty, Feature, Looks
from ..guardrails import approved_by
from ..mrkdwn import channel, clip, code, duration, escape, listing, mention, when
from ..people import owner_of
from ..replies import answering, ephemeral
from ..router import Asked, later
from ..services import Services
from .create import group_line
from .reconcile import parts as reconciler_parts
from .requests import announce, request_id_of

ACTION_GRANT_DONE = "grant_done"
ACTION_GRANT_EXTEND = "grant_extend"
ACTION_STOP_RETRYING = "grant_stop_retrying"
ACTION_REVIEWED = "glass_reviewed"
ACTION_REVOKE_NOW = "grant_revoke_now"
VIEW_EXTEND = "grant_extend_view"
BLOCK_EXTEND_FOR = "extend_for"
ACTION_EXTEND_FOR = "extend_for_input"


# -- the card ------------------------------------------------------------------------------------

def _for(request: Request) -> str:
    length = duration_of(request)
    return f"for {duration(length)}" if length else "for good (a standing membership)"


def _fields(request: Request) -> list[dict]:
    return [
        field("User name", code(request.user_name)),
        field("Groups", groups_of(request, FIELD_TEXT - 20)),
        field("Owner", mention(request.owner_id)),
        field("Requested by", mention(request.requester_id)),
        field("Duration", duration(duration_of(request)) if duration_of(request) else "standing (no end)"),
        field("Request", f"#{request.id}"),
    ]


def _summary(request: Request) -> str:
    return f"{listing(request.groups, budget=300)} for {code(request.user_name)} {_for(request)}"


def _confirm(request: Request) -> str:
    head = f"The bot will add {code(request.user_name)} to "
    tail = f" {_for(request)}."
    return clip(head + groups_of(request, CONFIRM_TEXT - len(head) - len(tail) - 1) + tail, CONFIRM_TEXT)


def _checks(filed) -> str:
    request = filed.request
    checks = (
        f"{code(request.user_name)} exists in AWS, where the bot manages users",
        f"the groups exist and {code(request.user_name)} is in none of them",
        f"owner {mention(request.owner_id)} is an active {'guest' if filed.owner_is_guest else 'member'} "
        "of this workspace",
    )
    return "Checks passed: " + "; ".join(f":white_check_mark: {c}" for c in checks)


def _review_by(request: Request) -> dt.datetime:
    return dt.datetime.fromisoformat(request.details["break_glass_review_by"])


def _glass_section(request: Request) -> dict:
    """The loud part of a break-glass card: who, what, why, until when, and the review."""
    length = duration_of(request)
    until = request.decided_at + length if request.decided_at and length else None
    text = (f":rotating_light: *BREAK-GLASS*: {mention(request.requester_id)} let themselves into "
            f"{listing(request.groups, budget=300)} as {code(request.user_name)}"
            + (f" until {when(until)}" if until else "") + f".\n*Why:* {escape(request.details.get('reason') or '')}")
    reviewer = request.details.get("reviewed_by")
    if reviewer:
        text += f"\n:white_check_mark: Reviewed by {mention(reviewer)}."
    else:
        text += f"\nA second person must press *Reviewed* or *Revoke now* by {when(_review_by(request))}."
    return section(text)


def _self_approved_blocks(request: Request) -> list[dict]:
    """An add approved by a rule at filing: no Approve or Deny; Reviewed (break-glass, until someone
    reviews it) and Revoke now for approvers while it is in place."""
    blocks = [_glass_section(request)] if is_break_glass(request) else []
    revoker = request.details.get("revoked_by")
    if revoker:
        blocks.append(section(f":lock: Revoked by {mention(revoker)}."))
    elif request.state == PROVISIONED:
        value = str(request.id)
        buttons = [button("Reviewed", ACTION_REVIEWED, value, "primary")] \
            if is_break_glass(request) and not request.details.get("reviewed_by") else []
        buttons.append(button("Revoke now", ACTION_REVOKE_NOW, value, "danger", confirm=confirmation(
            "Revoke now?", f"The bot takes {code(request.user_name)} out of {listing(request.groups, budget=300)} now.",
            "Revoke now")))
        blocks.append({"type": "actions", "block_id": f"self_approved_{request.id}", "elements": buttons})
    return blocks


def _details(request: Request) -> list[dict]:
    # Revoke now and Reviewed are an add's; an extension a rule approved moves the add's end only.
    blocks = _self_approved_blocks(request) if approved_by_rule(request) and request.kind == GROUP_ADD else []
    blocks.append(section(f"*Reason:* {escape(request.details.get('reason') or '')}"))
    grants = request.details.get("grants")
    if grants is not None:
        blocks.append(section("*What the groups grant*"))
        blocks.extend(section(group_line(group, grants.get(group) or {})) for group in request.groups)
    return blocks


CARD = CardFace(title="Group membership requested", summary=_summary, fields=_fields, confirm=_confirm,
                checks=_checks, details=_details)


def _extension_summary(request: Request) -> str:
    return (f"{listing(request.groups, budget=300)} for {code(request.user_name)}: "
            f"{duration(duration_of(request))} more (request #{request.details.get('extends')})")


def _extension_confirm(request: Request) -> str:
    return clip(f"{code(request.user_name)} keeps {listing(request.groups, budget=300)} "
                f"{duration(duration_of(request))} longer.", CONFIRM_TEXT)


def _extension_checks(filed) -> str:
    request = filed.request
    return (f"Checks passed: :white_check_mark: asked for by the owner, {mention(request.owner_id)}; "
            f":white_check_mark: the membership is live until {when(dt.datetime.fromisoformat(request.details['from_end']))}")


EXTENSION_CARD = CardFace(title="Longer group membership requested", summary=_extension_summary, fields=_fields,
                          confirm=_extension_confirm, checks=_extension_checks, details=_details)


def _drop_summary(request: Request) -> str:
    return f"{code(request.user_name)} out of {listing(request.groups, budget=300)} (its policies hold a Deny)"


def _drop_fields(request: Request) -> list[dict]:
    return [
        field("User name", code(request.user_name)),
        field("Group", groups_of(request, FIELD_TEXT - 20)),
        field("Owner", mention(request.owner_id)),
        field("Requested by", mention(request.requester_id)),
        field("Request", f"#{request.id}"),
    ]


def _drop_confirm(request: Request) -> str:
    return clip(f"The bot will take {code(request.user_name)} out of {listing(request.groups, budget=300)}, "
                "lifting the Deny its policies hold for the user.", CONFIRM_TEXT)


def _drop_checks(filed) -> str:
    request = filed.request
    return (f"Checks passed: :white_check_mark: {code(request.user_name)} holds {listing(request.groups, budget=300)} "
            f"through the bot; :warning: the group's policies hold a *Deny*: leaving the group lifts it, so "
            "approvers decide, as for an add")


def _drop_details(request: Request) -> list[dict]:
    blocks = [section(":warning: Leaving this group lifts a *Deny* its policies hold for the user: approvers "
                      "decide, as for an add.")]
    grants = request.details.get("grants")
    if grants is not None:
        blocks.append(section("*What the group's policies are*"))
        blocks.extend(section(group_line(group, grants.get(group) or {})) for group in request.groups)
    return blocks


DROP_CARD = CardFace(title="Leaving a group requested", summary=_drop_summary, fields=_drop_fields,
                     confirm=_drop_confirm, checks=_drop_checks, details=_drop_details)


def dropped_line(settings, request: Request, actor) -> str:
    return f":lock: Took {code(request.user_name)} out of {listing(request.groups, budget=1500)}."


def dropped_reply(dropped: Dropped, where: str = "") -> str:
    """`where`: " in AWS account *staging*" with several accounts."""
    what = [f"its time-bound membership (request #{e.grant.request_id})" for e in dropped.ended]
    if dropped.standing is not None:
        what.append(f"its standing membership (request #{dropped.standing})")
    if not what:  # it ended meanwhile (its time came): the bot made sure the user is out
        return f":lock: {code(dropped.user_name)}{where} is out of {code(dropped.group)}."
    return (f":lock: {code(dropped.user_name)}{where} is out of {code(dropped.group)}: the bot removed it and ended "
            + " and ".join(what) + ". Its owner is told.")


# -- words ---------------------------------------------------------------------------------------

def provisioned_line(settings, request: Request, actor) -> str:
    return f":white_check_mark: Added {code(request.user_name)} to {listing(request.groups, budget=1500)} {_for(request)}."


def extended_line(settings, request: Request, actor) -> str:
    return (f":white_check_mark: {code(request.user_name)} keeps {listing(request.groups, budget=1500)} "
            f"{duration(duration_of(request))} longer.")


def self_approved_reply(request: Request, settings, where: str = "") -> str:
    rule = approved_by_rule(request)
    text = (f":white_check_mark: Request #{request.id}: {_summary(request)}{where}, approved by the rule {code(rule)}; "
            "the bot adds it now. The approvals channel sees it")
    if is_break_glass(request):
        return (f":rotating_light: You broke glass: {text}, and a second person must review it by "
                f"{when(_review_by(request))}.")
    return text + "."


def reviewed_line(settings, request: Request, actor) -> str:
    return f":white_check_mark: {mention(actor)} reviewed this break-glass membership."


def revoked_line(settings, request: Request, actor) -> str:
    return f":lock: {mention(actor)} revoked it: {code(request.user_name)} is out of {listing(request.groups, budget=1500)}."


def review_overdue_line(settings, request: Request, actor) -> str:
    return (f":rotating_light: Break-glass by {mention(request.requester_id)} is not reviewed yet (it was due "
            f"{when(_review_by(request))}). An approver other than them: press *Reviewed* or *Revoke now* on the card.")


def _kept_words(kept_by: str | None) -> str:
    if not kept_by:
        return ""
    what, _, rest = kept_by.partition(":")
    if what == "grant":
        request_id, _, until = rest.partition(":")
        return (f"the membership stays, because request #{escape(request_id)} grants it until "
                f"{when(dt.datetime.fromisoformat(until))}")
    return f"the membership stays, because the user holds it for good (request #{escape(rest)})"


_ENDED = {
    REMOVED: "its time was up, and the bot removed it",
    REVOKED: "it was revoked",
    KEPT: "its time was up",
    DONE: "its owner said they are done",
    DROPPED: "it was dropped",
    USER_REMOVED: "the user was removed",
    REVIEW_REMOVED: "an access review removed it",
}


def ended_words(payload: dict) -> str:
    why = _ENDED.get(payload.get("reason"), escape(payload.get("reason")))
    if payload.get("actor") and payload.get("reason") in (DONE, DROPPED, REVOKED, REVIEW_REMOVED):
        why += f" by {mention(payload['actor'])}"
    kept = _kept_words(payload.get("kept_by"))
    return why + (f"; {kept}" if kept else "")


def note_text(request: Request, payload: dict) -> str:
    group = code(payload.get("group"))
    if payload.get("event") == "revoke_failing":
        return (f":warning: The bot could not remove {code(request.user_name)} from {group} "
                f"({payload.get('attempts')} attempts): {escape(payload.get('aws'))} It keeps trying, backing off up "
                "to 15 minutes, until it is done or an approver presses *Stop retrying*.")
    return f":hourglass: {code(request.user_name)}'s membership of {group} ended: {ended_words(payload)}."


def granted_dm(request: Request, grants: list[Grant]) -> dict:
    ends = {g.group.lower(): g.ends_at for g in grants}
    lines = [f"• {code(group)}" + (f" until {when(ends[group.lower()])}" if group.lower() in ends else " for good")
             for group in request.groups]
    text = (f":white_check_mark: {code(request.user_name)} is now in these groups (request #{request.id}, approved "
            f"by {approved_by(request)}):\n" + "\n".join(lines))
    if grants:
        text += "\nThe bot takes the user out of each group at its end; you get a reminder before it."
    return message(text)


def warning_dm(request: Request, grant: Grant) -> dict:
    text = (f":hourglass_flowing_sand: {code(request.user_name)}'s membership of {code(grant.group)} ends "
            f"{when(grant.ends_at)} (request #{request.id}). Done already? Say so and the bot removes it now.")
    return {"text": clip(text, 3000), "blocks": [
        section(text),
        {"type": "actions", "block_id": f"grant_{grant.id}", "elements": [
            button("Extend", ACTION_GRANT_EXTEND, str(grant.id)),
            button("I'm done", ACTION_GRANT_DONE, str(grant.id)),
        ]},
    ]}


def extend_modal(grant: Grant, suggested: dt.timedelta, limit: dt.timedelta | None) -> dict:
    """Extend's form: how much longer, a duration typed as in `--for` (the grant's own length again
    filled in, within the group's max_duration)."""
    most = f"; at most {format_duration(limit)}" if limit else ""
    return modal(VIEW_EXTEND, str(grant.id), "Extend membership", "Ask", [
            section(f"Keep {code(grant.user_name)} in {code(grant.group)} longer: it ends {when(grant.ends_at)} now, "
                    "and an approved extension moves that end by the time you ask for. Approvers decide as for "
                    "an add."),
            {
                "type": "input",
                "block_id": BLOCK_EXTEND_FOR,
                "label": {"type": "plain_text", "text": f"How much longer (30m, 4h, 2d{most})"},
                "element": {"type": "plain_text_input", "action_id": ACTION_EXTEND_FOR,
                            "initial_value": format_duration(suggested), "max_length": 10},
            },
    ])


def _typed_duration(view: dict) -> str:
    value = (((view.get("state") or {}).get("values") or {}).get(BLOCK_EXTEND_FOR) or {}).get(ACTION_EXTEND_FOR) or {}
    return str(value.get("value") or "")


def extended_dm(request: Request, grant: Grant | None) -> dict:
    until = f" now ends {when(grant.ends_at)}" if grant is not None else " was extended"
    return message(f":white_check_mark: {code(request.user_name)}'s membership of {listing(request.groups, budget=300)}"
                   f"{until} (request #{request.id}, approved by {approved_by(request)}).")


def ended_dm(request: Request, payload: dict) -> dict:
    return message(f":lock: {code(request.user_name)}'s membership of {code(payload.get('group'))} ended "
                   f"(request #{request.id}): {ended_words(payload)}.")


def failing_note(request: Request, payload: dict) -> dict:
    text = note_text(request, payload)
    return {"text": clip(text, 3000), "blocks": [
        section(text),
        {"type": "actions", "block_id": f"stop_{payload['grant_id']}", "elements": [
            button("Stop retrying", ACTION_STOP_RETRYING, str(payload["grant_id"])),
        ]},
    ]}


# -- the feature ---------------------------------------------------------------------------------

def feature(svc: Services) -> Feature:
    settings, workflow, notifier, runner = svc.settings, svc.workflow, svc.notifier, svc.runner
    groups = Groups(workflow, svc.store, svc.iam, workflow.policy, workflow.approvals,
                    protected=Protected(settings.iam_bot_user_path, settings.iam_bot_protected_users,
                                        path_of=svc.iam.user_path_or),
                    grant_min=settings.iam_bot_grant_min, warning=settings.iam_bot_grant_warning,
                    retry=settings.iam_bot_revoke_retry)

    def where(account: str | None) -> str:
        """" in AWS account *staging*" when the rules name accounts (None: the default's name)."""
        if svc.accounts is None:
            return ""
        return f" in AWS account *{escape(account or svc.accounts.names[0])}*"

    def file_add(asked: Asked, parsed: AddCommand) -> None:
        requester = svc.requester(asked.user_id)
        groups.check_duration(parsed.groups, parsed.duration)  # before AWS is asked anything
        user = groups.target(parsed.user_name)
        owner = owner_of(svc.client, user.name, user.owner_id, settings.iam_bot_email_domain)
        filed = groups.file(parsed, requester=requester, owner=owner, user=user)
        request = filed.request
        if approved_by_rule(request):
            runner.kick()
            asked.reply(self_approved_reply(request, settings, where(request.account)))
            return
        if not announce(asked, filed):
            return
        asked.reply(f":hourglass_flowing_sand: Request #{request.id} filed: {_summary(request)}{where(request.account)}, "
                    f"owner {mention(request.owner_id)}, waiting for approval in "
                    f"{channel(notifier.approvals_channel(request))}.")

    def drop(asked: Asked, parsed: DropCommand) -> None:
        person = svc.asker(asked.user_id)
        listed = svc.listed(asked.user_id, parsed.user_name)
        result = groups.drop(parsed, person, listed=listed)
        if isinstance(result, Filed):
            if not announce(asked, result):
                return
            request = result.request
            asked.reply(f":hourglass_flowing_sand: Request #{request.id} filed: the policies of "
                        f"{listing(request.groups, budget=300)} hold a Deny, so taking {code(request.user_name)}"
                        f"{where(request.account)} out lifts it: approvers decide in "
                        f"{channel(notifier.approvals_channel(request))}.")
            return
        runner.kick()
        asked.reply(dropped_reply(result, where(current_account())))

    def in_grants_account(grant_id: int):
        """The account of a grant's add (a grant button's value is the grant's id, not a request's
        number, so the router cannot tell it): its membership, Extend and drop act there."""
        grant = svc.store.grant(grant_id)
        add = svc.store.find(grant.request_id) if grant is not None else None
        return in_account(add.account if add is not None else None)

    def grant_done(body, action, respond):
        reply = ephemeral(respond)
        with answering(reply, "I'm done"), in_grants_account(grant_id := request_id_of(action.get("value"))):
            ended = groups.done(grant_id, svc.asker(body["user"]["id"]))
            runner.kick()
            kept = _kept_words(ended.kept_by)
            reply(f":lock: Your membership of {code(ended.grant.group)} ended"
                  + (f"; {kept}." if kept else ": the bot removed it. Thank you."))

    def grant_extend(body, action, respond, client):
        """The owner's Extend: checked in the store, then a form asks for how much longer (views.open
        must come within 3 s of the click)."""
        reply = ephemeral(respond)
        with answering(reply, "Extend"), in_grants_account(grant_id := request_id_of(action.get("value"))):
            grant, suggested, limit = groups.may_extend(grant_id, svc.asker(body["user"]["id"]))
            client.views_open(trigger_id=body["trigger_id"], view=extend_modal(grant, suggested, limit))

    def extend_submitted(ack, body, view):
        """The duration is checked here, so the form can say what to type; the request is filed after the ack."""
        try:
            length = parse_grant_duration(_typed_duration(view))
        except CommandError:
            ack(response_action="errors", errors={BLOCK_EXTEND_FOR: (
                "A number and m, h, d or w, for example 30m, 4h or 2d.")})
            return
        ack()
        later(svc, extend_for, {"body": body, "view": view, "length": length})

    def extend_for(body, view, length):
        user_id = body["user"]["id"]

        def reply(text: str) -> None:
            notifier.dm(user_id, message(text))

        with answering(reply, "Extend"), in_grants_account(grant_id := request_id_of(view.get("private_metadata"))):
            request = groups.extend(grant_id, svc.asker(user_id), length)
            runner.kick()
            if approved_by_rule(request):
                reply(f":white_check_mark: Request #{request.id}: {_extension_summary(request)}{where(request.account)}, "
                      f"approved by the rule {code(approved_by_rule(request))}; the bot moves the end now.")
            else:
                reply(f":hourglass_flowing_sand: Request #{request.id} filed: {_extension_summary(request)}"
                      f"{where(request.account)}, waiting for approval in {channel(notifier.approvals_channel(request))}.")

    def extension_card(job: Job) -> None:
        request = workflow.request(job.request_id)
        refused = notifier.post_card(Filed(request), job)
        if refused is not None:
            notifier.dm(request.requester_id, message(
                f":x: Request #{request.id} was cancelled: Slack refused its approval card (`{escape(refused)}`). "
                "Tell whoever runs the bot."))

    def stop_retrying(body, action, respond):
        reply = ephemeral(respond)
        with answering(reply, "Stop retrying"), in_grants_account(grant_id := request_id_of(action.get("value"))):
            grant = svc.store.grant(grant_id)
            user_id = body["user"]["id"]
            listed = grant is not None and svc.listed(user_id, grant.user_name)
            stopped = groups.stop_retrying(grant.id if grant else 0, svc.asker(user_id), listed=listed)
            reply(f"The bot stopped trying to remove {code(stopped.user_name)} from {code(stopped.group)}. "
                  "Remove it in AWS yourself.")

    def rule_card(job: Job) -> None:
        """The card of an add a rule approved at filing, once; a break-glass card also in the security channel."""
        request = workflow.request(job.request_id)
        if request.card_ts:
            return
        card = decided_card(request, CARD if request.kind == GROUP_ADD else EXTENSION_CARD)
        posted, refused = notifier.attempt(f"post the card of request #{request.id}", svc.client.chat_postMessage,
                                           channel=notifier.approvals_channel(request), unfurl_links=False,
                                           unfurl_media=False, **card)
        if posted is not None:
            workflow.card_posted(request.id, posted["channel"], posted["ts"])
        if is_break_glass(request) and settings.iam_bot_security_channel:
            copy, _ = notifier.attempt(f"tell the security channel of request #{request.id}",
                                       svc.client.chat_postMessage, channel=settings.iam_bot_security_channel,
                                       unfurl_links=False, unfurl_media=False, **card)
            if copy is not None:
                groups.security_copy_posted(request.id, copy["channel"], copy["ts"])

    def security_copy(job: Job) -> None:
        """Break-glass's copy in the security channel, redrawn as the card is (reviewed, revoked, by whom)."""
        request = workflow.request(job.request_id)
        copy = request.details.get("security_copy")
        if copy:
            notifier.attempt(f"update the security channel's copy of request #{request.id}", svc.client.chat_update,
                             channel=copy["channel"], ts=copy["ts"], **decided_card(request, CARD))

    def on_self_approved(label: str, act, words):
        """A button on the card of an add a rule approved: `act(request_id, person, listed=...)`, then
        `words(request, result)` to the person who pressed it."""
        def press(body, action, respond):
            reply = ephemeral(respond)
            with answering(reply, label):
                user_id, request_id = body["user"]["id"], request_id_of(action.get("value"))
                request = workflow.request(request_id)
                result = act(request_id, svc.asker(user_id), listed=svc.listed(user_id, request.user_name))
                runner.kick()
                reply(words(request, result))
        return press

    reviewed = on_self_approved("Reviewed", groups.review, lambda request, done: (
        f":white_check_mark: You reviewed request #{request.id}: {_summary(request)}."))
    revoke_now = on_self_approved("Revoke now", groups.revoke_now, lambda request, ended: (
        f":lock: Request #{request.id} revoked: {code(request.user_name)} is out of "
        f"{listing([e.grant.group for e in ended] or list(request.groups), budget=300)}"
        + "".join(f"; {_kept_words(e.kept_by)}" for e in ended if e.kept_by) + "."))

    def group_dm(job: Job) -> None:
        request = workflow.request(job.request_id)
        event = job.payload.get("event")
        if event == "granted":
            notifier.dm(request.owner_id, granted_dm(request, groups.grants_of(request.id)))
        elif event == "extended":
            notifier.dm(request.owner_id, extended_dm(request, svc.store.grant(request.details["grant_id"])))
        elif event == "warning":
            grant = svc.store.grant(job.payload["grant_id"])
            if grant is not None and grant.live:
                notifier.dm(request.owner_id, warning_dm(request, grant))
        else:
            notifier.dm(request.owner_id, ended_dm(request, job.payload))

    def group_note(job: Job) -> None:
        request = workflow.request(job.request_id)
        if job.payload.get("event") == "revoke_failing":
            notifier.to_approvers(f"tell of request #{request.id}'s failing removal", failing_note(request, job.payload),
                                  request=request)
        else:
            notifier.to_approvers(f"post in the thread of request #{request.id}",
                                  message(note_text(request, job.payload)), request=request)

    def revoke() -> None:
        """The warnings due, then the grants whose end (or next try) has come."""
        groups.warn_due()
        groups.revoke_due()
        groups.review_due()
        runner.kick()

    reconciler, reconciler_work = reconciler_parts(svc, groups)

    return Feature(
        name="groups",
        kinds=(groups.kind, groups.extend_kind, groups.drop_kind),
        verbs=VERBS,
        domain=groups,
        commands={
            AddCommand: Command(lambda c: f"Checking your request to add {code(c.user_name)} to "
                                          f"{listing(c.groups, budget=300)}…", file_add),
            DropCommand: Command(lambda c: f"Ending {code(c.user_name)}'s membership of {code(c.group)}…", drop),
        },
        views={VIEW_EXTEND: extend_submitted},
        actions={ACTION_GRANT_DONE: grant_done, ACTION_GRANT_EXTEND: grant_extend,
                 ACTION_STOP_RETRYING: stop_retrying, ACTION_REVIEWED: reviewed, ACTION_REVOKE_NOW: revoke_now},
        work={GroupOwed.DM: group_dm, GroupOwed.NOTE: group_note, GroupOwed.CARD: extension_card,
              GroupOwed.RULE_CARD: rule_card, GroupOwed.SECURITY_COPY: security_copy, **reconciler_work},
        duties=(Duty("revoker", settings.iam_bot_revoke_every, revoke), reconciler),
        looks=Looks(card_faces={GROUP_ADD: CARD, GROUP_EXTEND: EXTENSION_CARD, GROUP_DROP: DROP_CARD},
                    thread_lines={f"{GROUP_ADD}:provisioned": provisioned_line,
                                  f"{GROUP_ADD}:reviewed": reviewed_line, f"{GROUP_ADD}:revoked": revoked_line,
                                  f"{GROUP_ADD}:review_overdue": review_overdue_line,
                                  f"{GROUP_EXTEND}:provisioned": extended_line,
                                  f"{GROUP_DROP}:provisioned": dropped_line}),
    )
