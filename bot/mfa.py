"""The MFA duty and the reminder it owes: see `commands.mfa`."""

from __future__ import annotations

import datetime as dt

import storage
from commands.workflow import Owed
from storage import Job

from . import guard_blocks
from .services import Services

# How often the watched users are looked at; a reminder still goes at most once a day.
CHECK_EVERY = dt.timedelta(hours=1)


def mfa_duty(services: Services) -> None:
    services.mfa.check()
    services.runner.kick()


def nudge_dm(services: Services, job: Job) -> None:
    request = services.workflow.request(job.request_id)
    if request.state != storage.REVEALED or request.details.get("mfa"):
        return  # MFA turned on (or the user went) since the reminder was owed
    url = services.workflow.sign_in_url(request)
    mfa_group = request.details.get("mfa_group") if request.console else None
    services.notifier.dm(request.owner_id, guard_blocks.mfa_nudge(request, url, mfa_group))


def work_handlers(services: Services) -> dict:
    return {Owed.MFA_NUDGE: lambda job: nudge_dm(services, job)}
