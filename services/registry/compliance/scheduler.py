"""The registry's scheduled jobs (APScheduler ``BackgroundScheduler``, UTC).

Every day at ``COMPLIANCE_JOB_HOUR`` (2) UTC: :func:`registry.compliance.service
.run_compliance_job` (the lights and the reminders), then on ``COMPLIANCE_DIGEST_WEEKDAY``
(mon) :func:`~registry.compliance.service.send_weekly_digest`. Started by
:func:`registry.app.start_workers` when ``SCHEDULER_ENABLED`` is true and the app is not under
tests (tests run the jobs with a controlled clock). Every process may run a scheduler: the
jobs take the run lock (PostgreSQL advisory lock), so one run happens at a time and the others
skip; a run missed while no process was up is run once at the next start within a day
(``misfire_grace_time``; ``coalesce``).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from apscheduler.schedulers.background import (  # type: ignore[import-untyped]
    BackgroundScheduler,
)
from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]
from flask import Flask

from shared.config import flag, number, setting
from shared.db import utcnow

log = logging.getLogger(__name__)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
JOB_ID = "compliance-daily"


def schedule() -> tuple[int, str]:
    """(hour 0-23, digest weekday mon..sun) from the settings; ``ValueError`` naming the
    setting when malformed."""
    hour = int(number("COMPLIANCE_JOB_HOUR"))
    if not 0 <= hour <= 23:
        raise ValueError(f"COMPLIANCE_JOB_HOUR must be 0-23, not {hour}")
    weekday = (setting("COMPLIANCE_DIGEST_WEEKDAY") or "mon").strip().lower()[:3]
    if weekday not in WEEKDAYS:
        raise ValueError(f"COMPLIANCE_DIGEST_WEEKDAY must be one of {', '.join(WEEKDAYS)}, "
                         f"not {weekday!r}")
    return hour, weekday


def run_daily(app: Flask) -> dict[str, Any]:
    """The daily run (the scheduler's job; ``registry compliance run`` does the same part by
    hand): the lights and reminders as of now, then the digest on the digest weekday."""
    from registry.compliance.service import run_compliance_job, send_weekly_digest

    _hour, weekday = schedule()
    with app.app_context():  # PUBLIC_BASE_URL of the links
        factory = app.extensions["db_session_factory"]
        now = utcnow()
        result = run_compliance_job(factory, now=now)
        digest = None
        if not result.skipped and WEEKDAYS[now.weekday()] == weekday:
            digest = send_weekly_digest(factory, now=now)
        return {"lights": result.as_dict(), "digest": digest is not None}


def _safe_run(app: Flask) -> None:
    try:
        log.info("compliance daily run: %s", run_daily(app))
    except Exception:  # a failed run is logged; the next day's runs again
        log.exception("compliance daily run failed")


def enabled(app: Flask) -> bool:
    """``SCHEDULER_ENABLED`` and not under tests (``TESTING``, pytest)."""
    return (flag("SCHEDULER_ENABLED") and not app.testing
            and "PYTEST_CURRENT_TEST" not in os.environ)


def build_scheduler(app: Flask) -> BackgroundScheduler:
    """A (not started) scheduler with the daily compliance job."""
    hour, _weekday = schedule()
    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={
        "coalesce": True, "max_instances": 1, "misfire_grace_time": 24 * 3600})
    scheduler.add_job(_safe_run, CronTrigger(hour=hour, minute=0, timezone="UTC"), args=[app],
                      id=JOB_ID, name="reporting lights, reminders, weekly digest",
                      replace_existing=True)
    return scheduler


def start_scheduler(app: Flask, stop_event: threading.Event) -> BackgroundScheduler:
    """Start the scheduler; it shuts down when ``stop_event`` is set (``Workers.stop``)."""
    scheduler = build_scheduler(app)
    scheduler.start()
    log.info("scheduler started: %s", [str(j.trigger) for j in scheduler.get_jobs()])

    def watch() -> None:
        stop_event.wait()
        scheduler.shutdown(wait=False)

    threading.Thread(target=watch, name="scheduler-stop", daemon=True).start()
    return scheduler
