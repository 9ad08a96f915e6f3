"""Fixtures of the registry's tests: a migrated registry app (SQLite, or any URL), tokens, and
a small client that speaks the API the way partners and the secretariat do.

``registry`` is the usual entry point::

    def test_x(registry):
        partner = registry.token("partner")
        org = registry.org(partner, "Pacific Reef Alliance")
        draft = registry.create(partner, title="Reefs", lead_organization_id=org["id"])
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "sample" / "ocean_commitments_sample.jsonl"
PROBLEM = "application/problem+json"


class RegistryClient:
    """A migrated registry app plus helpers for tokens, requests and database reads."""

    def __init__(self, app: Flask):
        self.app = app
        self.client = app.test_client()

    # -- tokens and requests -----------------------------------------------------------------
    def token(self, role: str, organization_id: str | uuid.UUID | None = None,
              email: str | None = None) -> str:
        """A new bearer token made by the service function (as ``registry create-token``).

        A ``partner`` token acts as admin of ``organization_id``; without one, of a fresh
        organisation of its own (``Partner <hex>``, already verified, so the secretariat may
        publish its drafts): drafts belong to an organisation."""
        from registry import db
        from registry.auth.service import create_token
        from registry.organizations.models import Organization

        org = uuid.UUID(str(organization_id)) if organization_id else None
        with self.app.app_context():
            session = db.session()
            if role == "partner" and org is None:
                name = f"Partner {uuid.uuid4().hex[:8]}"  # a bare row: no event to count
                org = uuid.uuid4()
                session.add(Organization(id=org, name=name, normalized_name=name.lower(),
                                         stakeholder_group="ngo",
                                         verification_status="verified"))
                session.flush()
            plain, _row = create_token(db_session=session, role=role, organization_id=org,
                                       email=email)
            session.commit()
        return plain

    def token_for(self, principal, expires_in: int = 3600) -> str:
        """A signed access token (JWT) for a :class:`shared.identity.Principal`, issued by the
        registry's own machinery (key, ``access_tokens`` row), as OAuth would issue it."""
        from registry import db
        from registry.oauth.service import create_token

        with self.app.app_context():
            session = db.session()
            token, _claims = create_token(db_session=session, principal=principal,
                                          expires_in=expires_in, grant="test")
            session.commit()
        return token

    def user_token(self, *, orgs: dict | None = None, staff: tuple[str, ...] = (),
                   scopes: tuple[str, ...] | None = None, email: str | None = None,
                   subject: str | None = None, expires_in: int = 3600) -> str:
        """A person's token: ``orgs`` ``{organisation id: "member" | "admin"}``, ``staff``
        roles (``reviewer``, ``secretariat_admin``), ``scopes`` (None: every scope)."""
        return self.token_for(principal_spec(kind="user", orgs=orgs, staff=staff, scopes=scopes,
                                             email=email, subject=subject), expires_in)

    def client_token(self, organization_id, scopes: tuple[str, ...] = (),
                     client_id: str | None = None, expires_in: int = 3600) -> str:
        """An organisation API client's token (client-credentials shape) with ``scopes``."""
        return self.token_for(principal_spec(
            kind="client", orgs={organization_id: "member"}, scopes=scopes,
            subject=client_id or f"cli_{uuid.uuid4().hex[:12]}"), expires_in)

    @staticmethod
    def headers(token: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, path: str, token: str | None = None, **kw):
        return self.client.get(path, headers=self.headers(token), **kw)

    def post(self, path: str, body: Any = None, token: str | None = None, **kw):
        return self.client.post(path, json=body, headers=self.headers(token), **kw)

    def patch(self, path: str, body: Any = None, token: str | None = None, **kw):
        return self.client.patch(path, json=body, headers=self.headers(token), **kw)

    # -- domain shortcuts ----------------------------------------------------------------------
    def org(self, token: str, name: str, group: str = "ngo", country: str | None = None) -> dict:
        """Register an organisation through the API (asserts 201)."""
        resp = self.post("/api/v1/organizations", {"name": name, "stakeholder_group": group,
                                                   "country": country}, token)
        assert resp.status_code == 201, resp.json
        return resp.json

    def create(self, token: str, **fields: Any) -> dict:
        """Create a draft through the API (asserts 201)."""
        body = {"title": "Coral reef restoration"} | fields
        resp = self.post("/api/v1/initiatives", body, token)
        assert resp.status_code == 201, resp.json
        return resp.json

    def action(self, token: str | None, initiative_id: str, action: str,
               comment: str | None = None):
        """POST a workflow action (``submit``, ``approve``, ``request-changes``, ``reject``)."""
        body = {} if comment is None else {"comment": comment}
        return self.post(f"/api/v1/initiatives/{initiative_id}/{action}", body, token)

    def verify(self, secretariat: str, organization_id: str | None) -> None:
        """The secretariat verifies an organisation (its initiatives may be published);
        no-op when already verified or None."""
        if organization_id:
            resp = self.post(f"/api/v1/organizations/{organization_id}/verify", {}, secretariat)
            assert resp.status_code in (200, 409), resp.json

    def publish(self, partner: str, secretariat: str, **fields: Any) -> dict:
        """A complete draft, submitted and approved; returns the approved initiative."""
        created = self.create(partner, **(complete_fields(self, partner) | fields))
        resp = self.action(partner, created["id"], "submit")
        assert resp.status_code == 200, resp.json
        self.verify(secretariat, created["owner_organization_id"])
        resp = self.action(secretariat, created["id"], "approve")
        assert resp.status_code == 200, resp.json
        return resp.json

    # -- database reads ------------------------------------------------------------------------
    def session(self):
        """A fresh session on the app's database (close it yourself or use ``with``)."""
        return self.app.extensions["db_session_factory"]()

    def outbox(self, subject: str | None = None, *, identity: bool = False,
               compliance: bool = False) -> list:
        """Outbox rows in commit order (optionally of one aggregate); the identity events
        (signing keys, revocations: ``registry.identity``) only with ``identity=True``; the
        reporting light's (status changes, reminders, digest: ``registry.compliance``, issue
        9) only with ``compliance=True``."""
        from registry.compliance.service import EVENT_TYPES as COMPLIANCE_EVENTS
        from registry.outbox.models import OutboxEvent
        from shared.events.types import TOPIC_IDENTITY

        with self.session() as s:
            query = select(OutboxEvent).order_by(OutboxEvent.seq)
            if subject is not None:
                query = query.where(OutboxEvent.subject == str(subject))
            if not identity:
                query = query.where(OutboxEvent.topic != TOPIC_IDENTITY)
            if not compliance:
                query = query.where(OutboxEvent.event_type.not_in(COMPLIANCE_EVENTS))
            return list(s.scalars(query))

    def activities(self, initiative_id: str, record_type: str = "initiative") -> list:
        """Timeline rows (``activities``) of one initiative (or another record), oldest
        first."""
        from registry.workflow.models import Activity

        with self.session() as s:
            return list(s.scalars(select(Activity).where(
                Activity.record_type == record_type,
                Activity.record_id == uuid.UUID(str(initiative_id)))
                .order_by(Activity.created_at, Activity.id)))

    def count(self, model) -> int:
        with self.session() as s:
            return s.scalar(select(func.count()).select_from(model)) or 0


