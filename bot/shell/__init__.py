"""`iam-bot shell`: the whole bot on this machine, with no Slack workspace and no AWS account.

Like Hubot's Shell adapter or errbot's text backend: a person types `/iam create ...` as one
of a few sample colleagues, switches person with `as bob`, presses buttons with `click 1`,
and sees what Slack would show each of them. Underneath it is the real app: signed requests
through `app.dispatch` (`payloads.py`), a stand-in for Slack's Web API on 127.0.0.1, strict
like Slack and shared with the tests (`slack.py`, `blockkit.py`), drawn in the terminal
(`screen.py`, `render.py`), moto for AWS (`aws.py`), and a new SQLite file. Every start is
the same fresh world (`world.py`).

With stdin not a terminal, lines are read one by one and the shell exits at end of input,
so a whole story can be scripted.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import sys
import tempfile

# The sample world's approval rules (docs/rules.md): per-group approvers, a deny, auto-approve and break-glass.
RULES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rules.toml")


def main() -> None:
    """Build the sample world, run the shell until quit or end of input, then tear it all down."""
    from commands.settings import SettingsError, load_settings
    from storage import open_store

    from ..app import Deps, create_app
    from ..background import Duties
    from ..cli import read_rules
    from .aws import MotoMissing, start_sample_aws
    from .credential_report import ReportFiller
    from .render import Terminal
    from .screen import Screen
    from .session import Lines, Shell, TrackingExecutor
    from .world import APPROVALS, APPROVERS, EMAIL_DOMAIN, sample_slack

    _quiet_logging()
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="replace")  # a terminal without UTF-8 gets '?' for an emoji, not a crash
    terminal = Terminal(sys.stdout)
    try:
        aws = start_sample_aws()
    except MotoMissing as error:
        print(f"iam-bot: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    workdir = tempfile.mkdtemp(prefix="iam-bot-shell-")
    db_path = os.path.join(workdir, "iam-bot.db")
    store = slack = executor = runner = None
    try:
        token = "xoxb-local-shell"
        signing_secret = secrets.token_hex(16)
        store = open_store(f"sqlite:///{db_path}")
        slack = sample_slack(token)
        screen = Screen(terminal, slack)
        slack.watch(screen)
        slack.start()
        # Every value given here, so that nothing in this machine's environment changes the demo.
        settings = load_settings(
            environment=False,
            slack_bot_token=token, slack_signing_secret=signing_secret, slack_app_token=None,
            slack_api_url=slack.api_url, iam_bot_approvals_channel=APPROVALS, iam_bot_approvers=",".join(APPROVERS),
            iam_bot_email_domain=EMAIL_DOMAIN, iam_bot_user_path="/", iam_bot_request_ttl="24h",
            iam_bot_reveal_ttl="24h", database_url=f"sqlite:///{db_path}", port=3000,
            iam_bot_rules_file=RULES_FILE,
        )
        try:
            rules = read_rules(settings)
        except SettingsError as error:
            print(f"iam-bot: {error}", file=sys.stderr)
            raise SystemExit(2) from None
        executor = TrackingExecutor()
        clock = ShellClock()  # `wait 2h` moves it: reminders and expiries without waiting for real
        # moto's credential report as AWS would write it: a root row (MFA on, no keys), dated now.
        ReportFiller(aws.gateway.client, root_mfa=True, root_keys=0, generated=clock.now)
        built = create_app(settings, Deps(store=store, iam=aws.gateway, listener_executor=executor, clock=clock.now,
                                          rules=rules, account_clients=aws.account_clients))
        runner = built.services.runner.start()
        shell = Shell(app=built.app, slack=slack, screen=screen, executor=Settled(executor, runner), store=store, aws=aws,
                      signing_secret=signing_secret, terminal=terminal, lines=Lines(sys.stdin, terminal),
                      duties=lambda: Duties(built.services, built.duties).tick(), clock=clock,
                      follow_homes=built.feature("home").duties[0].run)
        shell.banner(db_path)
        try:
            shell.run()
        except KeyboardInterrupt:
            terminal.release()
            terminal.say("")
        terminal.say("Bye. The sample AWS account and the SQLite file are gone; the next start is a fresh world.")
    finally:
        if executor is not None:
            executor.wait_idle(10)
            executor.shutdown(wait=False, cancel_futures=True)
        if runner is not None:
            runner.stop(wait=True)  # work in flight (a home publish, a DM) ends before the store and moto go
        if slack is not None:
            slack.stop()
        if store is not None:
            store.close()
        aws.stop()
        shutil.rmtree(workdir, ignore_errors=True)


class ShellClock:
    """The shell's time: this machine's, plus however long the person has typed `wait` for."""

    def __init__(self):
        import datetime as dt

        self.ahead = dt.timedelta(0)
        self._dt = dt

    def now(self):
        return self._dt.datetime.now(self._dt.timezone.utc) + self.ahead

    def advance(self, delta) -> None:
        self.ahead += delta


class Settled:
    """The listeners' pool and the durable work they set off, waited for together before the next prompt."""

    def __init__(self, executor, runner):
        self.executor, self.runner = executor, runner

    def wait_idle(self, timeout: float) -> bool:
        from ..work import settle

        return settle(self.runner, self.executor.wait_idle, timeout)


def _quiet_logging() -> None:
    """Warnings only, unless LOG_LEVEL asks for more: the conversation is the output here."""
    if "LOG_LEVEL" not in os.environ:
        logging.getLogger().setLevel(logging.WARNING)
