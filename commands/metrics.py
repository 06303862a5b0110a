"""What the domain counts for Prometheus: requests as they are filed and decided, and every
request sent to AWS. (The edge's own metrics, and `/metrics` itself: bot/metrics.py.)

Labels are kinds, AWS operations and outcomes: words from a short, fixed list. Never a name, an
id or anything a person typed. Counting is a few microseconds (an mmap write in multiprocess
mode): nothing here waits on anything.
"""

from __future__ import annotations

from prometheus_client import Counter

REQUESTS_FILED = Counter("iam_bot_requests_filed_total", "Requests filed, by kind.", ["kind"])
REQUESTS_APPROVED = Counter("iam_bot_requests_approved_total",
                            "Requests approved (the approval that decides), by kind.", ["kind"])
REQUESTS_DENIED = Counter("iam_bot_requests_denied_total", "Requests denied, by kind.", ["kind"])
REQUESTS_EXPIRED = Counter("iam_bot_requests_expired_total",
                           "Requests nobody decided within IAM_BOT_REQUEST_TTL, by kind.", ["kind"])
REQUESTS_FAILED = Counter("iam_bot_requests_failed_total",
                          "Requests whose provisioning stopped at a failed step, by kind.", ["kind"])

AWS_CALLS = Counter("iam_bot_aws_calls_total",
                    "Requests sent to AWS (each attempt, retries included), by operation and outcome: "
                    "ok, throttled, client_error, server_error, unreachable.", ["operation", "outcome"])

# AWS's words for "slow down" (botocore's standard retry mode retries these).
THROTTLING_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "ProvisionedThroughputExceededException", "TransactionInProgressException",
    "RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled",
    "SlowDown", "PriorRequestNotComplete", "EC2ThrottledException",
})


def aws_outcome(response, caught_exception) -> str:
    """One attempt's outcome, from what botocore's `needs-retry` event is given."""
    if caught_exception is not None or response is None:
        return "unreachable"
    http, parsed = response
    code = (parsed or {}).get("Error", {}).get("Code")
    status = getattr(http, "status_code", 200)
    if code in THROTTLING_CODES or status == 429:
        return "throttled"
    if status >= 500:
        return "server_error"
    if code or status >= 400:
        return "client_error"
    return "ok"


def _count_attempt(response=None, caught_exception=None, operation=None, **_) -> None:
    """botocore's `needs-retry` handler: called once per attempt; it decides nothing (returns None)."""
    name = getattr(operation, "name", None) or "unknown"
    AWS_CALLS.labels(name, aws_outcome(response, caught_exception)).inc()


def count_aws_calls(client) -> None:
    """Count every attempt `client` sends (retries included, so throttling shows even when a retry
    then succeeds). Registered once per client, whatever the number of calls."""
    client.meta.events.register("needs-retry", _count_attempt, unique_id="iam-bot-metrics")
