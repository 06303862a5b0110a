"""Parsing the text after /iam."""

from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from bot.router import help_message
from bot.words import say
from commands.create import CreateCommand
from commands.errors import CommandError
from commands.keys import KeysCommand
from commands.parse import HelpCommand
from tests.support.domain import full_parser

PARSER = full_parser()
parse, usage = PARSER.parse, PARSER.usage


def test_create_with_groups():
    assert parse("create jane.doe Developers ReadOnly") == CreateCommand(
        user_name="jane.doe", groups=("Developers", "ReadOnly"))


def test_create_with_owner_mention_and_no_console():
    cmd = parse("create svc.ci Developers <@U0JANE|jane> --no-console")
    assert cmd.owner_id == "U0JANE" and cmd.console is False and cmd.groups == ("Developers",)


def test_create_with_escaped_mention_without_label():
    assert parse("create jane Dev <@W0ABC>").owner_id == "W0ABC"


def test_mailto_link_is_read_as_the_name():
    assert parse("create <mailto:jane@example.com|jane@example.com> Dev").user_name == "jane@example.com"


def test_keys():
    assert parse("keys jane.doe") == KeysCommand(user_name="jane.doe")


@pytest.mark.parametrize("text", ["", "   ", "help", "HELP", "--help"])
def test_help(text):
    assert parse(text) == HelpCommand()


def test_unknown_subcommand_shows_help_with_reason():
    cmd = parse("delete jane")
    assert cmd == HelpCommand(unknown="delete")
    shown = help_message(PARSER, cmd.unknown)["text"]
    assert shown.startswith("`delete` is not an /iam command.") and "/iam create <user-name>" in shown


@pytest.mark.parametrize("text, says", [
    ("create", "Name the new user and at least one group"),
    ("create jane.doe", "at least one group"),
    ("create jane/doe Dev", "not a valid IAM user name"),
    ("create " + "a" * 65 + " Dev", "not a valid IAM user name"),
    ("create jané Dev", "not a valid IAM user name"),
    ("create jane Dev Dev", "named twice"),
    ("create jane Dev dev", "named twice"),
    ("create jane " + " ".join(f"G{i}" for i in range(11)), "at most 10 groups"),
    ("create jane Dev/Ops", "not a valid IAM group name"),
    ("create jane Dev <@U1> <@U2>", "only one owner"),
    ("create jane Dev <!channel>", "not a channel"),
    ("create jane Dev <#C123|general>", "not a channel"),
    ("create jane Dev <!subteam^S123|@admins>", "user group"),
    ("create jane Dev @jane", "did not become a Slack mention"),
    ("create jane Dev --force", "not an option"),
    ("keys", "exactly one user"),
    ("keys a b", "exactly one user"),
    ("keys <@U123>", "not a valid IAM user name"),
])
def test_bad_input_says_what_to_type(text, says):
    with pytest.raises(CommandError) as raised:
        parse(text)
    assert says in say(raised.value)


def test_usage_comes_from_the_docstrings():
    text = usage()
    assert "/iam create <user-name> <group>" in text and "/iam keys <user-name>" in text and "/iam help" in text


def test_help_text_is_unchanged_byte_for_byte():
    assert usage() == (Path(__file__).parent / "support" / "help.txt").read_text(encoding="utf-8")


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_any_text_parses_or_says_why(text):
    try:
        parse(text)
    except CommandError as error:
        assert say(error)


words = st.sampled_from(["create", "keys", "help", "jane.doe", "Dev", "<@U1>", "<@U2|x>", "--no-console",
                         "<!here>", "@x", "a" * 70, "é", "`", "<mailto:a@b.c|a@b.c>"])


@settings(max_examples=500, deadline=None)
@given(st.lists(words, max_size=14))
def test_any_sequence_of_plausible_words_parses_or_says_why(parts):
    try:
        result = parse(" ".join(parts))
    except CommandError as error:
        assert say(error)
    else:
        if isinstance(result, CreateCommand):
            assert 1 <= len(result.groups) <= 10


@pytest.mark.parametrize("text, shown", [
    ("create a&amp;b Dev", "`a&amp;b`"),             # Slack sent a typed & as &amp;: shown once-escaped
    ("create jane Dev&lt;x&gt;", "`Dev&lt;x&gt;`"),
    ("x&lt;y", "`x&lt;y` is not an /iam command"),
])
def test_typed_entities_are_quoted_back_escaped_once(text, shown):
    try:
        message = help_message(PARSER, parse(text).unknown)["text"]
    except CommandError as error:
        message = say(error)
    assert shown in message and "&amp;amp;" not in message and "&amp;lt;" not in message
