"""Routes Bolt's kinds (the `/iam` command, button clicks, modal submissions, events) to the
feature that owns them; nothing here knows what a feature does.

Acks first, in the request's own thread. The app runs Bolt with `process_before_response`:
Slack's request is answered the moment its listener returns, with no hand-off to another thread
and no 10 ms poll for the ack (Bolt's default mode polls). So every listener returns quickly:
`/iam` parses, writes itself down and acks (its slow part is the Runner's durable work,
`Owed.COMMAND`, answered by `run_command`); an event is written down, then acked; a button
click acks here and does the rest (the store, Slack and AWS calls) on the listener pool, where
no ack waits for it (`after_ack`).

A command is written down before its ack, so a crash cannot lose it: another process (or this
one after a restart) finishes it and answers by DM, since the response_url lives only in the
memory of the process that took the command.
"""

from __future__ import annotations

import inspect
import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from slack_bolt import App

from commands.accounts import current_account, in_account
from commands.errors import CommandError
from commands.parse import HelpCommand, Parser
from commands.workflow import Owed
from storage import Job, StoreUnavailable

from .blocks import message
from .feature import Command, Feature, merge
from .mrkdwn import code
from .replies import answering, apology, ephemeral
from .services import Services
from .words import STORE_DOWN, say

log = logging.getLogger(__name__)

# What Bolt gives a listener by name, and so what a part run after the ack may ask for.
GIVEN = ("body", "action", "view", "respond", "client", "context")


def route(app: App, svc: Services, features: Iterable[Feature]) -> dict[str, Callable[[Job], None]]:
    """Give Bolt each feature's listeners, and `/iam` a parser of the features' verbs; the work the
    router itself answers (a command's slow part)."""
    features = tuple(features)
    parser = Parser((verb for feature in features for verb in feature.verbs),
                    accounts=svc.accounts.names if svc.accounts else ())
    commands: dict[type, Command] = {}
    refreshers = [feature.home_refresh for feature in features if feature.home_refresh is not None]
    if len(refreshers) > 1:
        raise ValueError("two features give an App Home")
    home = Home(frozenset(a for feature in features for a in feature.home_actions),
                refreshers[0] if refreshers else None)
    for feature in features:
        merge(commands, feature.commands, feature.name)
        for action_id, part in feature.actions.items():
            app.action(action_id)(after_ack(svc, part, home))
        for callback_id, listener in feature.views.items():
            app.view(callback_id)(listener)
        for event, listener in feature.events.items():
            app.event(event)(listener)
    app.command("/iam")(iam_command(svc, parser, commands))
    return {Owed.COMMAND: lambda job: run_command(svc, parser, commands, job)}


def help_message(parser: Parser, unknown: str | None = None) -> dict:
    head = f"{code(unknown, 40)} is not an /iam command.\n\n" if unknown is not None else ""
    return message(head + "*Usage*\n" + parser.usage())


@dataclass(frozen=True)
class Asked:
    """A command being answered: who asked, how to answer them, and its durable record."""

    svc: Services
    user_id: str
    job: Job
    reply: Callable[[str], None]  # words, through response_url or (after a crash) by DM
    respond: Callable | None  # Bolt's respond, only in the process that took the command

    def ephemeral_blocks(self, payload: dict) -> bool:
        """Show blocks only the asker sees; False after a crash (a DM is not that private)."""
        if self.respond is None:
            return False
        self.respond(response_type="ephemeral", replace_original=False, **payload)
        return True

    def interrupted(self, typed: str) -> bool:
        """After a restart only a DM could answer, and a DM is not private enough for some answers:
        True, with the asker asked to type `typed` again."""
        if self.respond is not None:
            return False
        self.reply(f"Your {code(typed, 120)} was interrupted by a restart of the bot and not answered; "
                   "type it again.")
        return True


def iam_command(svc: Services, parser: Parser, commands: dict[type, Command]) -> Callable[..., None]:
    """`/iam`: parse at once and ack; anything that needs AWS or Slack is durable work done after the ack."""

    def iam_command(ack, command, respond):
        text = command.get("text", "")
        try:
            parsed = parser.parse(text)
        except CommandError as error:
            ack(response_type="ephemeral", **message(say(error)))
            return
        if isinstance(parsed, HelpCommand):
            ack(response_type="ephemeral", **help_message(parser, parsed.unknown))
            return
        try:
            job = svc.runner.accept(svc.workflow.command(text, command["user_id"], command.get("channel_id", "")))
        except StoreUnavailable as error:
            # Not written down, so nothing will be done: the person is told so while Slack still shows it.
            log.warning("could not write down a command: %s", error)
            ack(response_type="ephemeral", text=STORE_DOWN)
            return
        except Exception:
            reference = secrets.token_hex(4)
            log.exception("could not write down a command (reference %s)", reference)
            ack(response_type="ephemeral", **message(apology(reference)))
            return
        ack(response_type="ephemeral", text=commands[type(parsed)].ack(parsed))
        svc.runner.run_now(job, reply=respond)

    return iam_command


