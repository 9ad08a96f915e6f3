"""The notifier service: e-mails initiative contacts and the secretariat on review steps.

It consumes ``registry.initiatives`` (consumer group ``notifier``) and keeps its own tables
(``deliveries``, ``processed_events``); it never reads the registry's database.
"""

from __future__ import annotations

from flask import Flask

from notifier.db import import_models
from notifier.deliveries.transport import MailTransport
from shared.bus import InProcessBus
from shared.config import setting
from shared.consumer import EventConsumer
from shared.runtime import Workers, attach_consumer
from shared.web import attach_database, create_base_app

CONSUMER_NAME = "notifier"


def create_app(test_config: dict | None = None) -> Flask:
    """The notifier's WSGI app. ``test_config`` may set ``DATABASE_URL``, ``SMTP_URL``,
    ``MAIL_FROM``, ``SECRETARIAT_EMAIL``, ``PUBLIC_BASE_URL`` and any Flask key; otherwise
    they come from the environment (``shared.config.SETTINGS``)."""
    app, api = create_base_app(
        "notifier", title="Partnership Registry notifications API",
        docs_prefix="/api/v1/subscriptions",
        description="Notifications about SDG partnerships and voluntary commitments: e-mails "
                    "to contacts and the secretariat on each review step.",
        test_config=test_config,
    )
    import_models()
    attach_database(app)

    from notifier.deliveries.views import blp as channels_blp

    api.register_blueprint(channels_blp)
    return app


def _config(app: Flask, name: str) -> str | None:
    return app.config.get(name) or setting(name)


def build_consumer(app: Flask, transport: MailTransport | None = None) -> EventConsumer:
    """The ``notifier`` :class:`~shared.consumer.EventConsumer` of ``app`` (base topic names).

    ``transport`` defaults to the one ``SMTP_URL`` names (``.eml`` files when unset); raises
    ``ValueError`` for a malformed ``SMTP_URL``.
    """
    from notifier.deliveries.events import TOPICS
    from notifier.deliveries.models import ProcessedEvent
    from notifier.deliveries.rendering import MailSettings
    from notifier.deliveries.service import initiative_handlers
    from notifier.deliveries.transport import transport_from_url

    settings = MailSettings(
        mail_from=_config(app, "MAIL_FROM") or "",
        secretariat_email=_config(app, "SECRETARIAT_EMAIL") or "",
        public_base_url=_config(app, "PUBLIC_BASE_URL") or "",
    )
    if transport is None:
        transport = transport_from_url(_config(app, "SMTP_URL"))
    return EventConsumer(CONSUMER_NAME, app.extensions["db_session_factory"], ProcessedEvent,
                         initiative_handlers(transport=transport, settings=settings),
                         list(TOPICS))


def start_workers(app: Flask, bus: InProcessBus | None = None) -> Workers:
    """Start the ``notifier`` consumer group (on ``bus`` in embedded mode, else on Kafka).

    The consumer is kept in ``app.extensions["notifier_consumer"]``.
    """
    workers = Workers()
    consumer = build_consumer(app)
    attach_consumer(consumer, workers, bus)
    app.extensions["notifier_consumer"] = consumer
    return workers
