"""What each person would see in Slack, drawn in the terminal as the stand-in for Slack changes.

The screen watches the stand-in (slack.py): every message posted, edited or deleted is drawn
with where it is and who sees it; channel messages get a number, buttons get numbers that
`click N` presses, and the modals the bot opens wait here until the shell asks their person
for the fields. What Slack refused is drawn too, so a developer sees the bot's mistake.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass

from .blockkit import Refusal
from .render import Terminal, blocks_to_lines, plain
from .slack import Message, Modal, Observer, SlackStandIn
from .world import APPROVER_GROUP, APPROVER_GROUP_HANDLE, BOT_NAME, BOT_USER_ID, CHANNELS


HOME = "home:"  # the stand-in's channel of a person's App Home: home:<user id>


@dataclass(frozen=True)
class Button:
    number: int
    message: Message
    version: int
    block_id: str
    element: dict


class Screen(Observer):
    def __init__(self, terminal: Terminal, slack: SlackStandIn):
        self.terminal = terminal
        self.slack = slack
        self._lock = threading.RLock()
        self._buttons: dict[int, Button] = {}
        self._button_numbers = itertools.count(1)
        self._message_numbers = itertools.count(1)
        self._numbers: dict[tuple[str, str], int] = {}  # (channel, ts) -> message number
        self._modals: list[Modal] = []

    # -- names, for the renderer --------------------------------------------------------------

    def user_name(self, user_id: str) -> str | None:
        if user_id == BOT_USER_ID:
            return BOT_NAME
        user = self.slack.users.get(user_id)
        return user["name"] if user else None

    def channel_name(self, channel_id: str) -> str | None:
        return CHANNELS.get(channel_id)

    def group_handle(self, group_id: str) -> str | None:
        return APPROVER_GROUP_HANDLE if group_id == APPROVER_GROUP else None

    def name_of(self, user_id: str | None) -> str:
        return self.user_name(user_id) or str(user_id)

    def where(self, channel: str) -> str:
        if channel.startswith(HOME):
            return f"App Home of {BOT_NAME} for {self.name_of(channel.removeprefix(HOME))}"
        dm_user = self.slack.dm_user(channel)
        if dm_user:
            return f"DM from {BOT_NAME} to {self.name_of(dm_user)}"
        return "#" + CHANNELS.get(channel, channel)

    def audience(self, message: Message) -> str | None:
        """The one person who can see this message, or None for everyone in a channel."""
        return message.only or self.slack.dm_user(message.channel)

    def number_of(self, message: Message) -> int | None:
        return self._numbers.get((message.channel, message.ts))

    # -- what the stand-in tells -----------------------------------------------------------------

    def posted(self, message: Message) -> None:
        if not message.only:
            with self._lock:
                self._numbers[(message.channel, message.ts)] = next(self._message_numbers)
        self.show(message, first=message.ack)

    def edited(self, message: Message) -> None:
        self.show(message, edited=True)

    def deleted(self, message: Message) -> None:
        style = self.terminal.style
        self.terminal.show(f"{style.rule} {self.where(message.channel)}{style.dot}a message was deleted")

    def opened(self, modal: Modal) -> None:
        with self._lock:
            self._modals.append(modal)
        self.show_modal(modal)

    def updated(self, modal: Modal) -> None:
        self.show_modal(modal)

    def refused(self, method: str, refusal: Refusal) -> None:
        style = self.terminal.style
        self.terminal.show(f"{style.rule} Slack refused {method} from {BOT_NAME}{style.dot}nobody sees it",
                           [f"{refusal.error}: {refusal.why}" if refusal.why else refusal.error])

    # -- drawing ----------------------------------------------------------------------------------

    def show(self, message: Message, *, edited: bool = False, first: bool = False) -> None:
        parts = [self.where(message.channel)]
        if message.thread_ts:
            parent = self.slack.message(message.channel, message.thread_ts)
            number = self.number_of(parent) if parent else None
            parts.append(f"reply in the thread of message {number}" if number else "reply in a thread")
        number = self.number_of(message)
        if number:
            parts.append(f"message {number}" + (" (edited)" if edited else ""))
        only = self.audience(message)
        if message.only:
            parts.append(f"only visible to {self.name_of(only)}")
        elif only:
            parts.append(f"{self.name_of(only)} sees it")
        else:
            parts.append("everyone in the channel sees it")
        style = self.terminal.style
        lines = blocks_to_lines(message.blocks, message.text, self, style, self._numbering(message))
        self.terminal.show(f"{style.rule} " + style.dot.join(parts), lines, first=first)

    def _numbering(self, message: Message):
        version = message.version

        def number(block: dict, element: dict) -> int:
            with self._lock:
                n = next(self._button_numbers)
                self._buttons[n] = Button(n, message, version, str(block.get("block_id", "")), element)
            return n
        return number

    def is_home(self, message: Message) -> bool:
        return message.channel.startswith(HOME)

    def show_home(self, home: Message, *, again: bool = False) -> None:
        """A person's App Home, only they see it; its buttons numbered like a message's."""
        style = self.terminal.style
        lines = blocks_to_lines(home.blocks, "", self, style, self._numbering(home))
        self.terminal.show(f"{style.rule} {self.where(home.channel)}" + (" (updated)" if again else "")
                           + f"{style.dot}only visible to {self.name_of(home.only)}", lines)

    def show_modal(self, modal: Modal) -> None:
        view, style = modal.view, self.terminal.style
        title = plain(view.get("title"), self, style)
        lines = blocks_to_lines(view.get("blocks") or [], "", self, style, None)
        submit = plain(view.get("submit"), self, style) or "Submit"
        close = plain(view.get("close"), self, style) or "Cancel"
        lines.append(f"[{submit}]   [{close}]")
        self.terminal.show(f"{style.rule} modal \"{title}\"{style.dot}only visible to {self.name_of(modal.user_id)}",
                           lines)

    def show_error(self, user_id: str, channel: str, text: str) -> None:
        """What Slack itself shows when an app's answer fails: a grey line only its person sees."""
        style = self.terminal.style
        self.terminal.show(f"{style.rule} {self.where(channel)}{style.dot}only visible to {self.name_of(user_id)}"
                           f"{style.dot}from Slack", [text], first=True)

    # -- buttons and modals, for the shell ----------------------------------------------------------

    def button(self, number: int) -> Button | None:
        with self._lock:
            return self._buttons.get(number)

    def is_current(self, button: Button) -> bool:
        if self.is_home(button.message):  # a home is current until the next views.publish
            return self.slack.home(str(button.message.only)) is button.message
        return not button.message.deleted and button.message.version == button.version

    def live_buttons(self, user_id: str) -> list[Button]:
        with self._lock:
            buttons = list(self._buttons.values())
        return [b for b in buttons if self.is_current(b) and self.audience(b.message) in (None, user_id)]

    def label(self, button: Button) -> str:
        return plain(button.element.get("text"), self, self.terminal.style)

    def labelled(self, label: str, user_id: str | None) -> Button | None:
        """The first button on screen with this label (in any case) that the person sees (None: anyone);
        else the last one they saw with it that Slack has since removed, as a screen not caught up
        still has it; else None."""
        wanted = _folded(label)
        with self._lock:
            buttons = list(self._buttons.values())
        seen = [b for b in buttons if (user_id is None or self.audience(b.message) in (None, user_id))
                and _folded(self.label(b)) == wanted]
        live = [b for b in seen if self.is_current(b)]
        return live[0] if live else (seen[-1] if seen else None)

    def take_modals(self, user_id: str) -> list[Modal]:
        with self._lock:
            mine = [m for m in self._modals if m.user_id == user_id]
            self._modals = [m for m in self._modals if m.user_id != user_id]
        return mine


def _folded(label: str) -> str:
    return " ".join(label.split()).casefold()
