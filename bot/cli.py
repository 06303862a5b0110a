"""`iam-bot serve | socket | shell`: the entry points. Everything is built here, not at import."""

from __future__ import annotations

import argparse
import sys

from commands.settings import Settings, SettingsError, load_settings, require

def build(settings: Settings, *, background: bool = True, rules=None):
    """The production app: the store DATABASE_URL names, IAM through boto3's credential chain."""
    return _build(settings, background=background, rules=rules)[0]


def read_rules(settings: Settings):
    """The approval rules start-up runs on (IAM_BOT_RULES_FILE, else the environment); an unusable
    file is a SettingsError of one line naming the file, the key and what is wrong."""
    from commands.ruleset import RulesError, rules_from_settings

    try:
        return rules_from_settings(settings)
    except RulesError as error:
        raise SettingsError(f"{settings.iam_bot_rules_file}: {error}") from None


def _build(settings: Settings, *, background: bool = True, in_flight=None, rules=None):
    """The Bolt app; the health check of what it stands on (`None` when well, else why not); and
    what `/metrics` needs, None unless IAM_BOT_METRICS_TOKEN is set."""
    from commands.iam import IamGateway, make_client, make_sts_client
    from storage import open_store

    from .app import Deps, create_app
    from .background import Duties
    from .metrics import Metrics, Scraper

    store = open_store(settings.database_url)
    built = create_app(settings, Deps(store=store, iam=IamGateway(make_client(), make_sts_client()),
                                      in_flight=in_flight, rules=rules or read_rules(settings)))
    settled()  # before the background threads hold anything of their own
    if background:
        built.services.runner.start()
        Duties(built.services, built.duties).start()
    token = settings.iam_bot_metrics_token
    metrics = Metrics(token.get_secret_value(), Scraper(store)) if token is not None else None
    return built.app, lambda: store_health(store), metrics


def store_health(store) -> str | None:
    """The store's own check where it has one (`Store.check()` raises StoreError with the reason)."""
    from storage import StoreError

    check = getattr(store, "check", None)
    if check is None:
        return None
    try:
        check()
    except StoreError as error:
        return str(error) or type(error).__name__
    return None


def private_files() -> None:
    """Files this process creates (the SQLite database, its WAL and shared memory) are its user's alone."""
    import os

    os.umask(0o077)


def metrics_dir(settings: Settings) -> None:
    """With IAM_BOT_METRICS_TOKEN, every gunicorn worker counts into files in one directory
    (prometheus_client's multiprocess mode), so that a scrape answered by any worker shows them
    all: PROMETHEUS_MULTIPROC_DIR if set, else a private temporary directory, removed at exit.
    Its counts are emptied at start-up (counters start from zero with the server, as Prometheus
    expects of a restart). Called before anything imports prometheus_client, which reads the
    variable once."""
    import atexit
    import os
    import shutil
    import tempfile
    from pathlib import Path

    if settings.iam_bot_metrics_token is None:
        return
    if "prometheus_client" in sys.modules:
        raise RuntimeError("prometheus_client was imported before PROMETHEUS_MULTIPROC_DIR was set")
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        path = Path(given)
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        for old in path.glob("*.db"):
            old.unlink()
    else:
        path = Path(tempfile.mkdtemp(prefix="iam-bot-metrics-"))
        master = os.getpid()
        # Only the process that made it removes it: gunicorn's workers inherit this handler.
        atexit.register(lambda: os.getpid() == master and shutil.rmtree(path, ignore_errors=True))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)


def serve(settings: Settings) -> None:
    require(settings, "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")
    rules = read_rules(settings)  # before the server starts: a bad file stops it with one line
    metrics_dir(settings)  # before anything imports prometheus_client (the IAM client counts its calls)
    check_boundary(settings, rules=rules)
    from .server import Gunicorn, flask_app
    from .work import InFlight

    private_files()
    in_flight = InFlight()  # made before the fork: each worker process counts its own requests

    def web():
        app, health, metrics = _build(settings, in_flight=in_flight, rules=rules)
        return flask_app(app, health=health, metrics=metrics)

    Gunicorn(web, settings.port, in_flight=in_flight).run()


def settled() -> None:
    """What start-up built (boto3's and Bolt's models, the app) lives as long as the process:
    move it out of the collector's sight, so that a full collection in the middle of a burst of
    requests walks only what was made since (one such pause measured 80 ms: tests/bench/ack_latency.py)."""
    import gc

    gc.collect()
    gc.freeze()


def socket(settings: Settings) -> None:
    require(settings, "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN")
    if settings.iam_bot_metrics_token is not None:
        require(settings, "METRICS_PORT")  # one process: its own counters, no PROMETHEUS_MULTIPROC_DIR
    rules = read_rules(settings)
    check_boundary(settings, rules=rules)
    from . import metrics as prometheus
    from .socket_mode import CheckedSocketModeHandler

    private_files()
    app, _, metrics = _build(settings, rules=rules)
    if metrics is not None:
        prometheus.serve(metrics, settings.metrics_port)
    CheckedSocketModeHandler(app, settings.slack_app_token.get_secret_value()).start()


def shell(_settings=None) -> None:
    from .shell import main as shell_main

    shell_main()


