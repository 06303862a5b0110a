"""AWS faults for tests, injected with botocore's before-send hook (no patching of internals),
and counters of the calls a client makes, from its before-call hook."""

from __future__ import annotations

from bot.shell.awslike import error_response


class Fault:
    """Answer an IAM operation with an error, `times` times (None: until removed)."""

    def __init__(self, client, operation: str, code: str, *, status: int = 400, times: int | None = None,
                 raise_instead: Exception | None = None):
        self.client, self.operation, self.code = client, operation, code
        self.status, self.remaining, self.raise_instead = status, times, raise_instead
        self.hits = 0
        self.event = f"before-send.iam.{operation}"
        client.meta.events.register(self.event, self)

    def __call__(self, request, **_):
        if self.remaining is not None and self.remaining <= 0:
            return None
        if self.remaining is not None:
            self.remaining -= 1
        self.hits += 1
        if self.raise_instead is not None:
            raise self.raise_instead
        return error_response(request.url, self.code, "injected", self.status)

    def remove(self) -> None:
        self.client.meta.events.unregister(self.event, self)


def count_calls(client, operation: str) -> list:
    """The calls of one operation the client makes from now on (retries not counted)."""
    calls: list = []
    client.meta.events.register(f"before-call.iam.{operation}", lambda **kw: calls.append(operation))
    return calls


def record_calls(client) -> list[str]:
    """Every IAM operation the client calls from now on, in order (retries not counted)."""
    calls: list[str] = []
    client.meta.events.register("before-call.iam", lambda model, **kw: calls.append(model.name))
    return calls
