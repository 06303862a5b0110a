"""`create_app(settings, deps, features)`: the Bolt app, built from the list of features. No I/O at import."""

from __future__ import annotations

import logging
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass

from slack_bolt import App, BoltResponse
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from commands.accounts import AccountGateway, AccountRegistry, ClientFactory, aws_clients, in_account
from commands.approvals import Approvals
from commands.guardrails import Guardrails
from commands.iam import IamGateway
from commands.passwords import generate_password
from commands.ruleset import Rules, rules_from_settings
from commands.settings import Settings
from commands.workflow import Clock, PasswordGenerator, Policy, Workflow, utc_now
from storage import Store

from .audit_log import audit_log_duties
from .background import prune_jobs
from .feature import Duty, Feature, Looks, merge
from .features import FEATURES
from .logs import bolt_logger, quiet_chatty_loggers
from .metrics import SlackCalls
from .notify import Notifier
from .people import UserGroups
from .router import route
from .services import Services
from .signature import SlackSignature, attach
from .work import InFlight, Runner
from .words import OTHER_WORKSPACE

log = logging.getLogger(__name__)

# The listener pool runs what a click does after its ack (Slack and AWS calls): no ack waits for
# it (bot/router.py after_ack); Bolt's default of 5 threads would make clicks queue under load.
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
    rules: Rules | None = None  # None: read at start-up (IAM_BOT_RULES_FILE, else the environment)
    # With [[account]]s: the IAM and STS clients on an assumed role's credentials (None: boto3's, for AWS).
    account_clients: ClientFactory | None = None




def retry_handlers() -> list:
    """Slack's own answers to load: wait out a 429 (Retry-After) once, and retry a dropped connection.
    First, `SlackCalls`, which retries nothing: it counts every attempt for the metrics."""
    return [SlackCalls(), ConnectionErrorRetryHandler(max_retry_count=2), RateLimitErrorRetryHandler(max_retry_count=1)]


def web_client(settings: Settings) -> WebClient:
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return WebClient(token=token, base_url=settings.slack_api_url, timeout=10, retry_handlers=retry_handlers())


@dataclass(frozen=True)
class BotApp:
    """What `create_app` builds: the Bolt app, the services and features it is made of, and the
    duties the entry points run in the background (`bot.background.Duties`)."""

    app: App
    services: Services
    features: tuple[Feature, ...]
    duties: tuple[Duty, ...]

    def feature(self, name: str) -> Feature:
        [found] = [f for f in self.features if f.name == name]
        return found


def create_app(settings: Settings, deps: Deps, features=FEATURES) -> BotApp:
    """The app, from the features: each `feature(svc)` in `features` is called once with the shared
    services; the router, the Runner, the Notifier and the duties take their tables from what they give."""
    # Whoever builds the app, the SDK's DEBUG body logging (passwords, response URLs) stays off.
    quiet_chatty_loggers()
    client = deps.client or web_client(settings)
    # The one auth.test: it names our workspace, and Bolt's authorization reuses it for every request.
    auth = client.auth_test()
    team_id = auth["team_id"]
    rules = deps.rules or rules_from_settings(settings)  # RulesError: one line naming the key
    user_groups = UserGroups(deps.clock)
    accounts, iam = None, deps.iam
    if rules.accounts:  # several AWS accounts: each call goes to the account of the work in hand
        accounts = AccountRegistry(rules.accounts, own=deps.iam, sts=deps.iam.sts,
                                   clients=deps.account_clients or aws_clients, clock=deps.clock)
        iam = AccountGateway(accounts)
    workflow = Workflow(
        deps.store, iam,
        Policy(team_id=team_id, user_path=settings.iam_bot_user_path, boundary=settings.iam_bot_permissions_boundary,
               request_ttl=settings.iam_bot_request_ttl, reveal_ttl=settings.iam_bot_reveal_ttl,
               work_hold=settings.iam_bot_work_hold,
               guardrails=Guardrails(sensitive_groups=settings.iam_bot_sensitive_groups,
                                     mfa_group=settings.iam_bot_mfa_group, mfa_grace=settings.iam_bot_mfa_grace)),
        clock=deps.clock,
        approvals=Approvals(rules, lambda person, group: user_groups.member(client, person, group)),
    )
    looks = Looks()  # the features' looks, merged below
    work: dict = {}  # the features' work, merged below
    pool = deps.listener_executor or ThreadPoolExecutor(LISTENER_THREADS, thread_name_prefix="listener")
    svc = Services(settings=settings, workflow=workflow, notifier=Notifier(client, workflow, settings, looks),
                   user_groups=user_groups,
                   runner=Runner(workflow, work, threads=deps.work_threads, in_flight=deps.in_flight),
                   client=client, team_id=team_id, listeners=pool, store=deps.store, iam=iam, clock=deps.clock,
                   passwords=deps.passwords, accounts=accounts)
    if accounts is not None:  # a request's work runs in the request's account; its card goes to its channel
        svc.notifier.accounts = accounts
        svc.runner.scope = lambda job: in_account(deps.store.get(job.request_id).account if job.request_id else None)
    built = tuple(make(svc) for make in features)
    for feature in built:
        merge(workflow.kinds, {kind.name: kind for kind in feature.kinds}, feature.name)
        looks.add(feature.looks, feature.name)
        merge(work, feature.work, feature.name)
    authorized = AuthorizeResult.from_auth_test_response(auth_test_response=auth, bot_token=client.token)
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None

    def our_workspace_only(req, resp, next):
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
        return next()

    app = App(
        # Bolt gets a client without a token: the token comes with each request's authorization.
        client=WebClient(base_url=client.base_url, timeout=client.timeout, retry_handlers=retry_handlers()),
        authorize=lambda: authorized,
        signing_secret=secret or "unused-in-socket-mode",
        request_verification_enabled=False,
        ssl_check_enabled=False,
        before_authorize=our_workspace_only,
        listener_executor=pool,
        # A request is answered as soon as its listener returns (no 10 ms poll for the ack): every
        # listener acks at once and leaves its slow part to the Runner or the listener pool.
        process_before_response=True,
        logger=bolt_logger(),
    )
    attach(app, SlackSignature(secret, deps.clock) if secret else None)
    app.error(_last_resort)
    merge(work, route(app, svc, built), "the router")
    duties = (*(duty for feature in built for duty in feature.duties), prune_jobs(svc), *audit_log_duties(svc))
    return BotApp(app=app, services=svc, features=built, duties=duties)


def _last_resort(error, body, logger):
    logger.exception("unhandled error in a listener", exc_info=error)
    return BoltResponse(status=500, body="")
