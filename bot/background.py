"""Work that no click starts: resuming unfinished provisioning, expiring stale requests."""

from __future__ import annotations

import logging
import threading

import storage

from .services import Services

log = logging.getLogger(__name__)

SWEEP_EVERY_SECONDS = 60


def resume_unfinished(services: Services) -> None:
    """Requests approved before a crash or restart carry on from their last recorded step."""
    for request in services.workflow.unfinished():
        log.info("resuming provisioning of request #%s after %s", request.id, request.steps_done or "no steps")
        try:
            services.notifier.provisioned(services.workflow.provision(request.id))
        except Exception:
            log.exception("resuming request #%s failed", request.id)


def sweep_once(services: Services) -> None:
    for request in services.workflow.sweep():
        if request.state == storage.EXPIRED:
            services.notifier.expired(request)
        elif request.state == storage.REVEAL_EXPIRED:
            services.notifier.reveal_done(request)


def start(services: Services, stop: threading.Event | None = None) -> threading.Thread:
    stop = stop or threading.Event()

    def run() -> None:
        resume_unfinished(services)
        while True:
            try:
                sweep_once(services)
            except Exception:
                log.exception("the periodic sweep failed; trying again in %ss", SWEEP_EVERY_SECONDS)
            if stop.wait(SWEEP_EVERY_SECONDS):
                return

    thread = threading.Thread(target=run, name="iam-bot-background", daemon=True)
    thread.start()
    return thread
