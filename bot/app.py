"""`create_app(settings, deps)`: the Bolt app, its middleware and listeners. No I/O at import."""

from __future__ import annotations

import logging
from concurrent.futures import Executor
from dataclasses import dataclass

from slack_bolt import App, BoltResponse
from slack_sdk import WebClient

from commands.iam import IamGateway
from commands.passwords import generate_password
from commands.settings import Settings
from commands.workflow import Clock, PasswordGenerator, Policy, Workflow, utc_now
from storage import Store

from . import listeners
from .logs import bolt_logger, quiet_chatty_loggers
from .notify import Notifier
from .signature import SlackSignature, attach

log = logging.getLogger(__name__)

CONTEXT_KEY = "iam_bot"


@dataclass
class Deps:
    """What the app is built from; tests and the shell pass their own."""

    store: Store
    iam: IamGateway
    clock: Clock = utc_now
    passwords: PasswordGenerator = generate_password
    client: WebClient | None = None
    listener_executor: Executor | None = None


@dataclass
class Services:
    """What every listener gets through `context["iam_bot"]`."""

    settings: Settings
    workflow: Workflow
    notifier: Notifier
    team_id: str


def web_client(settings: Settings) -> WebClient:
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return WebClient(token=token, base_url=settings.slack_api_url, timeout=10)


@dataclass(frozen=True)
class BotApp:
    """What `create_app` builds: the Bolt app, and the services the entry points run in the background."""

    app: App
    services: Services


def create_app(settings: Settings, deps: Deps) -> BotApp:
    # Whoever builds the app, the SDK's DEBUG body logging (passwords, response URLs) stays off.
    quiet_chatty_loggers()
    client = deps.client or web_client(settings)
    auth = client.auth_test()
    team_id = auth["team_id"]
    workflow = Workflow(
        deps.store, deps.iam,
        Policy(team_id=team_id, user_path=settings.iam_bot_user_path,
               request_ttl=settings.iam_bot_request_ttl, reveal_ttl=settings.iam_bot_reveal_ttl),
        clock=deps.clock, passwords=deps.passwords,
    )
    services = Services(settings=settings, workflow=workflow, notifier=Notifier(client, workflow, settings),
                        team_id=team_id)
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None

    def guard(req, resp, next):
        """From our own workspace, or 401 and nothing changes. HTTP signatures are checked at the
        edge (bot/server.py), on the raw body, before Bolt parses it; Socket Mode has none."""
        if req.context.team_id != team_id:
            log.info("refused a request from another workspace")
            return BoltResponse(status=401, body="invalid request")
        req.context[CONTEXT_KEY] = services
        return next()

    app = App(
        client=client,
        signing_secret=secret or "unused-in-socket-mode",
        # Bolt's authorization caches auth.test; calling it now keeps it off the first ack.
        token_verification_enabled=True,
        request_verification_enabled=False,
        ssl_check_enabled=False,
        before_authorize=guard,
        listener_executor=deps.listener_executor,
        process_before_response=False,
        logger=bolt_logger(),
    )
    attach(app, SlackSignature(secret, deps.clock) if secret else None)
    app.error(_last_resort)
    listeners.register(app)
    return BotApp(app=app, services=services)


def _last_resort(error, body, logger):
    logger.exception("unhandled error in a listener", exc_info=error)
    return BoltResponse(status=500, body="")
