"""A kind of request (or a group of commands) at the Slack edge: one `Feature`, and its `Looks`.

A feature module in `bot/features/` has one function `feature(svc) -> Feature`, called once by
`create_app` with the shared services, so its handlers close over its own domain object. The app
is built from the explicit list `bot.features.FEATURES`: the router takes its commands, buttons,
modals and events; the Runner its work; the duties runner its duties; the Notifier its looks.
Nothing is registered by importing a module.

`Looks`: how each kind of request looks in Slack, merged from the features when the app is
built: its approval card (`CardFace`), the DM owed when it is provisioned and that DM after its
button, the ephemeral reveal of its secret, and its lines in the card's thread.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from commands.parse import Verb
from commands.workflow import Kind, Revealed
from storage import Job, Request

from .blocks import CardFace
from .mrkdwn import code, escape

# A line in a card's thread: (settings, request, actor) -> words, or None to say nothing.
ThreadLine = Callable[[object, Request, str | None], str | None]
RevealDm = Callable[..., dict]  # (request, sign_in_url, reveal_ttl, *, button, resent) -> message
RevealDmAfter = Callable[[Request, str], dict]  # (request, sign_in_url) -> message


@dataclass(frozen=True)
class Looks:
    card_faces: dict[str, CardFace] = field(default_factory=dict)  # request kind -> its card
    reveal_dms: dict[str, RevealDm] = field(default_factory=dict)  # request kind -> the DM with Reveal
    reveal_dms_after: dict[str, RevealDmAfter] = field(default_factory=dict)  # request kind -> it, spent
    secret_messages: dict[str, Callable[[Revealed], dict]] = field(default_factory=dict)  # Secret.what -> message
    # "event" or "kind:event" -> words (`commands.workflow.thread(event, actor)`); a kind's own words win.
    thread_lines: dict[str, ThreadLine] = field(default_factory=dict)

    def add(self, other: Looks, owner: str) -> None:
        """Take in a feature's looks (when the app is built)."""
        for table in ("card_faces", "reveal_dms", "reveal_dms_after", "secret_messages", "thread_lines"):
            merge(getattr(self, table), getattr(other, table), owner)

    def face(self, request: Request) -> CardFace:
        return self.card_faces[request.kind]

    def summary(self, request: Request) -> str:
        """The one-line summary of a request, as on its card."""
        look = self.card_faces.get(request.kind)
        return look.summary(request) if look else f"{escape(request.kind)} for {code(request.user_name)}"

    def thread_line(self, request: Request, event: str | None) -> ThreadLine | None:
        return self.thread_lines.get(f"{request.kind}:{event}") or self.thread_lines.get(event or "")




@dataclass(frozen=True)
class Command:
    """What one kind of `/iam` command says in its ack, and who answers it after the ack."""

    ack: Callable[[object], str]  # the parsed command -> the words of the ack
    answer: Callable[..., None]  # (asked: bot.router.Asked, parsed) -> None, run as durable work


@dataclass(frozen=True)
class Duty:
    """A periodic check. It must be safe to run again (a new lease holder runs it at once): it
    decides from the store what is due, and its transitions write what they owe."""

    name: str
    every: dt.timedelta
    run: Callable[[], None]


@dataclass(frozen=True)
class Feature:
    name: str
    kinds: tuple[Kind, ...] = ()  # the domain's kinds of request it adds to the workflow
    verbs: tuple[Verb, ...] = ()  # its `/iam <verb>`s: parser, lines of `/iam help` (its domain module's VERBS)
    commands: dict[type, Command] = field(default_factory=dict)  # parsed command type -> Command
    actions: dict[str, Callable[..., None]] = field(default_factory=dict)  # action_id -> part run after the ack
    views: dict[str, Callable[..., None]] = field(default_factory=dict)  # callback_id -> Bolt view listener
    events: dict[str, Callable[..., None]] = field(default_factory=dict)  # event type -> Bolt event listener
    work: dict[str, Callable[[Job], None]] = field(default_factory=dict)  # job kind -> handler
    duties: tuple[Duty, ...] = ()
    looks: Looks = field(default_factory=Looks)  # its cards, DMs, reveals and thread lines
    domain: object | None = None  # its own domain object (a KeyFlow, an Offboarding), for tests and the shell
    # The App Home: the action ids its buttons press (the router lets only these come from a home,
    # answers them by DM, since a home has no response_url), and who refreshes a person's home after.
    home_actions: tuple[str, ...] = ()
    home_refresh: Callable[[str], None] | None = None


def merge(table: dict, entries: dict, owner: str) -> None:
    """Add a feature's entries to a table built from all of them; two features claiming the same
    entry is a mistake, said when the app is built."""
    twice = sorted(str(key) for key in set(table) & set(entries))
    if twice:
        raise ValueError(f"{owner} gives what another feature gives: {', '.join(twice)}")
    table.update(entries)
