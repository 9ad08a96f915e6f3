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


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.event_id = event_id_var.get()
        record.event_type = event_type_var.get()
        return True


def configure_logging(service: str) -> None:
    """JSON lines on stderr: time, level, logger, message, service, request_id, event_id."""
    root = logging.getLogger()
    if any(getattr(h, "_partnership_registry", False) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler._partnership_registry = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        static_fields={"service": service},
    ))
    handler.addFilter(_ContextFilter())
    root.addHandler(handler)
    root.setLevel(setting("LOG_LEVEL") or "INFO")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


@contextmanager
def event_context(event_id: str, event_type: str) -> Iterator[None]:
    """Tag every log line inside with the event being processed."""
    t1, t2 = event_id_var.set(event_id), event_type_var.set(event_type)
    try:
        yield
    finally:
        event_id_var.reset(t1)
        event_type_var.reset(t2)
