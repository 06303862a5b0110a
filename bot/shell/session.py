"""The shell itself: a person at a terminal, acting as someone in a sample Slack workspace.

Every line becomes what Slack would send: `/iam ...` a signed slash command, `click N` a
signed block_actions payload, a filled-in modal a signed view_submission. They go through
`app.dispatch`, so the guard (signature, workspace) and the very same listeners run as in
Slack; what the bot sends back reaches the stand-in for Slack over HTTP and is drawn there.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TextIO

from slack_bolt import App, BoltRequest, BoltResponse

from commands.home import HOME_JOB
from commands.settings import parse_duration
from storage import Store

from ..features.home import HOME_CALLBACK
from . import payloads
from .aws import SampleAws
from .blockkit import ack_refusal
from .render import Terminal, plain
from .screen import Screen
from .slack import Modal, Origin, SlackStandIn
from .world import (
    APPROVALS, APPROVER_GROUP, APPROVER_GROUP_HANDLE, BOT_NAME, BOT_USER_ID, CHANNELS, GENERAL, PEOPLE, TEAM_DOMAIN,
    TEAM_ID, Person, person,
)

log = logging.getLogger(__name__)

SETTLE_SECONDS = 60
FORM_ATTEMPTS = 3
CANCEL = "/cancel"
YES = ("y", "yes")
NO = ("n", "no", "")


class ShellError(Exception):
    "Something typed in the shell that it cannot do; the message says what to type instead"


class TrackingExecutor(ThreadPoolExecutor):
    """Bolt's listener pool, whose outstanding work the shell waits for before the next prompt."""

    def __init__(self):
        super().__init__(max_workers=8, thread_name_prefix="listener")
        self._futures: set[Future] = set()
        self._lock = threading.Lock()

    def submit(self, fn, /, *args, **kwargs):
        future = super().submit(fn, *args, **kwargs)
        with self._lock:
            self._futures.add(future)
        return future

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                self._futures = {f for f in self._futures if not f.done()}
                if not self._futures:
                    return True
            time.sleep(0.01)
        return False


class Lines:
    """What the person types: `input()` on a terminal, else one line at a time, echoed."""

    def __init__(self, stream: TextIO, terminal: Terminal):
        self.stream = stream
        self.terminal = terminal
        self.interactive = _isatty(stream)
        self._pushed: list[str] = []
        if self.interactive:
            try:
                import readline  # noqa: F401  (line editing and in-memory history; nothing is written to disk)
            except ImportError:
                pass

    def read(self, prompt: str) -> str | None:
        """The next line, or None at the end of input."""
        if self._pushed:
            return self._pushed.pop()
        if self.interactive:
            try:
                return input(prompt)
            except EOFError:
                return None
        line = self.stream.readline()
        if not line:
            return None
        line = line.rstrip("\r\n")
        # Echoed, so that a scripted session reads like one typed by hand.
        self.terminal.say(prompt + line)
        return line

    def push_back(self, line: str) -> None:
        self._pushed.append(line)


