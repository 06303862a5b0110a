"""Turning the text after `/iam` into a command, or a CommandError that says what to type.

Each command's docstring is its help text.
"""

from __future__ import annotations

import re
from pydantic import BaseModel, ConfigDict

from .errors import CommandError, Why

# IAM's own rules (botocore and moto do not check them). \w is ASCII in IAM.
USER_NAME = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)
GROUP_NAME = re.compile(r"[\w+=,.@-]{1,128}", re.ASCII)
MAX_GROUPS = 10
# Slack escapes mentions when the slash command has should_escape: true.
USER_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
MAILTO = re.compile(r"<mailto:[^|>]*\|([^>]*)>")


class CreateCommand(BaseModel):
    """`/iam create <user-name> <group> [<group> ...] [@owner] [--no-console]`
    Ask for a new IAM user in one or more groups. A second person must approve it.
    The owner is the person the account is for: mention them, or leave it out and the
    bot looks up <user-name>@ the company e-mail domain. `--no-console` creates no
    console password."""

    model_config = ConfigDict(frozen=True)
    user_name: str
    groups: tuple[str, ...]
    owner_id: str | None = None
    console: bool = True


class KeysCommand(BaseModel):
    """`/iam keys <user-name>`
    List a user's access keys with their age and last use. For approvers, and for the
    owner of that user."""

    model_config = ConfigDict(frozen=True)
    user_name: str


class CreateKeyCommand(BaseModel):
    """`/iam create-key <user-name> --reason <words...>`
    Ask for an access key for an IAM user, saying why it is needed. A second person must
    approve it; the user's owner then reveals the key once. Prefer a role (workloads on AWS),
    OIDC federation (CI) or IAM Identity Center (people) to a long-term key."""

    model_config = ConfigDict(frozen=True)
    user_name: str
    reason: str


class RotateKeyCommand(BaseModel):
    """`/iam rotate-key <user-name> <access-key-id>`
    Replace a key with a new one (owner or approver, no second person): the owner reveals the
    new key once; the old key is deactivated when the new one is first used (or after the
    rotation grace), and deleted one grace later unless someone re-activates it."""

    model_config = ConfigDict(frozen=True)
    user_name: str
    key_id: str


class DeactivateKeyCommand(BaseModel):
    """`/iam deactivate-key <user-name> <access-key-id>`
    Make a key stop working, reversibly (owner or approver)."""

    model_config = ConfigDict(frozen=True)
    user_name: str
    key_id: str


class ActivateKeyCommand(BaseModel):
    """`/iam activate-key <user-name> <access-key-id>`
    Make an inactive key work again (owner or approver; a key an approver deactivated, only an
    approver)."""

    model_config = ConfigDict(frozen=True)
    user_name: str
    key_id: str


class DeleteKeyCommand(BaseModel):
    """`/iam delete-key <user-name> <access-key-id>`
    Delete an inactive key for good (owner or approver). Deactivate it first and watch."""

    model_config = ConfigDict(frozen=True)
    user_name: str
    key_id: str


class RemoveCommand(BaseModel):
    """`/iam remove <user-name> [--disable-only] [--reason <words...>]`
    Remove an IAM user and everything it holds, in the order AWS requires. A second person
    must approve it. `--disable-only` only deletes the console password and deactivates the
    access keys (undo it with `/iam enable`)."""

    model_config = ConfigDict(frozen=True)
    user_name: str
    disable_only: bool = False
    reason: str = ""


class ResetPasswordCommand(BaseModel):
    """`/iam reset-password <user-name>`
    A new console password for a user who lost theirs: a second person approves, and the
    user's owner reveals it once."""

    model_config = ConfigDict(frozen=True)
    user_name: str


class StatusCommand(BaseModel):
    """`/iam status <user-name>`
    Every request about that IAM user and its trail: who asked, approved, denied,
    revealed, when. For approvers, and for the owner of that user."""

    model_config = ConfigDict(frozen=True)
    user_name: str


class CancelCommand(BaseModel):
    """`/iam cancel <request-id>`
    Withdraw a request you filed that is still waiting for approval."""

    model_config = ConfigDict(frozen=True)
    request_id: int


class AuditCommand(BaseModel):
    """`/iam audit`
    The account's credential hygiene from AWS's credential report: root MFA and keys,
    console users without MFA, old and unused keys, unused users, users the bot did not
    make. For approvers."""

    model_config = ConfigDict(frozen=True)


