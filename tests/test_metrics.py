"""`GET /metrics` (bot/metrics.py): only for bearers of IAM_BOT_METRICS_TOKEN; the counters move
as requests are filed and decided, as Slack and AWS are called, as duties run; under two
gunicorn workers a scrape answered by either shows the same totals; no secret, name or id in it."""

import datetime as dt
import re
import urllib.request

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from bot import blocks
from bot.metrics import Metrics, Scraper, bearer_ok, serve, slack_method
from bot.server import flask_app
from commands.metrics import aws_outcome
from commands.settings import SettingsError, load_settings
from tests.support.harness import APPROVALS, SIGNING_SECRET
from tests.support.ports import free_port
from tests.support.process import approve, file_request, wait_until

pytest_plugins = ["tests.support.process"]

TOKEN = "metrics-token-0123456789abcdef"


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of one scrape."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict, name: str, **labels) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def total(found: dict, name: str, **labels) -> float:
    """The sum over every series of `name` whose labels include these."""
    return sum(v for (n, ls), v in found.items() if n == name and set(labels.items()) <= set(ls))


def no_secret_or_id(text: str, slack) -> None:
    assert TOKEN not in text and SIGNING_SECRET not in text and slack.token not in text
    assert "xoxb" not in text and "/response/" not in text
    # No Slack id (U0ALICE, C0APPROVALS, ...), no user name, no request number in a label.
    assert not re.search(r"\b[UCDGTW]0[A-Z0-9]+\b", text), text
    assert "jane" not in text and "alice" not in text.lower() and "request_id" not in text
    for family in text_string_to_metric_families(text):
        for sample in family.samples if family.name.startswith("iam_bot_") else ():
            assert set(sample.labels) <= {"kind", "method", "operation", "outcome", "duty", "le"}, sample


# -- the token ---------------------------------------------------------------------------------

def test_metrics_are_served_only_to_bearers_of_the_token(bot, slack):
    web = flask_app(bot.app, metrics=Metrics(TOKEN, Scraper(bot.store))).test_client()
    assert web.get("/metrics").status_code == 401
    refused = web.get("/metrics", headers={"Authorization": "Bearer wrong-token-0123456789abcdef"})
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert TOKEN not in refused.get_data(as_text=True)
    assert web.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    assert web.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}x"}).status_code == 401
    assert web.get("/metrics", headers={"Authorization": f"Bearer {TOKEN[:-1]}"}).status_code == 401
    assert web.get("/metrics", headers=[("Authorization", f"Bearer {TOKEN}"),
                                        ("Authorization", f"Bearer {TOKEN}")]).status_code == 401
    ok = web.get("/metrics", headers={"Authorization": f"bearer {TOKEN}"})
    assert ok.status_code == 200 and ok.headers["Content-Type"].startswith("text/plain; version=")
    text = ok.get_data(as_text=True)
    assert "iam_bot_requests_pending" in text and "iam_bot_jobs_due" in text
    assert value(samples(text), "iam_bot_store_readable") == 1
    no_secret_or_id(text, slack)
    # Without IAM_BOT_METRICS_TOKEN there is no /metrics at all.
    assert flask_app(bot.app).test_client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
                                                ).status_code == 404


def test_bearer_header_forms():
    assert bearer_ok([f"Bearer {TOKEN}"], TOKEN) and bearer_ok([f"  BEARER {TOKEN} "], TOKEN)
    assert not bearer_ok([], TOKEN) and not bearer_ok([TOKEN], TOKEN) and not bearer_ok(["Bearer"], TOKEN)
    assert not bearer_ok(["Bearer é"], TOKEN)