class Shell:
    def __init__(self, *, app: App, slack: SlackStandIn, screen: Screen, executor: TrackingExecutor, store: Store,
                 aws: SampleAws, signing_secret: str, terminal: Terminal, lines: Lines, duties=None, clock=None,
                 follow_homes=None):
        self.app = app
        self.slack = slack
        self.screen = screen
        self.executor = executor
        self.store = store
        self.aws = aws
        self.signing_secret = signing_secret
        self.terminal = terminal
        self.lines = lines
        self.me: Person = PEOPLE[0]
        self.duties = duties  # runs the app's background duties once, for `wait`: they run as time passes
        self.clock = clock
        self.follow_homes = follow_homes  # the App Home's duty: the changes since, for `home`

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> None:
        while True:
            line = self.lines.read(f"{self.me.name}> ")
            if line is None:
                self.say("(end of input)")
                return
            try:
                if not self.handle(line.strip()):
                    return
            except ShellError as error:
                self.say(str(error))
            except Exception as error:
                # The shell's own mistake, never the bot's: the bot's errors are its replies.
                log.debug("the shell failed on a line", exc_info=True)
                self.say(f"The shell could not do that ({type(error).__name__}); LOG_LEVEL=DEBUG shows why. "
                         "Type help for what it understands.")
            finally:
                self.terminal.release()

    def handle(self, line: str) -> bool:
        """Do one line; False means quit."""
        if not line or line.startswith("#"):
            return True
        if line.startswith("/"):
            command, _, text = line.partition(" ")
            if command.lower() != "/iam":
                raise ShellError(f"{command} is not a valid command here; the bot's command is /iam (try /iam help).")
            self.slash(text.strip())
            return True
        word, _, rest = line.partition(" ")
        word, rest = word.lower(), rest.strip()
        if word in ("quit", "exit", "q"):
            return False
        if word == "as":
            self.become(rest)
        elif word in ("click", "press"):
            self.click_line(rest)
        elif word in ("who", "whoami"):
            self.who()
        elif word == "buttons":
            self.buttons()
        elif word == "wait":
            self.wait(rest)
        elif word in ("events", "log"):
            self.events()
        elif word == "deactivate":
            self.deactivate(rest)
        elif word == "home":
            self.home()
        elif word in ("help", "?"):
            self.help()
        elif word == "iam":
            raise ShellError(f"Commands start with a slash: /{line}")
        else:
            raise ShellError(f"Not something the shell understands: {line!r}. Type /iam help for the bot's "
                             "commands, help for the shell's.")
        return True

    def say(self, text: str) -> None:
        self.terminal.say(text)

    # -- people -----------------------------------------------------------------------------

    def become(self, name: str) -> None:
        someone = person(name) if name else None
        if someone is None:
            names = ", ".join(p.name for p in PEOPLE)
            raise ShellError(f"Act as whom? Type: as <name>, one of {names}.")
        self.me = someone
        self.say(f"You are now {someone.name}, {someone.role}.")

    def who(self) -> None:
        for someone in PEOPLE:
            marker = "*" if someone is self.me else " "
            self.say(f" {marker} {someone.name:<6} {someone.email:<21} {someone.role}")
        self.say(f"You are {self.me.name}. Switch with: as <name>")

    # -- what Slack would send ----------------------------------------------------------------

    def dispatch(self, body: str) -> BoltResponse:
        """A request signed as Slack signs it, through the app's whole middleware chain."""
        headers = {name.lower(): value for name, value in payloads.signed_headers(self.signing_secret, body).items()}
        return self.app.dispatch(BoltRequest(body=body, headers=headers))

    def slash(self, text: str) -> None:
        body = payloads.slash_command(
            command="/iam", text=self.as_slack_text(text), user_id=self.me.user_id, user_name=self.me.name,
            team_id=TEAM_ID, team_domain=TEAM_DOMAIN, channel_id=GENERAL, channel_name=CHANNELS[GENERAL],
            response_url=self.slack.issue_response_url(Origin(self.me.user_id, GENERAL)),
            trigger_id=self.slack.trigger(self.me.user_id))
        self.send(body, channel=GENERAL, what="/iam")

    def as_slack_text(self, text: str) -> str:
        """What Slack sends for typed text with should_escape: &, <, > escaped, @people as mentions."""
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return " ".join(self.mention(word) if word.startswith("@") else word for word in text.split(" "))

    def mention(self, word: str) -> str:
        """`@jane` as Slack sends it once picked from its list; unknown names stay as typed."""
        name = word[1:].lower()
        if name in ("here", "channel", "everyone"):
            return f"<!{name}>"
        if name == APPROVER_GROUP_HANDLE:
            return f"<!subteam^{APPROVER_GROUP}|@{APPROVER_GROUP_HANDLE}>"
        if name == BOT_NAME:
            return f"<@{BOT_USER_ID}|{BOT_NAME}>"
        someone = person(name) if name else None
        return f"<@{someone.user_id}|{someone.name}>" if someone else word

    def send(self, body: str, *, channel: str, what: str) -> BoltResponse:
        """Dispatch; show the ack before anything the listeners send meanwhile; wait for them."""
        self.terminal.hold()
        try:
            response = self.dispatch(body)
            self.show_ack(response, channel, what)
        finally:
            self.terminal.release()
        if not self.executor.wait_idle(SETTLE_SECONDS):
            self.say("(the bot is still working; what it sends will appear when it is done)")
        return response

    def show_ack(self, response: BoltResponse, channel: str, what: str) -> None:
        """The ack as Slack shows it; one Slack would refuse shows Slack's error instead."""
        if response.status != 200:
            self.screen.show_error(self.me.user_id, channel, f"{what} failed with the error \"http_{response.status}\"")
            return
        refusal = ack_refusal(response.body)
        if refusal:
            log.debug("Slack would refuse the ack of %s: %s", what, refusal)
            self.screen.show_error(self.me.user_id, channel, f"{what} failed with the error \"{refusal.error}\"")
            self.screen.refused("the ack", refusal)
            return
        answer = _json(response.body)
        if answer is None:
            if response.body and response.body.strip():
                self.slack.post_ephemeral(self.me.user_id, channel, response.body, ack=True)
            return
        if "response_action" in answer:
            return
        if answer.get("text") or answer.get("blocks"):
            if answer.get("response_type") == "in_channel":
                self.slack.post_message(channel, answer.get("text", ""), answer.get("blocks"))
            else:
                self.slack.post_ephemeral(self.me.user_id, channel, answer.get("text", ""), answer.get("blocks"),
                                          ack=True)

    def deactivate(self, name: str) -> None:
        """An admin deactivates someone's Slack account: Slack tells the bot with a `user_change` event."""
        someone = person(name) if name else None
        if someone is None:
            raise ShellError(f"Deactivate whom? Type: deactivate <name>, one of {', '.join(p.name for p in PEOPLE)}.")
        user = self.slack.users[someone.user_id]
        user["deleted"] = True
        body = json.dumps({
            "token": "unused", "team_id": TEAM_ID, "api_app_id": "A0IAMBOT", "type": "event_callback",
            "event_id": f"Ev{int(time.time() * 1000)}", "event_time": int(time.time()),
            "event": {"type": "user_change", "user": dict(user), "event_ts": f"{time.time():.6f}"}})
        self.say(f"(A Slack admin deactivated {someone.name}'s account; Slack sends the bot a user_change event.)")
        headers = {name.lower(): value for name, value in
                   payloads.signed_headers(self.signing_secret, body, content_type="application/json").items()}
        response = self.app.dispatch(BoltRequest(body=body, headers=headers))
        if response.status != 200:
            self.say(f"(The bot answered the event with HTTP {response.status}.)")
        if not self.executor.wait_idle(SETTLE_SECONDS):
            self.say("(the bot is still working; what it sends will appear when it is done)")

    # -- the App Home -------------------------------------------------------------------------

    def home(self) -> None:
        """Open the bot's Home tab: Slack sends `app_home_opened`, the bot publishes the home, and it
        is drawn with its buttons numbered like any message's."""
        self.say(f"({self.me.name} opens the Home tab of {BOT_NAME}; Slack sends the bot an app_home_opened event.)")
        if self.follow_homes is not None:
            self.follow_homes()  # what changed since (the duty runs every tick in a real deployment)
        body = payloads.app_home_opened(user_id=self.me.user_id, team_id=TEAM_ID, channel="D" + self.me.user_id[1:],
                                        event_id=f"Ev{int(time.time() * 1000)}")
        headers = {name.lower(): value for name, value in
                   payloads.signed_headers(self.signing_secret, body, content_type="application/json").items()}
        response = self.app.dispatch(BoltRequest(body=body, headers=headers))
        if response.status != 200:
            self.say(f"(The bot answered the event with HTTP {response.status}.)")
        self.show_home()

    def show_home(self, *, again: bool = False) -> None:
        """Wait for the home's publish owed now or within its window, then draw it."""
        if not self.executor.wait_idle(SETTLE_SECONDS) or not self._home_settled():
            self.say("(the bot is still working; what it sends will appear when it is done)")
        home = self.slack.home(self.me.user_id)
        if home is None:
            self.say(f"(The bot published no App Home for {self.me.name}.)")
            return
        self.screen.show_home(home, again=again)

    def _home_settled(self, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            owed = [job for job in self.store.jobs(kind=HOME_JOB, done=False)
                    if job.payload.get("user_id") == self.me.user_id]
            if not owed:
                return True
            time.sleep(0.05)
        return False

    # -- buttons ----------------------------------------------------------------------------

    def click_line(self, rest: str) -> None:
        words = rest.replace("[", " ").replace("]", " ").split()
        if not words:
            raise ShellError('Press a button by its number or its label: click 1, click "Reveal password"')
        if words[0].isascii() and words[0].isdigit():
            answer = words[1].lower() if len(words) > 1 else None
            self.click(int(words[0]), answer)
            return
        button, answer = self.button_labelled(rest)
        self.click(button.number, answer)

    def button_labelled(self, rest: str):
        """The button `click <label>` means, and the answer to its confirmation if one was typed:
        `click "Reveal password"`, `click Reveal password`, `click Approve y`."""
        quoted = rest[0] in "\"'“‘"
        if quoted:
            closing = {"“": "”", "‘": "’"}.get(rest[0], rest[0])
            label, _, after = rest[1:].partition(closing)
            tries = [(label, after.strip().lower() or None)]
        else:
            tries = [(rest, None)]
            label, _, last = rest.rpartition(" ")
            if label.strip() and last.lower() in YES + NO:
                tries.append((label, last.lower()))
        for label, answer in tries:
            button = self.screen.labelled(label, self.me.user_id)
            if button is not None:
                return button, answer
        label = tries[-1][0].strip()
        elsewhere = self.screen.labelled(label, None)
        if elsewhere is not None and self.screen.is_current(elsewhere):
            owner = self.screen.name_of(self.screen.audience(elsewhere.message))
            raise ShellError(f'{self.me.name} cannot see a button "{label}": only {owner} sees it. '
                             f"To press it, first type: as {owner}")
        labels = list(dict.fromkeys(self.screen.label(b) for b in self.screen.live_buttons(self.me.user_id)))
        if not labels:
            raise ShellError(f'There is no button "{label}": {self.me.name} has no buttons to press right now.')
        on_screen = ", ".join(f'"{text}"' for text in labels)
        raise ShellError(f'There is no button "{label}" that {self.me.name} can press. On screen: {on_screen}. '
                         "Type buttons to list them with their numbers.")

    def click(self, number: int, answer: str | None = None) -> None:
        button = self.screen.button(number)
        if button is None:
            raise ShellError(f"There is no button [{number}]. Type buttons to list the ones you can press.")
        message = button.message
        audience = self.screen.audience(message)
        if audience not in (None, self.me.user_id):
            owner = self.screen.name_of(audience)
            raise ShellError(f"{self.me.name} cannot see button [{number}]: only {owner} sees that message. "
                             f"To press it, first type: as {owner}")
        if not self.screen.is_current(button):
            # Slack has removed it, but a screen that has not caught up yet can still send it:
            # pressing it shows what the bot does with a late second click.
            self.say(f"(Button [{number}] is no longer on that message; pressing it anyway, as a screen "
                     "that had not caught up yet would.)")
        element = button.element
        label = plain(element.get("text"), self.screen, self.terminal.style)
        if element.get("confirm") and not self.confirmed(element["confirm"], answer):
            self.say("Cancelled; nothing was sent to the bot.")
            return
        self.say(f"({self.me.name} pressed {label})")
        if self.screen.is_home(message):
            view = {"type": "home", "callback_id": HOME_CALLBACK, "blocks": message.blocks}
            body = payloads.home_block_actions(
                user_id=self.me.user_id, user_name=self.me.name, team_id=TEAM_ID, team_domain=TEAM_DOMAIN, view=view,
                view_id=f"V{self.me.user_id[1:]}", view_hash=message.ts, button=element, block_id=button.block_id,
                trigger_id=self.slack.trigger(self.me.user_id))
            self.send(body, channel=message.channel, what=label)
            self.fill_modals()
            self.show_home(again=True)
            return
        body = payloads.block_actions(
            user_id=self.me.user_id, user_name=self.me.name, team_id=TEAM_ID, team_domain=TEAM_DOMAIN,
            channel_id=message.channel, channel_name=CHANNELS.get(message.channel, "directmessage"),
            message_ts=message.ts, message_text=message.text, message_blocks=message.blocks,
            is_ephemeral=bool(message.only), button=element, block_id=button.block_id, bot_user_id=BOT_USER_ID,
            response_url=self.slack.issue_response_url(Origin(self.me.user_id, message.channel, message)),
            trigger_id=self.slack.trigger(self.me.user_id))
        self.send(body, channel=message.channel, what=label)
        self.fill_modals()

    def confirmed(self, confirm: dict, answer: str | None) -> bool:
        """Slack's confirmation dialog: a title, a text, and two buttons."""
        style = self.terminal.style
        yes = plain(confirm.get("confirm"), self.screen, style) or "Yes"
        no = plain(confirm.get("deny"), self.screen, style) or "Cancel"
        title = plain(confirm.get("title"), self.screen, style)
        self.terminal.show(f"{style.rule} \"{title}\"{style.dot}only visible to {self.me.name}",
                           [plain(confirm.get("text"), self.screen, style), f"[{yes}]   [{no}]"])
        if answer is None:
            answer = self.lines.read(f"{yes}? (y/n) ")
            if answer is None:
                return False
        word = answer.strip().lower()
        if word in YES or word == yes.lower():
            return True
        if word not in NO and word != no.lower():
            # Not an answer at all: the dialog closes, and the line is taken as the next command.
            self.say(f"(Not y or n: the dialog closes, and {answer.strip()!r} is the next command.)")
            self.lines.push_back(answer)
        return False

    def buttons(self) -> None:
        live = self.screen.live_buttons(self.me.user_id)
        if not live:
            self.say(f"No buttons that {self.me.name} can press right now.")
            return
        for button in live:
            label = plain(button.element.get("text"), self.screen, self.terminal.style)
            where = self.screen.where(button.message.channel)
            message_number = self.screen.number_of(button.message)
            number = f" message {message_number}" if message_number else ""
            self.say(f"  [{button.number}] {label}  ({where}{number})")

    # -- modals -----------------------------------------------------------------------------

    def fill_modals(self) -> None:
        for modal in self.screen.take_modals(self.me.user_id):
            self.fill(modal)

    def fill(self, modal: Modal) -> None:
        """Ask for each input of the modal, then submit it as Slack would; again if the bot says so."""
        view = modal.view
        for _ in range(FORM_ATTEMPTS):
            values = self.ask_fields(view)
            if values is None:
                self.say("The form is closed; nothing was sent to the bot.")
                return
            body = payloads.view_submission(
                user_id=self.me.user_id, user_name=self.me.name, team_id=TEAM_ID, team_domain=TEAM_DOMAIN,
                view=view, view_id=modal.view_id, view_hash=modal.hash, values=values,
                trigger_id=self.slack.trigger(self.me.user_id))
            title = plain(view.get("title"), self.screen, self.terminal.style)
            response = self.send(body, channel=APPROVALS, what=title)
            answer = _json(response.body) or {}
            if response.status == 200 and answer.get("response_action") == "errors":
                for error in (answer.get("errors") or {}).values():
                    self.say(f"  The form says: {error}")
                continue
            if response.status == 200 and answer.get("response_action") in ("update", "push") and answer.get("view"):
                view = answer["view"]
                modal = Modal(self.me.user_id, modal.view_id, view)
                self.screen.show_modal(modal)
                continue
            return
        self.say("The form is closed; nothing more was sent to the bot.")

    def ask_fields(self, view: dict) -> dict | None:
        """The view's state.values as Slack would send them, or None if the person cancelled."""
        values: dict = {}
        inputs = [b for b in view.get("blocks") or [] if b.get("type") == "input"]
        if inputs:
            self.say(f"  Fill in the form, one line per field; {CANCEL} closes it without sending.")
        for block in inputs:
            element = block.get("element") or {}
            label = plain(block.get("label"), self.screen, self.terminal.style)
            if element.get("type") != "plain_text_input":
                self.say(f"  The shell cannot fill in a {element.get('type')} field.")
                return None
            while True:
                value = self.lines.read(f"  {label}> ")
                if value is None or value.strip() == CANCEL:
                    return None
                if not value.strip() and not block.get("optional"):
                    self.say("  Please fill out this required field.")  # Slack's own words
                    continue
                longest, shortest = element.get("max_length"), element.get("min_length")
                if longest and len(value) > longest:
                    self.say(f"  At most {longest} characters, please.")
                    continue
                if shortest and len(value) < shortest:
                    self.say(f"  At least {shortest} characters, please.")
                    continue
                break
            values[block.get("block_id", "")] = {element.get("action_id", ""): payloads.text_input(value or None)}
        return values

    # -- time ----------------------------------------------------------------------------

    def wait(self, rest: str) -> None:
        """Let time pass (the bot's clock only), then run its background duties once, as the
        process holding the duties lease would: reminders, expiries, the scheduled audit."""
        try:
            delta = parse_duration(rest)
        except ValueError:
            raise ShellError("Wait how long? For example: wait 1h (s, m, h or d).") from None
        if self.clock is None or self.duties is None:
            raise ShellError("This shell has no clock to move.")
        self.clock.advance(delta)
        self.say(f"({rest.strip()} later)")
        self.terminal.hold()
        try:
            self.duties()
        finally:
            self.terminal.release()
        if not self.executor.wait_idle(SETTLE_SECONDS):
            self.say("(the bot is still working; what it sends will appear when it is done)")

    # -- the audit trail --------------------------------------------------------------------

    def events(self) -> None:
        events = self.store.events()
        if not events:
            self.say("No events yet.")
            return
        for event in events:
            who = self.screen.name_of(event.actor_id) if event.actor_id else BOT_NAME
            request = f"#{event.request_id}" if event.request_id else "-"
            detail = f"  {event.detail}" if event.detail else ""
            self.say(f"  {event.at.astimezone():%H:%M:%S}  {request:<4} {who:<7} {event.what}{detail}")

    # -- words ------------------------------------------------------------------------------

    def banner(self, db_path: str) -> None:
        aws = self.aws
        people = "\n".join(f"    {p.name:<6} {p.role}" for p in PEOPLE)
        self.say(f"""\
iam-bot shell: the whole bot on this machine. Slack is a stand-in drawn in this terminal,
AWS is moto in this process; no tokens, no AWS account, nothing leaves this machine.

You are {self.me.name}, typing in #general; approval cards go to #iam-approvals. People:
{people}
AWS account {aws.account_id} ({aws.alias}): groups {', '.join(aws.groups)};
    Admins has AdministratorAccess, so it is sensitive: a request for it needs two approvers;
    user {aws.sample_user} with {aws.sample_keys} access keys, and a console password but no MFA device;
    password policy: at least {aws.password_length} characters with upper and lower case, digits and symbols.
SQLite: {db_path} (new at every start, deleted at exit)

Try it:
    /iam create jane.doe Developers   as alice, ask for an IAM user for jane
    as bob, click Approve, y          bob approves (alice may not: she asked)
    as jane, click Reveal password    jane reveals her first password, once
    /iam keys sam.sample              as bob, the sample user's access keys

{self.commands()}""")

    @staticmethod
    def commands() -> str:
        return """\
Shell commands:
    /iam ...       the bot's slash command, typed by you (/iam help for its usage)
    as <name>      act as someone else: alice, bob, carol, jane
    click <n>      press button [n]; buttons are numbered once, in the order they appear
    click <label>  press the first button on screen with that label: click Approve, click "Reveal password"
    buttons        list the buttons you can press now
    who            list the people      events   the bot's audit trail
    wait <time>    let time pass (wait 1h, wait 2d): reminders, expiries and scheduled work happen
    deactivate <name>  a Slack admin deactivates that person (the bot offboards them)
    home           open the bot's Home tab: your IAM users, your open requests, what waits for you
    help           this list            quit     leave (so does end of input)
A button's confirmation asks y/n; a form (modal) asks for each field in turn, /cancel closes it."""

    def help(self) -> None:
        self.say(self.commands())


def _json(body) -> dict | None:
    if isinstance(body, dict):
        return body
    if not body or not isinstance(body, str):
        return None
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