class EnableCommand(BaseModel):
    """`/iam enable <user-name>`
    Undo `/iam remove --disable-only`: a new console password, approved by a second person
    and revealed once to the owner. Access keys stay inactive until their owner activates them."""

    model_config = ConfigDict(frozen=True)
    user_name: str


class HelpCommand(BaseModel):
    """`/iam help`
    Show this help."""

    model_config = ConfigDict(frozen=True)
    unknown: str | None = None  # the word typed in place of a command, if any


KeyCommand = RotateKeyCommand | DeactivateKeyCommand | ActivateKeyCommand | DeleteKeyCommand

Command = (CreateCommand | KeysCommand | CreateKeyCommand | KeyCommand | StatusCommand | CancelCommand | AuditCommand
           | RemoveCommand | ResetPasswordCommand | EnableCommand | HelpCommand)

COMMANDS = (CreateCommand, KeysCommand, CreateKeyCommand, RotateKeyCommand, DeactivateKeyCommand,
            ActivateKeyCommand, DeleteKeyCommand, RemoveCommand, ResetPasswordCommand, EnableCommand,
            StatusCommand, CancelCommand, AuditCommand, HelpCommand)

# An access-key id: AKIA (long-term) or ASIA (temporary) and 16 upper-case letters or digits.
ACCESS_KEY_ID = re.compile(r"(AKIA|ASIA)[A-Z0-9]{16}", re.ASCII)
MAX_KEY_REASON = 1000
KEY_VERBS = {"rotate-key": RotateKeyCommand, "deactivate-key": DeactivateKeyCommand,
             "activate-key": ActivateKeyCommand, "delete-key": DeleteKeyCommand}


def usage() -> str:
    """The help text, built from the commands' docstrings."""
    parts = []
    for command in COMMANDS:
        first, *rest = (line.strip() for line in command.__doc__.strip().splitlines())
        parts.append(first + "\n" + " ".join(rest))
    return "\n\n".join(parts)


def check_user_name(name: str) -> str:
    if not USER_NAME.fullmatch(name):
        raise CommandError(Why.BAD_USER_NAME, name=name)
    return name


def check_group_name(name: str) -> str:
    if not GROUP_NAME.fullmatch(name):
        raise CommandError(Why.BAD_GROUP_NAME, name=name)
    return name


def parse(text: str) -> Command:
    """Parse the text after `/iam`. Never raises anything but CommandError."""
    if not isinstance(text, str):
        raise CommandError(Why.NOT_TEXT)
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
    if verb == "create-key":
        return _parse_create_key(args)
    if verb in KEY_VERBS:
        return _parse_key_command(verb, args)
    if verb == "status":
        if len(args) != 1:
            raise CommandError(Why.ONE_USER_NAME, verb="status")
        return StatusCommand(user_name=check_user_name(_plain(args[0])))
    if verb == "cancel":
        return CancelCommand(request_id=_request_number(args))
    if verb == "audit":
        if args:
            raise CommandError(Why.AUDIT_TAKES_NOTHING)
        return AuditCommand()
    if verb == "remove":
        return _parse_remove(args)
    if verb in ("reset-password", "enable"):
        if len(args) != 1:
            raise CommandError(Why.ONE_USER_NAME, verb=verb)
        name = check_user_name(_plain(args[0]))
        return ResetPasswordCommand(user_name=name) if verb == "reset-password" else EnableCommand(user_name=name)
    return HelpCommand(unknown=_plain(words[0]))


# A request number as people write it: `12` or `#12`; twelve digits is more than any store will hold.
REQUEST_NUMBER = re.compile(r"#?([0-9]{1,12})", re.ASCII)


def _request_number(args: list[str]) -> int:
    match = REQUEST_NUMBER.fullmatch(_plain(args[0])) if len(args) == 1 else None
    if match is None or int(match[1]) == 0:
        raise CommandError(Why.CANCEL_WHICH)
    return int(match[1])


def _parse_keys(args: list[str]) -> KeysCommand:
    if len(args) != 1:
        raise CommandError(Why.ONE_USER_NAME, verb="keys")
    return KeysCommand(user_name=check_user_name(_plain(args[0])))


