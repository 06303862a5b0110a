"""`/iam`: parse at once and ack; anything that needs AWS or Slack runs after the ack."""

from __future__ import annotations

from slack_bolt import App

from commands.errors import CommandError, Why
from commands.parse import CreateCommand, HelpCommand, KeysCommand, parse, usage

from .. import blocks
from ..services import Services, services
from ..mrkdwn import channel, code, mention
from ..people import lookup_person, resolve_owner
from ..replies import answering, ephemeral
from ..words import say


def register(app: App) -> None:
    app.command("/iam")(iam_command)


def help_message(unknown: str | None = None) -> dict:
    head = f"{code(unknown, 40)} is not an /iam command.\n\n" if unknown is not None else ""
    return blocks.message(head + "*Usage*\n" + usage())


def iam_command(ack, command, respond, client, context):
    svc = services(context)
    try:
        parsed = parse(command.get("text", ""))
    except CommandError as error:
        ack(response_type="ephemeral", **blocks.message(say(error)))
        return
    if isinstance(parsed, HelpCommand):
        ack(response_type="ephemeral", **help_message(parsed.unknown))
        return
    reply = ephemeral(respond)
    if isinstance(parsed, CreateCommand):
        ack(response_type="ephemeral", text=f"Checking your request for {code(parsed.user_name)}…")
        with answering(reply, "/iam create"):
            file_request(svc, client, parsed, command["user_id"], reply)
    elif isinstance(parsed, KeysCommand):
        ack(response_type="ephemeral", text=f"Looking up the access keys of {code(parsed.user_name)}…")
        with answering(reply, "/iam keys"):
            list_keys(svc, client, parsed, command["user_id"], respond)


def file_request(svc: Services, client, parsed: CreateCommand, requester_id: str, reply) -> None:
    requester = lookup_person(client, requester_id)
    if requester is None:
        raise CommandError(Why.REQUESTER_UNKNOWN)
    if requester.team_id not in (None, svc.team_id) or requester.is_bot:
        raise CommandError(Why.REQUESTER_NOT_HERE)
    owner = resolve_owner(client, parsed, svc.settings.iam_bot_email_domain)
    filed = svc.workflow.file(parsed, requester=requester, owner=owner)
    request = filed.request
    approvals = channel(svc.settings.iam_bot_approvals_channel)
    refused = svc.notifier.post_card(filed)
    if refused is not None:
        svc.workflow.card_refused(request.id, refused)
        if refused in ("not_in_channel", "channel_not_found", "is_archived"):
            why = f"the bot cannot post in {approvals} (Slack says `{refused}`): invite the bot to that channel"
        else:
            why = f"Slack refused the approval card (`{refused}`); tell whoever runs the bot"
        reply(f":x: Request #{request.id} was cancelled, because {why}. Nothing was created; "
              "once that is fixed, ask again.")
        return
    reply(f":hourglass_flowing_sand: Request #{request.id} filed: IAM user {code(request.user_name)} for "
          f"{mention(request.owner_id)}, waiting for a second person to approve it in {approvals}.")


def list_keys(svc: Services, client, parsed: KeysCommand, caller_id: str, respond) -> None:
    caller = lookup_person(client, caller_id)
    if caller is None:
        raise CommandError(Why.REQUESTER_UNKNOWN)
    listing = svc.workflow.list_keys(parsed.user_name, caller, listed=svc.approvers.is_listed(client, caller_id))
    respond(response_type="ephemeral", replace_original=False, **blocks.keys_message(listing))