def policy(mfa: bool = False, spoke: str | None = None, hub: str | None = None) -> int:
    """`iam-bot policy`: the bot's own policy; with `[[account]]`s in IAM_BOT_RULES_FILE, the hub's
    (plus sts:AssumeRole on exactly their roles). `--spoke NAME`: that account role's permissions
    and trust policy (`--hub ARN`: the hub's principal; default: who the bot's credentials are)."""
    import json
    import os

    from commands.policy import hub_policy, render_mfa, spoke_policy, trust_policy
    from commands.ruleset import RulesError, load_rules
    from commands.settings import check_policy_arn, check_user_path

    if mfa:
        print(render_mfa(), end="")
        return 0
    try:
        path = check_user_path(os.environ.get("IAM_BOT_USER_PATH", "/"))
    except ValueError as error:
        print(f"iam-bot: IAM_BOT_USER_PATH is malformed: {error}", file=sys.stderr)
        return 2
    boundary = os.environ.get("IAM_BOT_PERMISSIONS_BOUNDARY", "").strip() or None
    try:
        boundary = boundary and check_policy_arn(boundary)
    except ValueError as error:
        print(f"iam-bot: IAM_BOT_PERMISSIONS_BOUNDARY is malformed: {error}", file=sys.stderr)
        return 2
    file = os.environ.get("IAM_BOT_RULES_FILE", "").strip() or None
    try:
        accounts = load_rules(file, approvers=("U0NOBODY",)).accounts if file else ()
    except RulesError as error:
        print(f"iam-bot: {file}: {error}", file=sys.stderr)
        return 2
    if spoke is None:
        roles = [a.role_arn for a in accounts if a.role_arn]
        default = accounts[0] if accounts else None
        print(json.dumps(hub_policy((default and default.user_path) or path,
                                    (default and default.permissions_boundary) or boundary, roles), indent=2))
        return 0
    named = [a for a in accounts if a.name.lower() == spoke.lower() and a.role_arn]
    if not named:
        known = ", ".join(a.name for a in accounts if a.role_arn) or "none (no [[account]] with a role_arn)"
        print(f"iam-bot: no [[account]] named {spoke} with a role_arn in IAM_BOT_RULES_FILE (known: {known})",
              file=sys.stderr)
        return 2
    account = named[0]
    principal = hub or hub_principal()
    print(f"# The permissions of {account.role_arn}:")
    print(json.dumps(spoke_policy(account.user_path or path, account.permissions_boundary), indent=2))
    print(f"# Its trust policy (the hub {principal}, with the account's external id):")
    print(json.dumps(trust_policy(principal, account.external_id), indent=2))
    return 0


def hub_principal() -> str:
    """The bot's own identity as a trust policy names it: an assumed role's session is its role."""
    from commands.iam import make_sts_client

    arn = make_sts_client().get_caller_identity()["Arn"]
    if ":assumed-role/" in arn:
        account = arn.split(":")[4]
        role = arn.split(":assumed-role/")[1].split("/")[0]
        return f"arn:aws:iam::{account}:role/{role}"
    return arn


def check_boundary(settings: Settings, iam=None, rules=None, registry=None) -> None:
    """Start-up: each permissions boundary CreateUser carries exists (one GetPolicy in its account),
    else a SettingsError of one line. An account whose role cannot be assumed now is a warning:
    one account's trouble is not the bot's. `iam`: the gateway to ask (default: boto3's chain)."""
    accounts = rules.accounts if rules is not None else ()
    if settings.iam_bot_permissions_boundary is None and not any(a.permissions_boundary for a in accounts):
        return
    from commands.accounts import AccountRegistry, aws_clients, boundary_problems
    from commands.iam import IamGateway, make_client, make_sts_client
    own = iam or IamGateway(make_client(), make_sts_client())
    if accounts and registry is None:
        registry = AccountRegistry(accounts, own=own, sts=own.sts, clients=aws_clients)
    for line, stops in boundary_problems(own, settings.iam_bot_permissions_boundary, accounts, registry):
        if stops:
            raise SettingsError(line)
        print(f"iam-bot: warning: {line}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["rules"]:  # `iam-bot rules check [FILE]` (bot/rules_cli.py): no settings, no logging
        from .rules_cli import main as rules_main
        return rules_main(argv[1:])
    if argv[:1] == ["export"]:  # `iam-bot export ...` (bot/export_cli.py): reads DATABASE_URL only
        from .export_cli import main as export_main
        return export_main(argv[1:])
    parser = argparse.ArgumentParser(prog="iam-bot", description="Create AWS IAM users from Slack, safely.",
                                     epilog="Also: iam-bot rules check [FILE] validates the approval rules file; "
                                            "iam-bot export [--since] [--until] [--kind] writes the event log as JSON lines.")
    parser.add_argument("mode", choices=["serve", "socket", "shell", "policy"],
                        help="serve: Slack's HTTP requests on $PORT; socket: Socket Mode; shell: try it locally; "
                             "policy: print the IAM policy the bot's own AWS identity needs")
    parser.add_argument("--mfa", action="store_true",
                        help="with policy: print instead the policy for IAM_BOT_MFA_GROUP (nothing without MFA)")
    parser.add_argument("--spoke", metavar="ACCOUNT",
                        help="with policy: print that [[account]] role's permissions and trust policy")
    parser.add_argument("--hub", metavar="ARN",
                        help="with policy --spoke: the hub's principal to trust (default: the bot's own identity)")
    args = parser.parse_args(argv)
    from .logs import configure_logging

    configure_logging()
    if args.mode == "shell":
        shell()
        return 0
    if args.mode == "policy":
        return policy(mfa=args.mfa, spoke=args.spoke, hub=args.hub)
    try:
        settings = load_settings()
        (serve if args.mode == "serve" else socket)(settings)
    except SettingsError as error:
        print(f"iam-bot: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
