"""The notifier service: e-mails the people concerned by each review step — the owner
organisation's members, the assigned reviewer, the initiative's contact and the secretariat —
in their language (``notifier.deliveries.service``); issue 9: the reminders to report progress
with one-click unsubscribe (``deliveries.reminders``, ``notifier.unsubscribes``: pages
``/unsubscribe/<token>``, API ``/api/v1/unsubscribe/<token>``), the secretariat's weekly
digest (``deliveries.digest``) and the progress report notices
(``deliveries.progress_reports``).

It consumes ``registry.initiatives`` (consumer group ``notifier``) and keeps its own tables
(``deliveries``, ``processed_events``, ``unsubscribes``); it never reads the registry's
database. Beside the
consumer runs a delivery worker thread that sends what the consumer planned
(``notifier.deliveries.worker``).
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy import event as sa_event

from notifier.db import import_models
from notifier.deliveries.transport import MailTransport
from notifier.deliveries.worker import DeliveryPolicy, DeliveryWorker
from shared.bus import InProcessBus
from shared.config import SETTINGS, Setting, public_base_url, setting
from shared.consumer import EventConsumer
from shared.runtime import Workers, attach_consumer
from shared.web import attach_database, create_base_app

CONSUMER_NAME = "notifier"

#: The notifier's own settings (environment variables; a Flask config key of the same name, e.g.
#: from ``create_app(test_config)``, wins). Defaults and meaning as in ``DeliveryPolicy``.
DELIVERY_SETTINGS: tuple[Setting, ...] = tuple(
    s for s in SETTINGS if s.name.startswith("DELIVERY_"))
_POLICY_FIELDS = {"DELIVERY_MAX_ATTEMPTS": ("max_attempts", int),
                  "DELIVERY_BACKOFF_SECONDS": ("backoff_seconds", float),
                  "DELIVERY_BACKOFF_MAX_SECONDS": ("backoff_max_seconds", float),
                  "DELIVERY_POLL_SECONDS": ("poll_seconds", float),
                  "DELIVERY_CLAIM_SECONDS": ("claim_seconds", float)}


def create_app(test_config: dict | None = None) -> Flask:
    """The notifier's WSGI app. ``test_config`` may set ``DATABASE_URL``, ``SMTP_URL``,
    ``MAIL_FROM``, ``SECRETARIAT_EMAIL``, ``PUBLIC_BASE_URL``, the ``DELIVERY_*`` settings
    and any Flask key; otherwise they come from the environment (``shared.config.SETTINGS``,
    :data:`DELIVERY_SETTINGS`)."""
    app, api = create_base_app(
        "notifier", title="Partnership Registry notifications API",
        docs_prefix="/api/v1/subscriptions",
        description="Notifications about SDG partnerships and voluntary commitments: e-mails "
                    "to the owner organisation's members, the assigned reviewer, contacts "
                    "and the secretariat on each review step.",
        test_config=test_config,
    )
    import_models()
    attach_database(app)
    _wake_workers_on_commit(app)
    _verify_bearer_tokens(app)

    from notifier.deliveries.views import blp as channels_blp
    from notifier.unsubscribes.pages import bp as unsubscribe_pages
    from notifier.unsubscribes.views import blp as unsubscribe_blp
    from shared.security import csrf_exempt

    api.register_blueprint(channels_blp)
    # RFC 8058: the one-click POST carries no cookie and no CSRF token; the signed token in
    # the URL is the proof (notifier.unsubscribes.service)
    api.register_blueprint(csrf_exempt(unsubscribe_blp))
    app.register_blueprint(csrf_exempt(unsubscribe_pages))
    return app


def _verify_bearer_tokens(app: Flask) -> None:
    """Bearer JWTs are verified against the notifier's own copy of the registry's signing keys
    and revocations (``notifier.identity``), fed by the registry's identity events."""
    from notifier.identity.models import RevokedToken, SigningKey
    from shared.identity.store import database_token_verifier
    from shared.identity.web import register_bearer_authentication

    register_bearer_authentication(app, database_token_verifier(app, SigningKey, RevokedToken))


def _config(app: Flask, name: str) -> str | None:
    return app.config.get(name) or setting(name)


def delivery_policy(app: Flask) -> DeliveryPolicy:
    """The :class:`DeliveryPolicy` from the ``DELIVERY_*`` settings; raises ``ValueError``
    naming the setting when one is not a positive number."""
    values = {}
    for s in DELIVERY_SETTINGS:
        raw = app.config.get(s.name, setting(s.name))
        field, kind = _POLICY_FIELDS[s.name]
        try:
            value = kind(raw)
        except (TypeError, ValueError):
            raise ValueError(f"{s.name} must be a number, not {raw!r}") from None
        if value <= 0:
            raise ValueError(f"{s.name} must be positive, not {raw!r}")
        values[field] = value
    return DeliveryPolicy(**values)