def _parse_create_key(args: list[str]) -> CreateKeyCommand:
    words = [_plain(a) for a in args]
    flag = next((i for i, w in enumerate(words) if w.lower() == "--reason"), None)
    names = words if flag is None else words[:flag]
    reason = "" if flag is None else " ".join(words[flag + 1:]).strip()
    if len(names) != 1:
        raise CommandError(Why.ONE_USER_NAME, verb="create-key")
    user_name = check_user_name(names[0])
    if not reason:
        raise CommandError(Why.KEY_REASON_MISSING, user_name=user_name)
    if len(reason) > MAX_KEY_REASON:
        raise CommandError(Why.KEY_REASON_TOO_LONG, limit=MAX_KEY_REASON)
    return CreateKeyCommand(user_name=user_name, reason=reason)


def check_key_id(key_id: str) -> str:
    if not ACCESS_KEY_ID.fullmatch(key_id):
        raise CommandError(Why.BAD_KEY_ID, key_id=key_id)
    return key_id


def _parse_key_command(verb: str, args: list[str]) -> KeyCommand:
    if len(args) != 2:
        raise CommandError(Why.USER_AND_KEY, verb=verb)
    user_name, key_id = check_user_name(_plain(args[0])), check_key_id(_plain(args[1]))
    return KEY_VERBS[verb](user_name=user_name, key_id=key_id)


def _parse_remove(args: list[str]) -> RemoveCommand:
    """`<user-name> [--disable-only] [--reason words...]`: the reason takes the rest of the line."""
    names: list[str] = []
    disable_only = False
    reason = ""
    for index, raw in enumerate(args):
        word = _plain(raw)
        option = word.lower()
        if option == "--reason":
            reason = " ".join(_plain(w) for w in args[index + 1:]).strip()
            if not reason:
                raise CommandError(Why.REASON_MISSING, verb="remove")
            break
        if option == "--disable-only":
            disable_only = True
            continue
        if word.startswith("--"):
            raise CommandError(Why.UNKNOWN_OPTION, word=word, options=("--disable-only", "--reason"))
        names.append(word)
    if len(names) != 1:
        raise CommandError(Why.ONE_USER_NAME, verb="remove")
    return RemoveCommand(user_name=check_user_name(names[0]), disable_only=disable_only, reason=reason)


def _parse_create(args: list[str]) -> CreateCommand:
    owner_id = None
    console = True
    names: list[str] = []
    for raw in args:
        # Slack sends a typed "<" as "&lt;", so a word in brackets is a mention or link it made.
        mention = USER_MENTION.fullmatch(raw)
        if mention:
            if owner_id is not None and owner_id != mention[1]:
                raise CommandError(Why.TWO_OWNERS)
            owner_id = mention[1]
            continue
        if raw.startswith("<") and not MAILTO.fullmatch(raw):
            raise CommandError(Why.OWNER_NOT_ONE_PERSON)
        word = _plain(raw)
        if word.startswith("--"):
            if word.lower() == "--no-console":
                console = False
                continue
            raise CommandError(Why.UNKNOWN_OPTION, word=word, options=("--no-console",))
        if word.startswith("@"):
            raise CommandError(Why.MENTION_NOT_LINKED, word=word)
        names.append(word)
    if not names:
        raise CommandError(Why.NAME_MISSING)
    user_name, groups = check_user_name(names[0]), names[1:]
    if not groups:
        raise CommandError(Why.GROUP_MISSING, user_name=user_name)
    if len(groups) > MAX_GROUPS:
        raise CommandError(Why.TOO_MANY_GROUPS, count=len(groups), limit=MAX_GROUPS)
    seen: set[str] = set()
    for group in groups:
        check_group_name(group)
        if group.lower() in seen:
            raise CommandError(Why.GROUP_TWICE, group=group)
        seen.add(group.lower())
    return CreateCommand(user_name=user_name, groups=tuple(groups), owner_id=owner_id, console=console)


def _plain(word: str) -> str:
    """A word as the person typed it.

    Slack turns e-mail-like names into `<mailto:a@b.c|a@b.c>`, and (with should_escape) sends a
    typed `&`, `<`, `>` as entities: the domain keeps what was typed, the edge escapes it again.
    """
    link = MAILTO.fullmatch(word)
    if link:
        return link[1]
    return word.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")

