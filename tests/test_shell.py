"""`iam-bot shell`, scripted: the README's first command, as a person would use it.

The shell runs as its own process with a script on stdin, exactly like `iam-bot shell <
story.txt`; the assertions are on what it printed, which is what each person would see.
"""

from __future__ import annotations

import re
import string
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.shell import ROOT, after, message, run_shell, turns

pytestmark = pytest.mark.slow

STORY = """\
/iam create jane.doe Developers
click Approve
y
as bob
click Approve
y
as jane
click Reveal password
click Reveal password
as bob
/iam keys sam.sample
as alice
/iam keys sam.sample
/iam create carol.ops ReadOnly @carol
as bob
click Deny
Not before the security review.
as alice
events
"""


@pytest.fixture(scope="module")
def story():
    result = run_shell(STORY)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout, turns(result.stdout)


def test_the_banner_says_who_you_are_and_what_the_world_holds(story):
    _, said = story
    [banner] = after(said, "banner")
    assert "You are alice" in banner
    for who in ("bob", "carol", "jane"):
        assert re.search(rf"^\s+{who}\s", banner, re.M), who
    assert "approver" in banner
    assert "Admins, Developers, ReadOnly" in banner
    assert "sam.sample with 2 access keys" in banner
    assert "as <name>" in banner and "click <n>" in banner
    assert re.search(r"SQLite: \S+\.db", banner)


def test_a_request_shows_the_ack_then_the_card_with_numbered_buttons(story):
    _, said = story
    [shown] = after(said, "alice> /iam create jane.doe Developers")
    ack = message(shown, "#general · only visible to alice")
    assert "Checking your request for `jane.doe`" in ack
    card = message(shown, "#iam-approvals · message 1 · everyone in the channel sees it")
    assert shown.index(ack) < shown.index(card)
    assert "New IAM user requested by @alice" in card
    assert "User name: `jane.doe`" in card and "Groups: `Developers`" in card and "Owner: @jane" in card
    assert "[1] Approve   [2] Deny" in card
    assert "Request #1 filed" in shown


def test_the_requester_cannot_approve_their_own_request(story):
    _, said = story
    [shown] = after(said, "alice> click Approve")
    assert "Approve this request?" in shown  # Slack's confirmation dialog, answered y
    refusal = message(shown, "#iam-approvals · only visible to alice")
    assert "You cannot decide request #1: you asked for it" in refusal
    assert "edited" not in shown


def test_a_second_person_approves_and_the_user_is_created(story):
    _, said = story
    [shown] = after(said, "bob> click Approve")
    assert "Approved by @bob" in message(shown, "message 1 (edited)")
    assert not re.search(r"\[\d+\]", message(shown, "message 1 (edited)"))  # the buttons are gone
    thread = message(shown, "reply in the thread of message 1")
    assert "Created `arn:aws:iam::123456789012:user/jane.doe` in `Developers`" in thread
    dm = message(shown, "DM from iam-bot to jane · message 3 · jane sees it")
    assert "Your AWS IAM user `jane.doe` is ready" in dm
    assert "Sign-in URL: https://example-sandbox.signin.aws.amazon.com/console" in dm
    assert re.search(r"\[\d+\] Reveal password", dm)
    assert "Sign-in details delivered to @jane by DM" in shown


def test_the_owner_reveals_the_password_once_visible_only_to_her(story):
    output, said = story
    shown, again = after(said, "jane> click Reveal password")
    reveal = message(shown, "DM from iam-bot to jane · only visible to jane")
    password = re.search(r"Password for `jane\.doe`: `([^`]+)`", reveal)[1]
    # The sample account's policy: 14+ characters with every kind.
    assert len(password) >= 14
    for kind in (string.ascii_lowercase, string.ascii_uppercase, string.digits):
        assert any(c in kind for c in password)
    assert any(not c.isalnum() for c in password)
    assert "visible only to you" in reveal
    assert "Password revealed" in message(shown, "message 3 (edited)")
    assert "@jane revealed their first password" in shown
    assert output.count(password) == 1

    assert "already revealed" in message(again, "only visible to jane")
    assert "Password for" not in again


def test_keys_for_an_approver_and_not_for_anyone_else(story):
    _, said = story
    [shown] = after(said, "bob> /iam keys sam.sample")
    keys = message(shown, "#general · only visible to bob")
    assert "Looking up the access keys of `sam.sample`" in keys
    listing = shown[shown.index("Access keys of `sam.sample`"):]
    assert len(re.findall(r"• `AKIA[A-Z0-9]{16}` · Active · created", listing)) == 2
    assert "never used" in listing and "last used" in listing

    [shown] = after(said, "alice> /iam keys sam.sample")
    assert "Only approvers, and the owner of `sam.sample`, can list its access keys." in shown
    assert "AKIA" not in shown


def test_deny_asks_for_a_reason_in_a_modal_and_tells_the_requester(story):
    _, said = story
    [shown] = after(said, "alice> /iam create carol.ops ReadOnly @carol")
    assert re.search(r"\[\d+\] Approve   \[\d+\] Deny", message(shown, "message 6 · everyone in the channel sees it"))

    [shown] = after(said, "bob> click Deny")
    modal = message(shown, 'modal "Deny request" · only visible to bob')
    assert "Deny IAM user `carol.ops` for @carol (request #2)?" in modal
    assert "Reason (the requester sees it)> Not before the security review." in shown
    card = message(shown, "message 6 (edited)")
    assert "Denied by @bob" in card and "Not before the security review." in card
    dm = message(shown, "DM from iam-bot to alice")
    assert ("Your request #2 for the IAM user `carol.ops` was denied by @bob.\n    Reason, as @bob typed it:\n"
            "    Not before the security review.") in dm


