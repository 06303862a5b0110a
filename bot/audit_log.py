"""`IAM_BOT_AUDIT_LOG=stdout` or a file path: every committed event appended as one JSON line
(commands/trail.py's schema and loop), by a periodic duty, one process at a time.

A file is opened for append, created with mode 0600 (an existing file keeps the mode its
owner or logrotate's `create` gave it), and reopened when it was moved or deleted (logrotate),
as logging.handlers.WatchedFileHandler does. Each batch goes out in one write and is fsynced
before the stream's cursor moves past it; a line cut short by a machine crash is ended with a
newline when the file is next opened, so the repeat that follows starts on a line of its own.
Standard output gets one write per line, so a line is never interleaved with another writer's.
"""

from __future__ import annotations

import datetime as dt
import errno
import logging
import os
import threading

from commands.trail import StreamLost, TrailStream

from .feature import Duty
from .logs import redact
from .services import Services

log = logging.getLogger(__name__)

STDOUT = "stdout"
PRIVATE = 0o600


class FileSink:
    """Appends to a path, following it when logrotate moves it."""

    def __init__(self, path: str):
        self.path = path
        self._fd: int | None = None
        self._identity: tuple[int, int] | None = None

    def _open(self) -> int:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, PRIVATE)
        stat = os.fstat(fd)
        self._fd, self._identity = fd, (stat.st_dev, stat.st_ino)
        if stat.st_size and _read_last_byte(self.path, stat.st_size) != b"\n":
            _write_all(fd, b"\n")
        return fd

    def _current(self) -> int:
        """The open file, reopened if the path now names another file or none (rotated away)."""
        if self._fd is not None:
            try:
                stat = os.stat(self.path)
                moved = (stat.st_dev, stat.st_ino) != self._identity
            except FileNotFoundError:
                moved = True
            if not moved:
                return self._fd
            self.close()
        return self._open()

    def write(self, data: bytes) -> None:
        fd = self._current()
        _write_all(fd, data)
        try:
            os.fsync(fd)
        except OSError as error:
            if error.errno not in (errno.EINVAL, errno.EROFS):
                raise  # a pipe or a device (a FIFO a shipper reads, /dev/stdout) has nothing to sync

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class StdoutSink:
    def write(self, data: bytes) -> None:
        for line in data.splitlines(keepends=True):
            _write_all(1, line)

    def close(self) -> None:
        pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_last_byte(path: str, size: int) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.pread(fd, 1, size - 1)
    finally:
        os.close(fd)


_sinks: dict[str, FileSink | StdoutSink] = {}
_sinks_lock = threading.Lock()


AUDIT_LOG_DUTY = "audit_log"


def sink(target: str) -> FileSink | StdoutSink:
    """One sink per target in this process, kept open between passes."""
    with _sinks_lock:
        if target not in _sinks:
            _sinks[target] = StdoutSink() if target == STDOUT else FileSink(target)
        return _sinks[target]


def audit_log_duties(services: Services) -> tuple[Duty, ...]:
    """The stream's duty, every tick, when IAM_BOT_AUDIT_LOG names a target; none otherwise."""
    target = services.settings.iam_bot_audit_log
    if not target:
        return ()

    def stream_once() -> None:
        """Ship what was committed since the stream's cursor."""
        workflow = services.workflow
        stream = TrailStream(services.store, sink(target).write, holder=services.runner.worker,
                             hold=workflow.policy.work_hold / 2, clock=workflow.now, scrub=redact)
        try:
            stream.ship()
        except StreamLost as lost:
            log.warning("%s; this process stops writing the audit log until it holds the stream again", lost)

    return (Duty(AUDIT_LOG_DUTY, dt.timedelta(0), stream_once),)
