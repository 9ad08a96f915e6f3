"""Structured JSON logs on stderr, carrying the request id (web) or the event id (consumers)."""

from __future__ import annotations

import contextvars
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from pythonjsonlogger.json import JsonFormatter

from shared.config import setting

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id",
                                                                           default=None)
event_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("event_id",
                                                                         default=None)
event_type_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("event_type",
                                                                           default=None)
#: the service a line belongs to when several run in one process (embedded mode): set per
#: request (``shared.web``), per worker thread (``shared.runtime.Workers``) and per consumer
#: batch (``shared.runtime.attach_consumer``)
service_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("service",
                                                                        default=None)
_SERVICE_LOGGERS = ("registry", "notifier", "reporting")
_process_service: str | None = None


def service_of(record: logging.LogRecord) -> str | None:
    """The service of a log line: the context's (:data:`service_var`), else the service package
    that logged it (``notifier.deliveries.worker`` -> ``notifier``), else the process's."""
    label = service_var.get()
    if label:
        return label
    root = record.name.split(".", 1)[0]
    if root in _SERVICE_LOGGERS:
        return root
    return _process_service


class LogContextFilter(logging.Filter):
    """Adds service, request_id, event_id and event_type to each record it passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = service_of(record)
        record.request_id = request_id_var.get()
        record.event_id = event_id_var.get()
        record.event_type = event_type_var.get()
        return True


def configure_logging(service: str) -> None:
    """JSON lines on stderr: time, level, logger, message, service, request_id, event_id.

    ``service`` labels the lines no service can be told for (the first call wins: the embedded
    mode calls it with ``embedded`` before building the three apps); see :func:`service_of`.
    """
    global _process_service
    root = logging.getLogger()
    if any(getattr(h, "_partnership_registry", False) for h in root.handlers):
        return
    _process_service = service
    handler = logging.StreamHandler(sys.stderr)
    handler._partnership_registry = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
    ))
    handler.addFilter(LogContextFilter())
    root.addHandler(handler)
    root.setLevel(setting("LOG_LEVEL") or "INFO")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


@contextmanager
def service_context(service: str | None) -> Iterator[None]:
    """Label every log line inside with ``service`` (None: leave the label as it is)."""
    if service is None:
        yield
        return
    token = service_var.set(service)
    try:
        yield
    finally:
        service_var.reset(token)


@contextmanager
def event_context(event_id: str, event_type: str) -> Iterator[None]:
    """Tag every log line inside with the event being processed."""
    t1, t2 = event_id_var.set(event_id), event_type_var.set(event_type)
    try:
        yield
    finally:
        event_id_var.reset(t1)
        event_type_var.reset(t2)
