"""AWS faults for tests, injected with botocore's before-send hook (no patching of internals)."""

from __future__ import annotations

from botocore.awsrequest import AWSResponse


class _Raw:
    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **_):
        yield self._body

    def read(self, *_):
        return self._body


def iam_error(code: str, message: str = "injected", status: int = 400, type_: str = "Sender") -> bytes:
    return (f'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>{type_}</Type>'
            f"<Code>{code}</Code><Message>{message}</Message></Error><RequestId>fault</RequestId></ErrorResponse>"
            ).encode()


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
        return AWSResponse(request.url, self.status, {}, _Raw(iam_error(self.code)))

    def remove(self) -> None:
        self.client.meta.events.unregister(self.event, self)


def count_calls(client, operation: str) -> list:
    calls: list = []
    client.meta.events.register(f"before-call.iam.{operation}", lambda **kw: calls.append(operation))
    return calls
