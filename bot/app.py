"""`create_app(settings, deps)`: the Bolt app, its middleware and listeners. No I/O at import."""

from __future__ import annotations

import logging
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass

from slack_bolt import App, BoltResponse
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from commands.guardrails import Guardrails
from commands.iam import IamGateway
from commands.audit import Audit
from commands.keys import KeyFlow, access_key_kind
from commands.mfa import MfaWatch
from commands.offboard import Offboarding, Protected, offboarding_kinds
from commands.passwords import generate_password
from commands.reminders import Reminders
from commands.settings import Settings
from commands.workflow import Clock, PasswordGenerator, Policy, Workflow, utc_now
from storage import Store

from . import keys_blocks  # noqa: F401  (adds the access-key card, DMs and reveal to the tables)
from . import listeners, mfa
from .logs import bolt_logger, quiet_chatty_loggers
from .keys_notify import key_work
from .notify import Notifier
from .people import Approvers
from .services import CONTEXT_KEY, Services
from .signature import SlackSignature, attach
from .work import InFlight, Runner
from .words import OTHER_WORKSPACE

log = logging.getLogger(__name__)

# The listener pool runs what a click does after its ack (Slack and AWS calls): no ack waits for
# it (bot/listeners/handoff.py); Bolt's default of 5 threads would make clicks queue under load.
LISTENER_THREADS = 32



@dataclass
class Deps:
    """What the app is built from; tests and the shell pass their own."""

    store: Store
    iam: IamGateway  # with its STS client: which AWS identity the bot is (never removed)
    clock: Clock = utc_now
    passwords: PasswordGenerator = generate_password
    client: WebClient | None = None
    listener_executor: Executor | None = None  # None: a pool of LISTENER_THREADS
    work_threads: int = 8
    in_flight: InFlight | None = None  # the requests the server is answering: work lets them go first




def retry_handlers() -> list:
    """Slack's own answers to load: wait out a 429 (Retry-After) once, and retry a dropped connection."""
    return [ConnectionErrorRetryHandler(max_retry_count=2), RateLimitErrorRetryHandler(max_retry_count=1)]


def web_client(settings: Settings) -> WebClient:
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return WebClient(token=token, base_url=settings.slack_api_url, timeout=10, retry_handlers=retry_handlers())


@dataclass(frozen=True)
class BotApp:
    """What `create_app` builds: the Bolt app, and the services the entry points run in the background."""

    app: App
    services: Services


def create_app(settings: Settings, deps: Deps) -> BotApp:
    # Whoever builds the app, the SDK's DEBUG body logging (passwords, response URLs) stays off.
    quiet_chatty_loggers()
    client = deps.client or web_client(settings)
    # The one auth.test: it names our workspace, and Bolt's authorization reuses it for every request.
    auth = client.auth_test()
    team_id = auth["team_id"]
    protected = Protected(user_path=settings.iam_bot_user_path, protected=settings.iam_bot_protected_users)
    offboard_kinds = offboarding_kinds(deps.store, deps.iam, deps.clock, protected, deps.passwords)
    workflow = Workflow(
        deps.store, deps.iam,
        Policy(team_id=team_id, user_path=settings.iam_bot_user_path,
               request_ttl=settings.iam_bot_request_ttl, reveal_ttl=settings.iam_bot_reveal_ttl,
               work_hold=settings.iam_bot_work_hold,
               guardrails=Guardrails(sensitive_groups=settings.iam_bot_sensitive_groups,
                                     mfa_group=settings.iam_bot_mfa_group, mfa_grace=settings.iam_bot_mfa_grace)),
        clock=deps.clock, passwords=deps.passwords,
        kinds=(access_key_kind(deps.store, deps.iam, deps.clock), *offboard_kinds),
    )
    notifier = Notifier(client, workflow, settings)
    pool = deps.listener_executor or ThreadPoolExecutor(LISTENER_THREADS, thread_name_prefix="listener")
    runner = Runner(workflow, notifier.handlers(), threads=deps.work_threads, in_flight=deps.in_flight)
    built = Services(settings=settings, workflow=workflow, notifier=notifier,
                     approvers=Approvers(settings.iam_bot_approvers, deps.clock), runner=runner, client=client,
                     team_id=team_id, listeners=pool,
                     keys=KeyFlow(workflow, deps.store, deps.iam, grace=settings.iam_bot_rotation_grace),
                     offboarding=Offboarding(workflow, deps.store, deps.iam, protected, kinds=offboard_kinds,
                                             disable_on_deactivation=settings.iam_bot_on_slack_deactivation == "disable"),
                     reminders=Reminders(workflow, deps.store), audit=Audit(workflow, deps.store, deps.iam),
                     mfa=MfaWatch(workflow, deps.store, deps.iam))
    runner.handlers.update(work_handlers(built))
    runner.handlers.update(key_work(built))
    runner.handlers.update(mfa.work_handlers(built))
    authorized = AuthorizeResult.from_auth_test_response(auth_test_response=auth, bot_token=client.token)
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None

    def guard(req, resp, next):
        """From our own workspace, or refused and nothing changes. HTTP signatures are checked at the
        edge (bot/server.py), on the raw body, before Bolt parses it; Socket Mode has none."""
        if req.mode != "socket_mode" and req.body.get("type") == "url_verification":
            return next()  # Slack checking the events URL: signed (checked at the edge), no team; Bolt answers it
        if req.context.team_id != team_id:
            log.info("refused a request from another workspace")
            if req.mode == "socket_mode":
                # Socket Mode has no status code: an unacknowledged request shows a dispatch error.
                return BoltResponse(status=200, body={"response_type": "ephemeral", "text": OTHER_WORKSPACE})
            return BoltResponse(status=401, body="invalid request")
        req.context[CONTEXT_KEY] = built
        return next()

    app = App(
        # Bolt gets a client without a token: the token comes with each request's authorization.
        client=WebClient(base_url=client.base_url, timeout=client.timeout, retry_handlers=retry_handlers()),
        authorize=lambda: authorized,
        signing_secret=secret or "unused-in-socket-mode",
        request_verification_enabled=False,
        ssl_check_enabled=False,
        before_authorize=guard,
        listener_executor=pool,
        # A request is answered as soon as its listener returns (no 10 ms poll for the ack): every
        # listener acks at once and leaves its slow part to the Runner or the listener pool.
        process_before_response=True,
        logger=bolt_logger(),
    )
    attach(app, SlackSignature(secret, deps.clock) if secret else None)
    app.error(_last_resort)
    listeners.register(app)
    return BotApp(app=app, services=built)


def work_handlers(svc: Services) -> dict:
    """The work that is the domain's (provisioning) or a listener's slow part (a command)."""
    from commands.workflow import Owed

    from commands.audit import AUDIT_POST

    from .audit_work import post_scheduled_audit
    from commands.offboard import LEAVER_JOB

    from .listeners.offboard import act_on_leaver
    from .listeners.slash import run_command

    return {
        Owed.PROVISION: lambda job: svc.workflow.provision(job.request_id),
        Owed.COMMAND: lambda job: run_command(svc, job),
        AUDIT_POST: lambda job: post_scheduled_audit(svc, job),
        LEAVER_JOB: lambda job: act_on_leaver(svc, job),
    }


def _last_resort(error, body, logger):
    logger.exception("unhandled error in a listener", exc_info=error)
    return BoltResponse(status=500, body="")
