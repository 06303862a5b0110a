"""Slack messages as terminal text: mrkdwn, Block Kit, and who can see each message.

What Slack would draw is turned into plain lines: sections, fields as `Label: value`,
context, numbered buttons `[1] Approve`, modals with their input fields. Mentions,
channels and dates read as Slack shows them (`@bob`, `#iam-approvals`, a local time).
Code spans keep their backticks, so a password's `*` or `_` is never taken for markup.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
import threading
from collections.abc import Callable
from typing import Protocol, TextIO

EMOJI = {
    "key": "🔑", "white_check_mark": "✅", "no_entry": "⛔", "hourglass": "⌛",
    "hourglass_flowing_sand": "⏳", "x": "❌", "repeat": "🔁", "envelope": "✉️", "lock": "🔒",
    "wave": "👋", "warning": "⚠️", "zzz": "💤", "tada": "🎉",
    "heavy_multiplication_x": "✖️", "bell": "🔔", "clipboard": "📋", "rotating_light": "🚨", "grey_question": "❔",
    # guardrails
    "busts_in_silhouette": "👥", "closed_lock_with_key": "🔐", "bulb": "💡", "iphone": "📱",
}

_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)
_ANGLE = re.compile(r"<([^<>\n]+)>")
_BOLD = re.compile(r"(?<![\w*])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![\w*])")
_EMOJI = re.compile(r":([a-z0-9_+-]+):")
_LABELLED_FIELD = re.compile(r"\*([^*\n]+)\*\n(.*)", re.S)


class Names(Protocol):
    """How the stand-in for Slack names the ids that appear in messages."""

    def user_name(self, user_id: str) -> str | None: ...
    def channel_name(self, channel_id: str) -> str | None: ...
    def group_handle(self, group_id: str) -> str | None: ...


class Style:
    """Bold and dim on a terminal; nothing at all when the output is a file or a pipe."""

    def __init__(self, out: TextIO, colour: bool | None = None):
        self.colour = _isatty(out) if colour is None else colour
        encoding = getattr(out, "encoding", None) or "ascii"
        self.emoji = _encodable("".join(EMOJI.values()), encoding)
        unicode = _encodable("──·", encoding)
        self.rule = "──" if unicode else "--"
        self.dot = " · " if unicode else " | "
        self.line = ("─" if unicode else "-") * 40

    def _wrap(self, text: str, start: str, end: str) -> str:
        return f"\033[{start}m{text}\033[{end}m" if self.colour and text else text

    def bold(self, text: str) -> str:
        return self._wrap(text, "1", "22")

    def dim(self, text: str) -> str:
        return self._wrap(text, "2", "22")

    def header(self, text: str) -> str:
        return self._wrap(text, "1;36", "0")



def _encodable(text: str, encoding: str) -> bool:
    try:
        text.encode(encoding)
        return True
    except (UnicodeEncodeError, LookupError):
        return False


def _isatty(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False


# -- mrkdwn --------------------------------------------------------------------------------

def mrkdwn(text: str, names: Names, style: Style) -> str:
    """One piece of Slack mrkdwn as terminal text; code spans are left as they are."""
    spans: list[str] = []

    def keep(match: re.Match) -> str:
        spans.append(_unescape(match.group(0)))
        return f"\x00{len(spans) - 1}\x00"

    # Code spans step aside while the prose is formatted: a password's `*` is not bold.
    text = _CODE.sub(keep, text)
    text = _ANGLE.sub(lambda m: _angle(m.group(1), names), text)
    text = _BOLD.sub(lambda m: style.bold(m.group(1)), text)
    if style.emoji:
        text = _EMOJI.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), text)
    text = _unescape(text)
    return re.sub("\x00(\\d+)\x00", lambda m: spans[int(m.group(1))], text)


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _angle(inner: str, names: Names) -> str:
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        uid = target[1:]
        return "@" + (names.user_name(uid) or label or uid)
    if target.startswith("#"):
        cid = target[1:]
        return "#" + (names.channel_name(cid) or label or cid)
    if target.startswith("!date^"):
        return _slack_date(target, label)
    if target.startswith("!subteam^"):
        sid = target.split("^", 1)[1]
        handle = names.group_handle(sid) or label.lstrip("@") or sid
        return "@" + handle
    if target.startswith("!"):
        return "@" + target[1:]
    if label and label != target:
        return f"{label} ({target})"
    return target


def _slack_date(target: str, fallback: str) -> str:
    """`<!date^epoch^{date_short} at {time}|fallback>` in this machine's time zone, as Slack would."""
    parts = target.split("^")
    try:
        moment = dt.datetime.fromtimestamp(int(parts[1])).astimezone()
        template = parts[2]
    except (IndexError, ValueError, OverflowError, OSError):
        return fallback or target
    today = dt.datetime.now().astimezone().date()
    day = {today: "today", today - dt.timedelta(days=1): "yesterday",
           today + dt.timedelta(days=1): "tomorrow"}.get(moment.date())
    short = f"{moment:%b} {moment.day}, {moment.year}"
    long = f"{moment:%B} {moment.day}, {moment.year}"
    tokens = {
        "date_num": f"{moment:%Y-%m-%d}", "date_slash": f"{moment:%m/%d/%Y}",
        "date": long, "date_short": short, "date_long": f"{moment:%A}, {long}",
        "date_pretty": day or long, "date_short_pretty": day or short, "date_long_pretty": day or long,
        "time": f"{moment:%H:%M}", "time_secs": f"{moment:%H:%M:%S}",
    }
    return re.sub(r"\{(\w+)\}", lambda m: tokens.get(m.group(1), m.group(0)), template)