def test_the_token_is_long_enough_and_kept_out_of_repr():
    base = dict(iam_bot_approvals_channel=APPROVALS, iam_bot_approvers="U0BOB")
    assert load_settings(**base).iam_bot_metrics_token is None
    assert load_settings(**base, iam_bot_metrics_token="  ").iam_bot_metrics_token is None
    with pytest.raises(SettingsError, match="IAM_BOT_METRICS_TOKEN is malformed"):
        load_settings(**base, iam_bot_metrics_token="short")
    with pytest.raises(SettingsError, match="IAM_BOT_METRICS_TOKEN is malformed"):
        load_settings(**base, iam_bot_metrics_token="has a space in it 0123456789")
    settings = load_settings(**base, iam_bot_metrics_token=TOKEN, metrics_port="9464")
    assert settings.metrics_port == 9464 and TOKEN not in repr(settings)


def test_labels_are_words_from_a_fixed_list():
    assert slack_method("https://slack.com/api/chat.postMessage") == "chat.postMessage"
    assert slack_method("http://127.0.0.1:9/api/users.lookupByEmail?x=1") == "users.lookupByEmail"
    assert slack_method("https://hooks.slack.com/actions/T0/123/abc") == "other"

    class Http:
        def __init__(self, status):
            self.status_code = status

    assert aws_outcome((Http(200), {}), None) == "ok"
    assert aws_outcome((Http(400), {"Error": {"Code": "Throttling"}}), None) == "throttled"
    assert aws_outcome((Http(404), {"Error": {"Code": "NoSuchEntity"}}), None) == "client_error"
    assert aws_outcome((Http(500), {"Error": {"Code": "ServiceFailure"}}), None) == "server_error"
    assert aws_outcome(None, ConnectionError("refused")) == "unreachable"


# -- in one process ----------------------------------------------------------------------------

@pytest.mark.e2e
def test_counters_move_as_a_request_is_filed_and_approved(bot, slack):
    scrape = Scraper(bot.store)
    before = samples(scrape().decode())
    response = bot.slash("U0ALICE", "create jane.doe Developers")
    assert "Request #1 filed" in bot.said(response.response_url)
    filed = samples(scrape().decode())
    assert value(filed, "iam_bot_requests_pending", kind="create_user") == 1
    assert (value(filed, "iam_bot_requests_filed_total", kind="create_user")
            - value(before, "iam_bot_requests_filed_total", kind="create_user")) == 1
    bot.click("U0BOB", blocks.ACTION_APPROVE, 1)
    bot.settle()
    after = samples(scrape().decode())
    assert value(after, "iam_bot_requests_pending", kind="create_user") == 0
    assert (value(after, "iam_bot_requests_approved_total", kind="create_user")
            - value(before, "iam_bot_requests_approved_total", kind="create_user")) == 1
    for method in ("chat.postMessage", "users.info", "chat.update"):
        assert (value(after, "iam_bot_slack_calls_total", method=method, outcome="ok")
                > value(before, "iam_bot_slack_calls_total", method=method, outcome="ok")), method


@pytest.mark.e2e
def test_socket_mode_serves_the_same_on_its_own_port(bot, slack):
    server = serve(Metrics(TOKEN, Scraper(bot.store)), free_port(), host="127.0.0.1")
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        assert requests.get(url, timeout=5).status_code == 401
        assert requests.get(url.replace("/metrics", "/healthz"), timeout=5).status_code == 404
        answer = requests.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
        assert answer.status_code == 200 and "iam_bot_store_readable 1.0" in answer.text
    finally:
        server.shutdown()
        server.server_close()


def test_socket_mode_with_a_token_needs_a_port(monkeypatch):
    from bot.cli import socket

    settings = load_settings(iam_bot_approvals_channel=APPROVALS, iam_bot_approvers="U0BOB",
                             slack_bot_token="xoxb-1", slack_app_token="xapp-1", iam_bot_metrics_token=TOKEN)
    with pytest.raises(SettingsError, match="METRICS_PORT is required"):
        socket(settings)


# -- iam-bot serve, two workers ----------------------------------------------------------------