def principal_spec(*, kind: str = "user", orgs: dict | None = None,
                   staff: tuple[str, ...] = (), scopes: tuple[str, ...] | None = None,
                   email: str | None = None, subject: str | None = None):
    """A :class:`shared.identity.Principal` from plain values (see ``RegistryClient.user_token``
    and ``client_token``): the spec the authorization matrix and the tests mint tokens for."""
    from shared.identity import OrgRole, Principal, PrincipalKind, Scope, StaffRole

    principal_kind = PrincipalKind(kind)
    # a person's subject is their user id: pass ``subject=str(user.id)`` for a real account;
    # by default an identity of its own, as ``create-token --role`` makes (no account)
    sub = subject or (f"token:{uuid.uuid4()}" if principal_kind is PrincipalKind.USER
                      else f"cli_{uuid.uuid4().hex[:12]}")
    return Principal(
        principal_kind, subject=sub,
        memberships={uuid.UUID(str(o)): OrgRole(r) for o, r in (orgs or {}).items()},
        staff_roles=frozenset(StaffRole(r) for r in staff),
        scopes=None if scopes is None else frozenset(Scope(s) for s in scopes),
        client_id=sub if principal_kind is PrincipalKind.CLIENT else None, email=email)


def complete_fields(registry: RegistryClient, token: str, org_name: str | None = None) -> dict:
    """Every field submitting requires, with a fresh lead organisation."""
    org = registry.org(token, org_name or f"Reef Alliance {uuid.uuid4().hex[:6]}")
    return {
        "description": "Restore 40 hectares of coral reef with coastal communities.",
        "lead_organization_id": org["id"],
        "sdg_targets": ["14.2"],
        "countries": ["FJI"],
        "start_date": "2026-01-01",
        "end_date": "2028-12-31",
        "deliverables": [{"description": "40 ha restored", "due_date": "2028-06-30"}],
        "resources": [{"type": "financing", "details": "Grant", "amount_usd": "250000.00"}],
        "contact_email": "reefs@ngo.test",
    }


def build_registry(url: str, **config: Any) -> RegistryClient:
    """Migrate ``url`` to head and build the registry app on it."""
    from registry.app import create_app
    from shared import migrate

    migrate.upgrade("registry", url)
    app = create_app({"DATABASE_URL": url, "TESTING": True} | config)
    return RegistryClient(app)


@pytest.fixture
def registry(sqlite_url) -> RegistryClient:
    """The registry on a fresh, migrated SQLite database."""
    reg = build_registry(sqlite_url)
    yield reg
    reg.app.extensions["db_engine"].dispose()


@pytest.fixture
def registry_on() -> Callable[[str], RegistryClient]:
    """Factory: the registry on a given database URL (e.g. ``pg_url``); engines disposed."""
    made: list[RegistryClient] = []

    def make(url: str, **config: Any) -> RegistryClient:
        reg = build_registry(url, **config)
        made.append(reg)
        return reg

    yield make
    for reg in made:
        reg.app.extensions["db_engine"].dispose()


@pytest.fixture
def complete() -> Callable[..., dict]:
    """``complete(registry, token)``: the fields a submittable draft needs."""
    return complete_fields


def assert_problem(resp, status: int, *fields: str) -> dict:
    """``resp`` is an RFC 9457 problem with ``status`` whose ``errors`` name each of ``fields``."""
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:500])
    assert resp.mimetype == PROBLEM, resp.mimetype
    body = resp.json
    assert body["status"] == status and body["title"]
    named = {e["field"] for e in body.get("errors", [])}
    for f in fields:
        assert f in named, (f, body)
    return body


@pytest.fixture
def problem() -> Callable[..., dict]:
    """``problem(resp, status, *fields)`` (see :func:`assert_problem`)."""
    return assert_problem


@pytest.fixture
def sample_path() -> Path:
    """The repo's 152-record demo file of real UN Ocean Conference commitments."""
    return SAMPLE
