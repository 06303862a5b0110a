"""Turning the text after `/iam` into a command, or a CommandError that says what to type.

Only the generic part lives here: splitting the text into words, the words as people typed them
(`plain`), the shared name checks, `/iam help`, and a `Parser` built from the verbs the features
give it. Each feature's domain module holds its own command models and their parsers, and
exports them as `VERBS` (a `Verb` each); the edge builds the parser from its list of features.

Each command's docstring is its help text (`usage_of`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from .errors import CommandError, Why

# IAM's own rules (botocore and moto do not check them). \w is ASCII in IAM.
USER_NAME = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)
GROUP_NAME = re.compile(r"[\w+=,.@-]{1,128}", re.ASCII)
# An access-key id: AKIA (long-term) or ASIA (temporary) and 16 upper-case letters or digits.
ACCESS_KEY_ID = re.compile(r"(AKIA|ASIA)[A-Z0-9]{16}", re.ASCII)
# A request number as people write it: `12` or `#12`; twelve digits is more than any store will hold.
REQUEST_NUMBER = re.compile(r"#?([0-9]{1,12})", re.ASCII)
# Slack sends an e-mail-like word as a mailto link.
MAILTO = re.compile(r"<mailto:[^|>]*\|([^>]*)>")
HELP_WORDS = ("help", "-h", "--help")


class HelpCommand(BaseModel):
    """`/iam help`
    Show this help."""

    model_config = ConfigDict(frozen=True)
    unknown: str | None = None  # the word typed in place of a command, if any


@dataclass(frozen=True)
class Verb:
    """One `/iam <word>`: its parser (the words after it -> its command, or a CommandError), its
    lines of `/iam help`, and where they stand there (lower first; `/iam help` itself is last)."""

    word: str
    parse: Callable[[list[str]], BaseModel]
    usage: str
    position: int


def usage_of(command: type[BaseModel]) -> str:
    """A command's lines of `/iam help`, from its docstring: its first line, then the rest as one."""
    first, *rest = (line.strip() for line in command.__doc__.strip().splitlines())
    return first + "\n" + " ".join(rest)


ACCOUNT_OPTION = "--account"


class Parser:
    """Parses the text after `/iam` with the verbs it is given.

    With `accounts` (the rules file's `[[account]]` names, the default first), every verb takes
    `--account <name>` anywhere after it: taken out here, once for all verbs, before the verb's
    own parser sees the words (`account(text)` says which)."""

    def __init__(self, verbs: Iterable[Verb], accounts: Iterable[str] = ()):
        self.accounts = tuple(accounts)
        self.verbs: dict[str, Verb] = {}
        for verb in verbs:
            if verb.word in self.verbs or verb.word in HELP_WORDS:
                raise ValueError(f"two parsers for /iam {verb.word}")
            self.verbs[verb.word] = verb

    def parse(self, text: str) -> BaseModel:
        """Parse the text after `/iam`. Never raises anything but CommandError."""
        if not isinstance(text, str):
            raise CommandError(Why.NOT_TEXT)
        words = text.split()
        if not words:
            return HelpCommand()
        word, args = words[0].lower(), words[1:]
        if word in HELP_WORDS:
            return HelpCommand()
        verb = self.verbs.get(word)
        if verb is None:
            return HelpCommand(unknown=plain(words[0]))
        return verb.parse(self._without_account(args)[0])

    def account(self, text: str) -> str | None:
        """The `[[account]]` the command names with `--account` (its name as the rules spell it),
        or None for the default (named or not: a request of the default account records none).
        CommandError for an unknown name."""
        words = text.split() if isinstance(text, str) else []
        return self._without_account(words[1:])[1] if words else None

    def _without_account(self, args: list[str]) -> tuple[list[str], str | None]:
        rest, named = [], None
        index = 0
        while index < len(args):
            word = plain(args[index])
            option, _, value = word.partition("=")
            if option.lower() != ACCOUNT_OPTION:
                rest.append(args[index])
                index += 1
                continue
            if not value:
                index += 1
                value = plain(args[index]) if index < len(args) else ""
            if not value or value.startswith("--"):
                raise CommandError(Why.ACCOUNT_WHICH)
            named = self._known_account(value)
            index += 1
        return rest, named

    def _known_account(self, name: str) -> str:
        if not self.accounts:
            raise CommandError(Why.NO_ACCOUNTS)
        for index, known in enumerate(self.accounts):
            if known.lower() == name.lower():
                return known if index else None
        raise CommandError(Why.UNKNOWN_ACCOUNT, name=name, known=self.accounts)

    def usage(self) -> str:
        """The help text: each verb's lines in the order of their positions, then `/iam help`'s."""
        verbs = sorted(self.verbs.values(), key=lambda verb: verb.position)
        accounts = ([f"`--account <name>` after any command: the AWS account it is about ({', '.join(self.accounts)}; "
                     f"default {self.accounts[0]})."] if self.accounts else [])
        return "\n\n".join([*(verb.usage for verb in verbs), *accounts, usage_of(HelpCommand)])


# -- the shared checks -------------------------------------------------------------------------

def check_user_name(name: str) -> str:
    if not USER_NAME.fullmatch(name):
        raise CommandError(Why.BAD_USER_NAME, name=name)
    return name


def check_group_name(name: str) -> str:
    if not GROUP_NAME.fullmatch(name):
        raise CommandError(Why.BAD_GROUP_NAME, name=name)
    return name


def check_groups(groups: list[str], limit: int) -> tuple[str, ...]:
    """Groups as typed for a command that takes several: at most `limit`, each a valid name, none twice."""
    if len(groups) > limit:
        raise CommandError(Why.TOO_MANY_GROUPS, count=len(groups), limit=limit)
    seen: set[str] = set()
    for group in groups:
        check_group_name(group)
        if group.lower() in seen:
            raise CommandError(Why.GROUP_TWICE, group=group)
        seen.add(group.lower())
    return tuple(groups)


def check_key_id(key_id: str) -> str:
    if not ACCESS_KEY_ID.fullmatch(key_id):
        raise CommandError(Why.BAD_KEY_ID, key_id=key_id)
    return key_id


def one_user_name(verb: str, args: list[str]) -> str:
    """The one IAM user name a command like `/iam keys <user-name>` takes."""
    if len(args) != 1:
        raise CommandError(Why.ONE_USER_NAME, verb=verb)
    return check_user_name(plain(args[0]))


def request_number(args: list[str]) -> int:
    """The one request number a command like `/iam cancel <request-id>` takes."""
    match = REQUEST_NUMBER.fullmatch(plain(args[0])) if len(args) == 1 else None
    if match is None or int(match[1]) == 0:
        raise CommandError(Why.CANCEL_WHICH)
    return int(match[1])


def plain(word: str) -> str:
    """A word as the person typed it.

    Slack turns e-mail-like names into `<mailto:a@b.c|a@b.c>`, and (with should_escape) sends a
    typed `&`, `<`, `>` as entities: the domain keeps what was typed, the edge escapes it again.
    """
    link = MAILTO.fullmatch(word)
    if link:
        return link[1]
    return word.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
