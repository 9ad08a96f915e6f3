"""The registry service: organisations, initiatives, secretariat review, public pages."""

from __future__ import annotations

from flask import Flask

from registry.db import import_models
from shared.anonymous import require_authentication_for_writes
from shared.bus import InProcessBus
from shared.config import number
from shared.events.types import (
    TOPIC_ACCOUNTS,
    TOPIC_IDENTITY,
    TOPIC_INITIATIVES,
    TOPIC_ORGANIZATIONS,
)
from shared.outbox import OutboxRelay
from shared.runtime import Workers, attach_relay, make_relay
from shared.web import attach_database, create_base_app

SOURCE = "/registry"


def create_app(test_config: dict | None = None) -> Flask:
    """The registry's WSGI app. ``test_config`` may set ``DATABASE_URL`` and any Flask key."""
    app, api = create_base_app(
        "registry", title="Partnership Registry API", docs_prefix="/api/v1",
        description="Register SDG partnerships and voluntary commitments, review them as the "
                    "secretariat, and read the published registry.",
        test_config=test_config,
    )
    import_models()
    attach_database(app)

    from registry.accounts.views import register_accounts
    from registry.audit.views import blp as audit_blp
    from registry.auth.views import current_principal, register_auth
    from registry.authz.routes import register_authentication_first
    from registry.compliance.views import blp as compliance_blp
    from registry.initiatives.pages import bp as initiative_pages_bp
    from registry.initiatives.revision_views import blp as initiative_versions_blp
    from registry.initiatives.views import blp as initiatives_blp
    from registry.oauth.pages import bp as oauth_pages_bp
    from registry.oauth.server import create_authorization_server
    from registry.oauth.views import blp as tokens_blp
    from registry.oauth.views import clients_blp
    from registry.oauth.views import well_known as oauth_well_known
    from registry.organizations.pages import bp as organization_pages_bp
    from registry.organizations.views import blp as organizations_blp
    from registry.pages.views import bp as pages_bp
    from registry.progress.views import blp as progress_blp
    from registry.ratelimits import init_ratelimits
    from registry.reference.views import blp as reference_blp
    from registry.review.pages import bp as review_pages_bp
    from registry.workflow.views import blp as review_blp
    from shared.identity.web import exempt_blueprint
    from shared.security import csrf_exempt

    register_auth(app)
    init_ratelimits(app)
    register_accounts(app, api)  # session hook after the bearer hook
    # after every authentication hook (bearer, session): anonymous writes are 401 before parsing
    require_authentication_for_writes(
        app, is_authenticated=lambda: current_principal().is_authenticated,
        prefixes=("/api/", "/oauth/"))
    api.register_blueprint(audit_blp)
    api.register_blueprint(organizations_blp)
    api.register_blueprint(initiatives_blp)
    api.register_blueprint(initiative_versions_blp)  # versions, diff, revisions (rev)
    api.register_blueprint(progress_blp)  # progress reports, indicators (issue 9)
    api.register_blueprint(reference_blp)
    api.register_blueprint(review_blp)
    api.register_blueprint(compliance_blp)  # the reporting light (issue 9)
    api.register_blueprint(tokens_blp)
    api.register_blueprint(clients_blp)
    create_authorization_server(app)
    app.register_blueprint(csrf_exempt(oauth_well_known))  # credentials in the body
    exempt_blueprint(app, oauth_well_known.name)  # HTTP Basic client authentication
    app.register_blueprint(oauth_pages_bp)
    app.register_blueprint(pages_bp)
    app.register_blueprint(organization_pages_bp)
    app.register_blueprint(review_pages_bp)
    app.register_blueprint(initiative_pages_bp)  # partner pages (issue 8)
    _register_progress_pages(app)  # progress reports, indicators, compliance (issue 9)
    # keep last: it reads the principal every authentication hook (bearer, session) set
    register_authentication_first(app)
    return app


def _register_progress_pages(app: Flask) -> None:
    """The pages of issue 9: the progress-report form and review page, the indicators
    (``registry.progress.pages``) and the compliance dashboard
    (``registry.compliance.pages``)."""
    from registry.compliance.pages import bp as compliance_pages_bp
    from registry.progress.pages import bp as progress_pages_bp

    app.register_blueprint(progress_pages_bp)
    app.register_blueprint(compliance_pages_bp)


RELAY_TOPICS = [TOPIC_INITIATIVES, TOPIC_ORGANIZATIONS, TOPIC_IDENTITY, TOPIC_ACCOUNTS]


def _relay_factory(app: Flask):
    from registry.outbox.models import OutboxEvent

    factory = app.extensions["db_session_factory"]
    return lambda publisher: OutboxRelay(
        factory, OutboxEvent, publisher, batch_size=int(number("OUTBOX_BATCH_SIZE") or 1000),
        retry_max_seconds=number("KAFKA_RETRY_MAX_SECONDS") or 30.0)


def build_relay(app: Flask, bus: InProcessBus | None = None) -> OutboxRelay:
    """The registry's outbox relay, publishing to ``bus`` or to Kafka (no thread started)."""
    return make_relay(_relay_factory(app), RELAY_TOPICS, bus)


def start_workers(app: Flask, bus: InProcessBus | None = None) -> Workers:
    """Start the outbox relay (to ``bus`` in embedded mode, else to Kafka) and, when
    ``SCHEDULER_ENABLED`` (not under tests), the scheduled jobs (``registry.compliance
    .scheduler``: the reporting lights, reminders and weekly digest)."""
    from registry.compliance import scheduler

    workers = Workers()
    app.extensions["outbox_relay"] = attach_relay(_relay_factory(app), workers, RELAY_TOPICS,
                                                  bus)
    if scheduler.enabled(app):
        app.extensions["scheduler"] = scheduler.start_scheduler(app, workers.stop_event)
    return workers
