"""`GET /metrics`: Prometheus' text format, for the operator's dashboard and alerts.

Served only when IAM_BOT_METRICS_TOKEN is set, and only to a request that bears it
(`Authorization: Bearer <token>`, compared in constant time): the web port faces the internet
for Slack. Unset, `/metrics` is a 404 like any unknown path; a missing or wrong token, a 401.

What is counted where:
- requests filed / approved / denied / expired / failed, by kind: commands/lifecycle.py (`file`, `move`);
- AWS requests by operation and outcome: botocore's `needs-retry` event (commands/metrics.py);
- Slack Web API requests by method and outcome: a retry handler that retries nothing
  (`SlackCalls`), first on every WebClient the app makes, so it sees each attempt, 429s included;
- the ack: bot/server.py and bot/socket_mode.py (`ACK_SECONDS`);
- duty runs and how late each started: bot/background.py;
- pending requests and the job queue: read from the store at each scrape (`Scraper`, two
  indexed queries), so they are right whichever process answers and whatever process died.

Under gunicorn every worker counts into files in PROMETHEUS_MULTIPROC_DIR (prometheus_client's
multiprocess mode; `iam-bot serve` sets it up, bot/cli.py), and a scrape answered by any worker
adds them all up. No label holds a name, an id or anything a person typed: kinds, methods,
operations, duties and outcomes only.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import os
import re
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from flask import Flask, Response, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from slack_sdk.http_retry.handler import RetryHandler

from storage import Store

log = logging.getLogger(__name__)

SLACK_CALLS = Counter("iam_bot_slack_calls_total",
                      "Requests sent to Slack's Web API (each attempt, retries included), by method and outcome: "
                      "ok, error (Slack said ok: false), rate_limited (HTTP 429), server_error, unreachable.",
                      ["method", "outcome"])
# Slack gives an app 3 s to acknowledge: the buckets are finest below that.
ACK_SECONDS = Histogram("iam_bot_ack_seconds", "Time from a Slack request's arrival to its answer.",
                        buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0))
DUTY_RUNS = Counter("iam_bot_duty_runs_total", "Runs of each periodic duty, by outcome: ok or failed.",
                    ["duty", "outcome"])
DUTY_LATE = Gauge("iam_bot_duty_late_seconds", "How late the latest run of each duty started, past its interval.",
                  ["duty"], multiprocess_mode="mostrecent")
DUTY_LAST_RUN = Gauge("iam_bot_duty_last_run_timestamp_seconds", "When each duty last started (Unix time).",
                      ["duty"], multiprocess_mode="mostrecent")
DUTY_EVERY = Gauge("iam_bot_duty_interval_seconds", "How often each duty is meant to run.",
                   ["duty"], multiprocess_mode="mostrecent")

_SLACK_METHOD = re.compile(r"[a-zA-Z]+(\.[a-zA-Z]+)+")


class SlackCalls(RetryHandler):
    """A retry handler that retries nothing: the SDK asks every handler about every attempt
    (answered, refused or never sent), so the first one in the list sees them all."""

    def can_retry(self, *, state, request, response=None, error=None) -> bool:  # type: ignore[override]
        SLACK_CALLS.labels(slack_method(request.url), slack_outcome(response)).inc()
        return False


def slack_method(url: str) -> str:
    """`chat.postMessage` from `https://slack.com/api/chat.postMessage`; anything else `other`."""
    name = urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1]
    return name if _SLACK_METHOD.fullmatch(name) else "other"


def slack_outcome(response) -> str:
    if response is None:
        return "unreachable"
    if response.status_code == 429:
        return "rate_limited"
    if response.status_code >= 500:
        return "server_error"
    if response.status_code >= 400 or not isinstance(response.body, dict) or response.body.get("ok") is not True:
        return "error"
    return "ok"


def duty_ran(name: str, every: dt.timedelta, started: dt.datetime, late: dt.timedelta, ok: bool) -> None:
    DUTY_RUNS.labels(name, "ok" if ok else "failed").inc()
    DUTY_LATE.labels(name).set(max(0.0, late.total_seconds()))
    DUTY_LAST_RUN.labels(name).set(started.timestamp())
    DUTY_EVERY.labels(name).set(every.total_seconds())


# -- the scrape --------------------------------------------------------------------------------

def multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class StoreGauges:
    """A collector that reads the store when scraped: pending requests by kind, jobs due and the
    oldest one's age, and whether the store could be read at all."""

    def __init__(self, store: Store, clock: Callable[[], dt.datetime]):
        self._store, self._clock = store, clock

    def collect(self):
        readable = GaugeMetricFamily("iam_bot_store_readable", "1 when the scrape could read the store, else 0.")
        now = self._clock()
        try:
            gauges = self._store.gauges(now=now)
        except Exception as error:  # a scrape answers whatever breaks; the health check says why
            log.warning("the metrics could not read the store (%s)", type(error).__name__)
            readable.add_metric([], 0)
            yield readable
            return
        readable.add_metric([], 1)
        yield readable
        pending = GaugeMetricFamily("iam_bot_requests_pending", "Requests waiting for a decision, by kind.",
                                    labels=["kind"])
        for kind, count in sorted(gauges.pending.items()):
            pending.add_metric([kind], count)
        yield pending
        yield GaugeMetricFamily("iam_bot_jobs_due", "Durable jobs due and not done (waiting or running).",
                                value=gauges.jobs_due)
        age = (now - gauges.oldest_due_at).total_seconds() if gauges.oldest_due_at else 0.0
        yield GaugeMetricFamily("iam_bot_jobs_oldest_due_seconds",
                                "How long the oldest job due and not done has been due (0: none).", value=max(0.0, age))


class Scraper:
    """The text of one scrape: every process's counts (multiprocess mode) or this one's, and the store's gauges."""

    def __init__(self, store: Store, clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc)):
        self._store_gauges = StoreGauges(store, clock)

    def collect(self):
        yield from (MultiProcessCollector(None) if multiprocess() else REGISTRY).collect()
        yield from self._store_gauges.collect()

    def __call__(self) -> bytes:
        return generate_latest(self)  # type: ignore[arg-type]  # anything with collect() will do


@dataclass(frozen=True)
class Metrics:
    """What `/metrics` needs: the token a scrape must bear, and the scrape."""

    token: str
    scrape: Callable[[], bytes]


def bearer_ok(headers: list[str], token: str) -> bool:
    """Exactly one `Authorization: Bearer <token>` header, its token equal to ours (constant time)."""
    if len(headers) != 1:
        return False
    scheme, _, given = headers[0].strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8", "replace"), token.encode("utf-8"))


def add_route(web: Flask, metrics: Metrics) -> None:
    """`GET /metrics` on a Flask app, for bearers of the token only."""

    @web.get("/metrics")
    def scrape():
        if not bearer_ok(request.headers.getlist("Authorization"), metrics.token):
            log.info("refused a /metrics request without the right token")
            return Response("unauthorized", status=401, mimetype="text/plain",
                            headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
        return Response(metrics.scrape(), status=200, headers={"Content-Type": CONTENT_TYPE_LATEST})


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args) -> None:  # no access lines, as under gunicorn
        pass


def serve(metrics: Metrics, port: int, host: str = "0.0.0.0") -> WSGIServer:
    """`/metrics` alone on its own port, in a thread (`iam-bot socket`, which has no web server)."""
    web = Flask("iam-bot-metrics")
    add_route(web, metrics)
    server = make_server(host, port, web, server_class=_Server, handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, name="iam-bot-metrics", daemon=True).start()
    return server