def test_every_step_left_an_event(story):
    _, said = story
    [shown] = after(said, "alice> events")
    # Each line: time, request, who, what (and a detail).
    done = {(m["request"], m["who"], m["what"])
            for m in re.finditer(r"^\s+\d\d:\d\d:\d\d\s+(?P<request>#\d+|-)\s+(?P<who>\S+)\s+(?P<what>\S+)",
                                 shown, re.M)}
    for step in (("#1", "alice", "filed"), ("#1", "alice", "refused:requester"), ("#1", "bob", "approved"),
                 ("#1", "iam-bot", "provisioned"), ("#1", "jane", "revealed"), ("#2", "alice", "filed"),
                 ("#2", "bob", "denied")):
        assert step in done, (step, shown)
    assert any(who == "alice" and what == "refused:keys" for _, who, what in done), shown


def test_the_shell_exits_cleanly_at_end_of_input_and_leaves_nothing_behind():
    result = run_shell("")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout.rstrip().endswith("the next start is a fresh world.")
    db = re.search(r"SQLite: (\S+\.db)", result.stdout)[1]
    assert not Path(db).exists()


def test_nothing_typed_crashes_the_shell():
    nonsense = ["", "   ", "# a comment", "hello", "iam help", "/who", "click", "click x", "click 0",
                "click 99999999999999999999999", "as", "as nobody", "/iam", "/iam create", "/iam keys",
                "/iam create <!channel> Developers", "/iam create jane.doe NoSuchGroup", "/iam nope",
                "/iam create ünïcødé Developers", "buttons", "who", "help", "events"]
    result = run_shell("\n".join(nonsense) + "\n")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    said = dict(turns(result.stdout))
    assert "Commands start with a slash: /iam help" in said["alice> iam help"]
    assert "There is no button [99999999999999999999999]" in said["alice> click 99999999999999999999999"]
    assert "Act as whom?" in said["alice> as nobody"]
    assert "No IAM group named `NoSuchGroup`" in said["alice> /iam create jane.doe NoSuchGroup"]
    assert "is not an /iam command" in said["alice> /iam nope"]
    assert "(end of input)" in result.stdout


LABEL_STORY = """\
/iam create jane.doe Developers
click "Launch rockets"
click 1 n
as bob
click "Approve" y
as alice
click Reveal password
as jane
click reveal password
"""


def test_a_button_is_pressed_by_its_label_or_told_which_labels_are_on_screen():
    result = run_shell(LABEL_STORY)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    said = turns(result.stdout)
    [unknown] = after(said, 'alice> click "Launch rockets"')
    assert ('There is no button "Launch rockets" that alice can press. On screen: "Approve", "Deny", '
            '"Cancel request".') in unknown
    [by_number] = after(said, "alice> click 1 n")  # a number still presses, and still asks first
    assert "Approve this request?" in by_number and "Cancelled; nothing was sent to the bot." in by_number
    [approved] = after(said, 'bob> click "Approve" y')
    assert "Approve this request?" in approved and "(bob pressed Approve)" in approved
    assert "Approved by @bob" in message(approved, "message 1 (edited)")
    [not_hers] = after(said, "alice> click Reveal password")
    assert 'alice cannot see a button "Reveal password": only jane sees it. To press it, first type: as jane' in not_hers
    [revealed] = after(said, "jane> click reveal password")
    assert "Password for `jane.doe`" in message(revealed, "only visible to jane")


def test_serving_slack_never_loads_moto():
    code = "import sys, bot.cli, bot.server, bot.app; sys.exit('moto' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=30).returncode == 0


@pytest.fixture
def screen():
    """The shell's stand-in for Slack and its screen, drawn into a string."""
    import io

    from bot.shell.render import Terminal
    from bot.shell.screen import Screen
    from bot.shell.world import sample_slack

    class Utf8(io.StringIO):
        encoding = "utf-8"  # as the shell's terminal, so headers read `── … · …`

    out = Utf8()
    slack = sample_slack("xoxb-local-shell")
    shown = Screen(Terminal(out, colour=False), slack)
    slack.watch(shown)
    slack.start()
    yield slack, shown, out
    slack.stop()


def test_an_ack_slack_would_refuse_shows_slacks_error_not_the_reply(screen):
    import json

    from slack_bolt import BoltResponse

    from bot.shell.session import Shell
    from bot.shell.world import GENERAL

    slack, shown, out = screen
    shell = Shell(app=None, slack=slack, screen=shown, executor=None, store=None, aws=None, signing_secret="s",
                  terminal=shown.terminal, lines=None)
    too_long = {"type": "section", "text": {"type": "mrkdwn", "text": "Checking " + "x" * 3000}}
    shell.show_ack(BoltResponse(status=200, body=json.dumps({"text": "Checking…", "blocks": [too_long]})),
                   GENERAL, "/iam")
    said = out.getvalue()
    assert '/iam failed with the error "invalid_blocks"' in message(said, "#general · only visible to alice")
    assert "Checking" not in said

    shell.show_ack(BoltResponse(status=200, body=json.dumps({"text": "Checking your request…"})), GENERAL, "/iam")
    assert "Checking your request…" in message(out.getvalue()[len(said):], "#general · only visible to alice")


def test_what_slack_refuses_the_bot_is_drawn_for_the_developer(screen):
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    from bot.shell.world import APPROVALS

    slack, _, out = screen
    client = WebClient(token=slack.token, base_url=slack.api_url)
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel=APPROVALS, text="card", blocks=[{"type": "section"}])
    refusal = message(out.getvalue(), "Slack refused chat.postMessage from iam-bot")
    assert "invalid_blocks" in refusal and "text or fields attribute must be specified" in refusal
    assert "#iam-approvals" not in out.getvalue()
