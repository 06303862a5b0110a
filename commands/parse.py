"""Turning the text after `/iam` into a command, or a CommandError that says what to type.

Each command's docstring is its help text.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict

from .errors import CommandError
from .text import quote as _quote

# IAM's own rules (botocore and moto do not check them). \w is ASCII in IAM.
USER_NAME = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)
GROUP_NAME = re.compile(r"[\w+=,.@-]{1,128}", re.ASCII)
MAX_GROUPS = 10
# Slack escapes mentions when the slash command has should_escape: true.
USER_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
ANY_SLACK_LINK = re.compile(r"<[^>]*>")


class CreateCommand(BaseModel):
    """`/iam create <user-name> <group> [<group> ...] [@owner] [--no-console]`
    Ask for a new IAM user in one or more groups. A second person must approve it.
    The owner is the person the account is for: mention them, or leave it out and the
    bot looks up <user-name>@ the company e-mail domain. `--no-console` creates no
    console password."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["create"] = "create"
    user_name: str
    groups: tuple[str, ...]
    owner_id: str | None = None
    console: bool = True


class KeysCommand(BaseModel):
    """`/iam keys <user-name>`
    List a user's access keys with their age and last use. For approvers, and for the
    owner of that user."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["keys"] = "keys"
    user_name: str


class HelpCommand(BaseModel):
    """`/iam help`
    Show this help."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["help"] = "help"
    reason: str | None = None  # why help is shown instead of what was typed


Command = CreateCommand | KeysCommand | HelpCommand

COMMANDS = (CreateCommand, KeysCommand, HelpCommand)


def quote(word: str, limit: int = 80) -> str:
    """Quote a typed word back: Slack sent `&`, `<`, `>` as entities; undo that before escaping once."""
    typed = word.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return _quote(typed, limit)


def usage() -> str:
    """The help text, built from the commands' docstrings."""
    parts = []
    for command in COMMANDS:
        first, *rest = (line.strip() for line in command.__doc__.strip().splitlines())
        parts.append(first + "\n" + " ".join(rest))
    return "\n\n".join(parts)


def check_user_name(name: str) -> str:
    if not USER_NAME.fullmatch(name):
        raise CommandError(
            f"{quote(name)} is not a valid IAM user name: use 1 to 64 letters, digits or + = , . @ _ -, "
            "for example `/iam create jane.doe Developers`."
        )
    return name


def check_group_name(name: str) -> str:
    if not GROUP_NAME.fullmatch(name):
        raise CommandError(
            f"{quote(name)} is not a valid IAM group name: use 1 to 128 letters, digits or + = , . @ _ -."
        )
    return name


def parse(text: str) -> Command:
    """Parse the text after `/iam`. Never raises anything but CommandError."""
    if not isinstance(text, str):
        raise CommandError("Type `/iam help` to see what the bot can do.")
    words = text.split()
    if not words:
        return HelpCommand()
    verb, args = words[0].lower(), words[1:]
    if verb in ("help", "-h", "--help"):
        return HelpCommand()
    if verb == "create":
        return _parse_create(args)
    if verb == "keys":
        return _parse_keys(args)
    return HelpCommand(reason=f"{quote(words[0], 40)} is not an /iam command.")


def _parse_keys(args: list[str]) -> KeysCommand:
    if len(args) != 1:
        raise CommandError("Name exactly one user, for example `/iam keys jane.doe`.")
    return KeysCommand(user_name=check_user_name(_plain(args[0])))


def _parse_create(args: list[str]) -> CreateCommand:
    example = "for example `/iam create jane.doe Developers` or `/iam create jane.doe Developers @jane`"
    owner_id = None
    console = True
    names: list[str] = []
    for word in map(_plain, args):
        if word.startswith("--"):
            if word.lower() == "--no-console":
                console = False
                continue
            raise CommandError(f"{quote(word, 40)} is not an option; the only one is `--no-console`.")
        mention = USER_MENTION.fullmatch(word)
        if mention:
            if owner_id is not None and owner_id != mention[1]:
                raise CommandError("Mention only one owner: one IAM user is for one person.")
            owner_id = mention[1]
            continue
        if word.startswith("<"):
            raise CommandError(
                "The owner must be one person: mention them with @ (pick them from Slack's list), "
                "not a channel, a user group or @here."
            )
        if word.startswith("@"):
            raise CommandError(
                f"{quote(word, 40)} did not become a Slack mention: pick the owner from the list Slack "
                "shows when you type @, so that it turns into a link."
            )
        names.append(word)
    if not names:
        raise CommandError(f"Name the new user and at least one group, {example}.")
    user_name, groups = check_user_name(names[0]), names[1:]
    if not groups:
        raise CommandError(
            f"Put {quote(user_name)} in at least one group, so that its permissions come from a group: {example}."
        )
    if len(groups) > MAX_GROUPS:
        raise CommandError(f"An IAM user can be in at most {MAX_GROUPS} groups; you named {len(groups)}.")
    seen: set[str] = set()
    for group in groups:
        check_group_name(group)
        if group.lower() in seen:
            raise CommandError(f"Group {quote(group)} is named twice; name each group once.")
        seen.add(group.lower())
    return CreateCommand(user_name=user_name, groups=tuple(groups), owner_id=owner_id, console=console)


def _plain(word: str) -> str:
    """Slack turns e-mail-like names into `<mailto:a@b.c|a@b.c>`: read them as typed."""
    link = re.fullmatch(r"<mailto:[^|>]*\|([^>]*)>", word)
    return link[1] if link else word