def scrape_served(served, token: str = TOKEN) -> str:
    # A fresh connection each time: either worker may answer.
    request = urllib.request.Request(f"{served.base}/metrics", headers={"Authorization": f"Bearer {token}",
                                                                         "Connection": "close"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.read().decode()


@pytest.mark.slow
def test_two_workers_count_one_flow_and_any_worker_shows_it(serve, slack, aws_proxy, aws, tmp_path):
    counts = tmp_path / "prometheus"
    counts.mkdir()
    (counts / "counter_1.db").write_bytes(b"left by an earlier run")  # emptied at start-up
    served = serve(WEB_CONCURRENCY="2", IAM_BOT_METRICS_TOKEN=TOKEN, PROMETHEUS_MULTIPROC_DIR=str(counts))
    assert requests.get(f"{served.base}/metrics", timeout=5).status_code == 401
    assert requests.get(f"{served.base}/metrics", headers={"Authorization": "Bearer nope-nope-nope-nope"},
                        timeout=5).status_code == 401
    # Slack answers the card's first post with 429 (the SDK waits and posts again); AWS throttles
    # the first look for the user (botocore retries it).
    slack.rate_limit("chat.postMessage", times=1, retry_after=1)
    aws_proxy.fail_after("GetUser", code="Throttling", status=400)
    request = file_request(served, "U0ALICE", "create jane.doe Developers", "U0JANE")
    approve(served, request)
    wait_until(lambda: served.store.get(request.id).state == "provisioned", 30, "the user to be made")
    denied = file_request(served, "U0ALICE", "create dan Developers", "U0DAN")
    served.sender.submit_deny("U0BOB", denied.id, "not now", settle=False)
    wait_until(lambda: served.store.get(denied.id).state == "denied", 30, "the denial")

    def counted(text):
        found = samples(text)
        return (value(found, "iam_bot_requests_filed_total", kind="create_user") == 2
                and value(found, "iam_bot_requests_approved_total", kind="create_user") == 1
                and value(found, "iam_bot_requests_denied_total", kind="create_user") == 1
                and total(found, "iam_bot_duty_runs_total", outcome="ok") > 0)

    text = wait_until(lambda: (lambda t: t if counted(t) else None)(scrape_served(served)), 20,
                      "the counters of both requests")
    # Whichever worker answers, the totals are the same: every worker's counts are in the files.
    # Each worker made one auth.test as it built its app: a scrape counts both.
    assert len({path.name.split("_")[-1] for path in counts.glob("counter_*.db")}) == 2
    for _ in range(6):
        text = scrape_served(served)
        assert "python_gc_objects" not in text  # the multiprocess collector, not one process's registry
        found = samples(text)
        assert value(found, "iam_bot_slack_calls_total", method="auth.test", outcome="ok") == 2
        assert value(found, "iam_bot_requests_filed_total", kind="create_user") == 2
        assert value(found, "iam_bot_requests_approved_total", kind="create_user") == 1
        assert value(found, "iam_bot_requests_pending", kind="create_user") == 0
    found = samples(text)
    assert value(found, "iam_bot_slack_calls_total", method="chat.postMessage", outcome="rate_limited") == 1
    assert value(found, "iam_bot_slack_calls_total", method="chat.postMessage", outcome="ok") >= 2
    assert value(found, "iam_bot_aws_calls_total", operation="GetUser", outcome="throttled") == 1
    assert value(found, "iam_bot_aws_calls_total", operation="CreateUser", outcome="ok") == 1
    assert value(found, "iam_bot_ack_seconds_count") >= 4  # two commands, an approval, a denial
    assert value(found, "iam_bot_ack_seconds_bucket", le="3.0") == value(found, "iam_bot_ack_seconds_count")
    assert value(found, "iam_bot_jobs_due") >= 0 and value(found, "iam_bot_store_readable") == 1
    assert value(found, "iam_bot_duty_interval_seconds", duty="prune_jobs") == 3600
    assert value(found, "iam_bot_duty_last_run_timestamp_seconds", duty="prune_jobs") > (
        dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)).timestamp()
    no_secret_or_id(text, slack)
    log = served.log()
    assert TOKEN not in log and "Traceback" not in log