# -- Block Kit -----------------------------------------------------------------------------

ButtonNumber = Callable[[dict, dict], int]  # (actions block, button element) -> its number


def plain(obj: dict | str | None, names: Names, style: Style) -> str:
    """A text object (plain_text or mrkdwn) as terminal text."""
    if obj is None:
        return ""
    if isinstance(obj, str):
        return obj
    text = str(obj.get("text", ""))
    # Slack decodes its three entities in plain_text too: a reason's `<` was sent as `&lt;`.
    return mrkdwn(text, names, style) if obj.get("type") == "mrkdwn" else _unescape(text)


def blocks_to_lines(blocks: list[dict], fallback: str, names: Names, style: Style,
                    number: ButtonNumber | None) -> list[str]:
    """The lines Slack would draw for these blocks; `number` gives each button its number."""
    if not blocks:
        return mrkdwn(fallback or "", names, style).splitlines() or [""]
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "section":
            if block.get("text"):
                lines += plain(block["text"], names, style).splitlines()
            for item in block.get("fields") or []:
                lines += _field(item, names, style).splitlines()
            accessory = block.get("accessory")
            if accessory and accessory.get("type") == "button" and number:
                lines.append(_buttons(block, [accessory], names, style, number))
        elif kind == "context":
            parts = [plain(e, names, style) if e.get("type") in ("mrkdwn", "plain_text")
                     else f"[{e.get('alt_text', e.get('type'))}]" for e in block.get("elements") or []]
            lines += [style.dim(line) for line in "  ".join(parts).splitlines()]
        elif kind == "actions":
            lines.append(_buttons(block, block.get("elements") or [], names, style, number))
        elif kind == "header":
            lines.append(style.bold(plain(block.get("text"), names, style)))
        elif kind == "divider":
            lines.append(style.line)
        elif kind == "image":
            lines.append(f"[image: {block.get('alt_text', '')}]")
        elif kind == "input":
            label = plain(block.get("label"), names, style)
            optional = " (optional)" if block.get("optional") else ""
            lines.append(f"{label}{optional}: ____")
        else:
            lines.append(f"[{kind} block]")
    return lines


def _field(item: dict, names: Names, style: Style) -> str:
    text = str(item.get("text", ""))
    match = _LABELLED_FIELD.fullmatch(text) if item.get("type") == "mrkdwn" else None
    if match:
        return f"{mrkdwn(match.group(1), names, style)}: {mrkdwn(match.group(2), names, style)}"
    return plain(item, names, style)


def _buttons(block: dict, elements: list[dict], names: Names, style: Style, number: ButtonNumber | None) -> str:
    shown = []
    for element in elements:
        label = plain(element.get("text"), names, style)
        if element.get("type") == "button" and number is not None:
            shown.append(style.bold(f"[{number(block, element)}] {label}"))
        elif element.get("type") == "button":
            shown.append(f"[{label}]")
        else:
            shown.append(f"[{element.get('type')}: not available in the shell]")
    return "   ".join(shown)


# -- the terminal ---------------------------------------------------------------------------

class Terminal:
    """Where everything is printed, from any thread, in one piece per message.

    While held, output waits in a buffer: the ack of a command is printed first, then what
    the listeners sent meanwhile, as a person in Slack would see them appear.
    """

    def __init__(self, out: TextIO | None = None, colour: bool | None = None):
        self.out = out or sys.stdout
        self.style = Style(self.out, colour)
        self._lock = threading.RLock()
        self._held: list[str] | None = None

    def show(self, header: str, lines: list[str] = (), *, first: bool = False) -> None:
        """A message: its header (where, and who sees it), then its lines, indented."""
        text = "\n" + self.style.header(header) + "".join("\n    " + line for line in lines)
        self.say(text, first=first)

    def say(self, text: str, *, first: bool = False) -> None:
        """Print now, or queue while held; `first` goes before everything queued."""
        with self._lock:
            if self._held is not None:
                if first:
                    self._held.insert(0, text)
                else:
                    self._held.append(text)
                return
            self._write(text)

    def hold(self) -> None:
        with self._lock:
            if self._held is None:
                self._held = []

    def release(self) -> None:
        with self._lock:
            held, self._held = self._held or [], None
            for text in held:
                self._write(text)

    def _write(self, text: str) -> None:
        print(text, file=self.out, flush=True)