def run_command(svc: Services, parser: Parser, commands: dict[type, Command], job: Job) -> None:
    """The slow part of a command, as durable work (`Owed.COMMAND`), answered by the feature that owns it."""
    user_id = job.payload["user_id"]
    respond = svc.runner.replies.get(job.id)
    reply = ephemeral(respond) if respond is not None else dm_reply(svc, user_id)
    parsed = parser.parse(job.payload["text"])
    with answering(reply, f"/iam {type(parsed).__name__}"), in_account(parser.account(job.payload["text"])):
        commands[type(parsed)].answer(Asked(svc, user_id, job, reply, respond), parsed)


def dm_reply(svc: Services, user_id: str) -> Callable[[str], None]:
    """Words for the asker by DM: the response_url died with the process that took the command."""
    def reply(text: str) -> None:
        svc.notifier.dm(user_id, message(text))
    return reply


# -- a click's slow part, after its ack ------------------------------------------------------

@dataclass(frozen=True)
class Home:
    """The App Home as the router sees it: the action ids its buttons press, and its refresh."""

    actions: frozenset[str] = frozenset()
    refresh: Callable[[str], None] | None = None


def pressed_at_home(body: dict) -> bool:
    """A press on a button of a home view: no message, no response_url to answer into."""
    view = body.get("view")
    return isinstance(view, dict) and view.get("type") == "home" and not body.get("response_url")


def dm_respond(svc: Services, user_id: str) -> Callable[..., None]:
    """Bolt's `respond` for a press on the home: the words come by DM. Nothing else is sent (a
    secret is never shown from a home: no Reveal button is on it, and a reveal needs a shown answer)."""
    def respond(text: str | None = None, **_ignored) -> None:
        if text:
            svc.notifier.dm(user_id, message(text))
        return None
    return respond


def after_ack(svc: Services, part: Callable[..., None], home: Home = Home()) -> Callable[..., None]:
    """A listener that acks at once, then runs `part` on the listener pool with the arguments it names.
    Pressed on the App Home (only its own buttons may be), it answers by DM and refreshes the home."""
    wanted = inspect.getfullargspec(part).args
    unknown = sorted(set(wanted) - set(GIVEN))
    if unknown:
        raise TypeError(f"{part.__name__} asks for {', '.join(unknown)}; a part run after the ack gets only {GIVEN}")

    def listener(ack, body, action, view, respond, client, context) -> None:
        ack()
        given = {"body": body, "action": action, "view": view, "respond": respond, "client": client,
                 "context": context}
        if pressed_at_home(body):
            if action.get("action_id") not in home.actions:
                log.info("refused %s pressed on a home view: not a button of the App Home", action.get("action_id"))
                return
            user_id = body["user"]["id"]
            given["respond"] = dm_respond(svc, user_id)
            later(svc, _then_refresh, {"part": part, "arguments": {name: given[name] for name in wanted},
                                       "refresh": home.refresh, "user_id": user_id}, clicked=given)
            return
        later(svc, part, {name: given[name] for name in wanted}, clicked=given)

    listener.__name__ = listener.__qualname__ = part.__name__
    listener.__doc__ = part.__doc__
    return listener


def later(svc: Services, part: Callable[..., None], arguments: dict, clicked: dict | None = None) -> None:
    """Run `part(**arguments)` on the listener pool, after this request is answered; `clicked`
    (what Bolt gave the listener) says which request's account it runs in."""
    svc.listeners.submit(_run, part, arguments, lambda: clicked_account(svc, clicked or arguments))


def _then_refresh(part: Callable[..., None], arguments: dict, refresh: Callable[[str], None] | None,
                  user_id: str) -> None:
    """A press on the home: its part, then the presser's home refreshed whatever the part said."""
    _run(part, arguments, current_account)  # in the account the press ran in
    if refresh is None:
        return
    try:
        refresh(user_id)
    except Exception:
        log.exception("could not refresh the App Home after a press")


def clicked_account(svc: Services, arguments: dict) -> str | None:
    """With several accounts: the account of the request whose button was clicked (its value
    starts with the request's number), else the default."""
    if svc.accounts is None:
        return None
    action = arguments.get("action") or ((arguments.get("body") or {}).get("actions") or [{}])[0]
    number = str((action or {}).get("value") or "").split(":")[0]
    if not number.isdigit():
        return None
    try:
        return svc.store.get(int(number)).account
    except Exception:  # no such request: the part itself says so
        return None


def _run(part: Callable[..., None], arguments: dict, account: Callable[[], str | None] = lambda: None) -> None:
    try:
        with in_account(account()):  # read here, on the pool: nothing but the ack before it
            part(**arguments)
    except Exception:
        # The parts answer people themselves (bot/replies.answering); this is the last resort.
        log.exception("the %s listener failed after its ack", part.__name__)
