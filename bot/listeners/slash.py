"""`/iam`: parse at once and ack; anything that needs AWS or Slack runs after the ack."""

from __future__ import annotations

from slack_bolt import App

from commands.errors import CommandError
from commands.parse import CreateCommand, HelpCommand, KeysCommand, parse, usage
from commands.rules import may_see_keys

from .. import blocks
from ..people import is_listed_approver, lookup_person, resolve_owner
from ..replies import answering, ephemeral


def register(app: App) -> None:
    app.command("/iam")(iam_command)


def help_message(reason: str | None = None) -> dict:
    text = (f"{reason}\n\n" if reason else "") + "*Usage*\n" + usage()
    return blocks.message(text)


def iam_command(ack, command, respond, client, context):
    services = context["iam_bot"]
    try:
        parsed = parse(command.get("text", ""))
    except CommandError as error:
        ack(response_type="ephemeral", text=error.message)
        return
    if isinstance(parsed, HelpCommand):
        ack(response_type="ephemeral", **help_message(parsed.reason))
        return
    reply = ephemeral(respond)
    if isinstance(parsed, CreateCommand):
        ack(response_type="ephemeral", text=f"Checking your request for {blocks.code(parsed.user_name)}…")
        with answering(reply, "/iam create"):
            file_request(services, client, parsed, command["user_id"], reply)
    elif isinstance(parsed, KeysCommand):
        ack(response_type="ephemeral", text=f"Looking up the access keys of {blocks.code(parsed.user_name)}…")
        with answering(reply, "/iam keys"):
            list_keys(services, client, parsed, command["user_id"], respond)


def file_request(services, client, parsed: CreateCommand, requester_id: str, reply) -> None:
    requester = lookup_person(client, requester_id)
    if requester is None:
        raise CommandError("Slack could not tell the bot who you are; try again in a minute.")
    if requester.team_id not in (None, services.team_id) or requester.is_bot:
        raise CommandError("Only people of this workspace can ask for IAM users here.")
    owner = resolve_owner(client, parsed, services.settings.iam_bot_email_domain)
    filed = services.workflow.file(parsed, requester=requester, owner=owner)
    request = filed.request
    if not services.notifier.post_card(filed):
        services.workflow.store.append_event(request.id, None, "card_not_posted", services.workflow.clock())
        reply(f"Request #{request.id} is filed, but the bot could not post it in <#{services.settings.iam_bot_approvals_channel}>. "
              "Invite the bot to that channel, then ask an approver to look at it.")
        return
    reply(f":hourglass_flowing_sand: Request #{request.id} filed: IAM user {blocks.code(request.user_name)} for "
          f"<@{request.owner_id}>, waiting for a second person to approve it in "
          f"<#{services.settings.iam_bot_approvals_channel}>.")


def list_keys(services, client, parsed: KeysCommand, caller_id: str, respond) -> None:
    caller = lookup_person(client, caller_id)
    owns = services.workflow.owns_user(caller_id, parsed.user_name)
    listed = is_listed_approver(client, caller_id, services.settings.iam_bot_approvers)
    if caller is None or not may_see_keys(caller=caller, listed=listed, owns_user=owns, team_id=services.team_id):
        services.workflow.store.append_event(None, caller_id, "refused:keys", services.workflow.clock(), detail=parsed.user_name)
        raise CommandError(
            f"Only approvers, and the owner of {blocks.code(parsed.user_name)}, can list its access keys."
        )
    keys = services.workflow.iam.access_keys(parsed.user_name)
    if keys is None:
        raise CommandError(f"There is no IAM user named {blocks.code(parsed.user_name)}. Check the spelling: "
                           "IAM user names look like `jane.doe`.")
    respond(response_type="ephemeral", replace_original=False,
            **blocks.keys_message(parsed.user_name, keys, services.workflow.clock()))