def _mail_settings(app: Flask):
    from notifier.deliveries.rendering import MailSettings

    return MailSettings(
        mail_from=_config(app, "MAIL_FROM") or "",
        secretariat_email=_config(app, "SECRETARIAT_EMAIL") or "",
        public_base_url=_config(app, "PUBLIC_BASE_URL") or public_base_url(),
        secret_key=app.config["SECRET_KEY"],
    )



def build_consumer(app: Flask) -> EventConsumer:
    """The ``notifier`` :class:`~shared.consumer.EventConsumer` of ``app`` (base topic names).

    It only writes pending deliveries (no SMTP; see ``notifier.deliveries.service``) and keeps
    the registry's signing keys and revocations (``registry.identity``, see
    ``shared.identity.store``).
    """
    from notifier.deliveries.account_mail import account_handlers
    from notifier.deliveries.digest import digest_handlers
    from notifier.deliveries.events import TOPICS
    from notifier.deliveries.models import ProcessedEvent
    from notifier.deliveries.organizations import TOPICS as ORGANIZATION_TOPICS
    from notifier.deliveries.organizations import organization_handlers
    from notifier.deliveries.progress_reports import progress_report_handlers
    from notifier.deliveries.reminders import reminder_handlers
    from notifier.deliveries.service import initiative_handlers
    from notifier.identity.events import TOPICS as IDENTITY_TOPICS
    from notifier.identity.models import RevokedToken, SigningKey
    from shared.identity.store import identity_handlers

    settings = _mail_settings(app)
    handlers = (initiative_handlers(settings=settings)
                | organization_handlers(settings=settings)
                | account_handlers(settings=settings)
                | reminder_handlers(settings=settings)
                | digest_handlers(settings=settings)
                | progress_report_handlers(settings=settings)
                | identity_handlers(SigningKey, RevokedToken))
    return EventConsumer(CONSUMER_NAME, app.extensions["db_session_factory"], ProcessedEvent,
                         handlers, list(dict.fromkeys([*TOPICS, *ORGANIZATION_TOPICS,
                                                       *IDENTITY_TOPICS])),
                         atomic_batches=True)


def build_delivery_worker(app: Flask, transport: MailTransport | None = None) -> DeliveryWorker:
    """The :class:`DeliveryWorker` of ``app`` (not started). ``transport`` defaults to the one
    ``SMTP_URL`` names (``.eml`` files when unset); raises ``ValueError`` for a malformed
    ``SMTP_URL`` or ``DELIVERY_*`` setting."""
    from notifier.deliveries.transport import transport_from_url

    if transport is None:
        transport = transport_from_url(_config(app, "SMTP_URL"))
    return DeliveryWorker(app.extensions["db_session_factory"], transport, _mail_settings(app),
                          delivery_policy(app))


def _wake_workers_on_commit(app: Flask) -> None:
    """After a commit that wrote deliveries (``PLANNED_KEY`` in ``session.info``), wake the
    app's running delivery workers. Only a wake-up of a local thread — the deliveries
    themselves were written by the service function, in the consumer's transaction."""
    from notifier.deliveries.service import PLANNED_KEY

    workers: list[DeliveryWorker] = app.extensions.setdefault("notifier_delivery_workers", [])
    factory = app.extensions["db_session_factory"]

    @sa_event.listens_for(factory, "after_commit")
    def _after_commit(session):
        if session.info.pop(PLANNED_KEY, False):
            for worker in list(workers):
                worker.wake()

    @sa_event.listens_for(factory, "after_rollback")
    def _after_rollback(session):
        session.info.pop(PLANNED_KEY, None)


class NotifierWorkers(Workers):
    """The consumer thread and the delivery worker thread; ``stop()`` wakes the worker too."""

    def __init__(self, app: Flask, delivery_worker: DeliveryWorker):
        super().__init__()
        self.app = app
        self.delivery_worker = delivery_worker

    def stop(self, timeout: float = 10.0) -> None:
        """Signal both threads, wake the worker from its sleep, wait for them."""
        self.stop_event.set()
        self.delivery_worker.wake()
        super().stop(timeout)
        running = self.app.extensions.get("notifier_delivery_workers", [])
        if self.delivery_worker in running:
            running.remove(self.delivery_worker)


def start_workers(app: Flask, bus: InProcessBus | None = None,
                  transport: MailTransport | None = None) -> Workers:
    """Start the ``notifier`` consumer group (on ``bus`` in embedded mode, else on Kafka) and
    the delivery worker thread (``transport`` as in :func:`build_delivery_worker`).

    The consumer is kept in ``app.extensions["notifier_consumer"]``, the worker in
    ``app.extensions["notifier_delivery_worker"]``.
    """
    worker = build_delivery_worker(app, transport)
    workers = NotifierWorkers(app, worker)
    consumer = build_consumer(app)
    attach_consumer(consumer, workers, bus)  # raises when there is no bus: nothing started
    app.extensions["notifier_consumer"] = consumer
    app.extensions["notifier_delivery_workers"].append(worker)
    app.extensions["notifier_delivery_worker"] = worker
    workers.spawn("notifier-deliveries", worker.run)  # its first pass sends what is due
    return workers
