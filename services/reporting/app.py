"""The reporting service: a read model built only from initiative events, and its reports.

It consumes ``registry.initiatives`` (consumer group ``reporting``) and keeps its own tables
(``report_*``, see ``reporting.readmodel.models``); it never reads the registry's database.
"""

from __future__ import annotations

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from sqlalchemy import event as sa_event

from reporting.db import import_models
from shared.bus import InProcessBus
from shared.config import setting
from shared.consumer import EventConsumer
from shared.runtime import Workers, attach_consumer
from shared.web import attach_database, create_base_app

CONSUMER_NAME = "reporting"



def create_app(test_config: dict | None = None) -> Flask:
    """Reporting's WSGI app. ``test_config`` may set ``DATABASE_URL``, ``IN_PROCESS_BUS`` and
    any Flask key; otherwise the database comes from ``REPORTING_DATABASE_URL`` /
    ``DATABASE_URL`` (SQLite ``var/reporting.db`` when unset)."""
    app, api = create_base_app(
        "reporting", title="Partnership Registry reports API", docs_prefix="/api/v1/reports",
        description="Reports over SDG partnerships and voluntary commitments, computed from "
                    "the registry's events: counts of published initiatives by SDG goal, UN "
                    "M49 region and stakeholder group, and of all initiatives by status.",
        test_config=test_config,
    )
    assert isinstance(app.json, DefaultJSONProvider)
    app.json.sort_keys = False  # keep "1".."17" and the regions in their documented order
    import_models()
    attach_database(app)
    _attach_summary_cache(app)
    _verify_bearer_tokens(app)

    from reporting.summaries.views import blp as summaries_blp

    api.register_blueprint(summaries_blp)
    return app


def _verify_bearer_tokens(app: Flask) -> None:
    """Bearer JWTs are verified against reporting's own copy of the registry's signing keys
    and revocations (``reporting.identity``), fed by the registry's identity events."""
    from reporting.identity.models import RevokedToken, SigningKey
    from shared.identity.store import database_token_verifier
    from shared.identity.web import register_bearer_authentication

    register_bearer_authentication(app, database_token_verifier(app, SigningKey, RevokedToken))


def _attach_summary_cache(app: Flask) -> None:
    """``app.extensions["reporting_summary_cache"]``, dropped after each commit that changed
    the read model (``CHANGED_KEY`` in ``session.info``, set by the consumer's service); and
    the read model's pending snapshots applied just before each commit."""
    from reporting.readmodel.service import (
        CHANGED_KEY,
        apply_pending_snapshots,
        discard_pending_snapshots,
    )
    from reporting.summaries.service import SummaryCache

    raw = app.config.get("SUMMARY_CACHE_SECONDS", setting("SUMMARY_CACHE_SECONDS"))
    try:
        max_age = float(str(raw))
    except (TypeError, ValueError):
        raise ValueError(f"SUMMARY_CACHE_SECONDS must be a number, not {raw!r}") from None
    cache = SummaryCache(max(0.0, max_age))
    app.extensions["reporting_summary_cache"] = cache
    factory = app.extensions["db_session_factory"]

    @sa_event.listens_for(factory, "before_commit")
    def _before_commit(session):
        # the snapshots the consumer's handler queued in this transaction, written set-wise
        # inside it (reporting.readmodel.service.queue_initiative_snapshot)
        apply_pending_snapshots(session)

    @sa_event.listens_for(factory, "after_commit")
    def _after_commit(session):
        if session.info.pop(CHANGED_KEY, False):
            cache.invalidate()

    @sa_event.listens_for(factory, "after_rollback")
    def _after_rollback(session):
        session.info.pop(CHANGED_KEY, None)
        discard_pending_snapshots(session)



def build_consumer(app: Flask) -> EventConsumer:
    """The ``reporting`` :class:`~shared.consumer.EventConsumer` of ``app``: every
    ``initiative.*.v1`` type of ``registry.initiatives`` (base topic name) -> the read model;
    the registry's signing keys and revocations (``registry.identity``) -> ``signing_keys`` and
    ``revoked_tokens`` (``shared.identity.store``)."""
    from reporting.identity.events import TOPICS as IDENTITY_TOPICS
    from reporting.identity.models import RevokedToken, SigningKey
    from reporting.readmodel.events import TOPICS
    from reporting.readmodel.models import ProcessedEvent
    from reporting.readmodel.service import initiative_handlers
    from shared.identity.store import identity_handlers

    # the handlers only use the consumer's session: a polled batch is one transaction
    handlers = initiative_handlers() | identity_handlers(SigningKey, RevokedToken)
    return EventConsumer(CONSUMER_NAME, app.extensions["db_session_factory"], ProcessedEvent,
                         handlers, list(TOPICS) + list(IDENTITY_TOPICS), atomic_batches=True)


def start_workers(app: Flask, bus: InProcessBus | None = None) -> Workers:
    """Start the ``reporting`` consumer group (on ``bus`` in embedded mode, else on Kafka).

    The consumer is kept in ``app.extensions["reporting_consumer"]``. Raises ``RuntimeError``
    when there is neither a bus nor ``KAFKA_BOOTSTRAP_SERVERS``.
    """
    workers = Workers()
    consumer = build_consumer(app)
    attach_consumer(consumer, workers, bus)
    app.extensions["reporting_consumer"] = consumer
    return workers
