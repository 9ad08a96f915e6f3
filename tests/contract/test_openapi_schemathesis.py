"""schemathesis against each service's OpenAPI document (issue 7): the three apps on
PostgreSQL, served in-process (WSGI), called anonymously and with a bearer token; no 5xx and
no response outside its documented status codes, content types, headers and schemas.

Bounded for ``make test``: a fixed number of examples per operation, derandomised (the same
examples on every run), no example database.
"""

from __future__ import annotations

import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.postgres

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          negative_data_rejection, response_headers_conformance, response_schema_conformance]
EXAMPLES = settings(max_examples=25, derandomize=True, database=None, deadline=None,
                    suppress_health_check=list(HealthCheck))

DOCS = {"registry": "/api/v1/openapi.json", "notifier": "/api/v1/subscriptions/openapi.json",
        "reporting": "/api/v1/reports/openapi.json"}


class Stack:
    """The three apps on their own PostgreSQL databases, with tokens and a few records."""

    def __init__(self, make_database):
        from notifier.app import create_app as notifier_app
        from registry.app import create_app as registry_app
        from reporting.app import create_app as reporting_app
        from shared import migrate

        self.apps = {}
        for name, create in (("registry", registry_app), ("notifier", notifier_app),
                             ("reporting", reporting_app)):
            url = make_database(f"st_{name}")
            migrate.upgrade(name, url)
            self.apps[name] = create({"DATABASE_URL": url, "TESTING": True,
                                      "IN_PROCESS_BUS": True})
        self.tokens = {role: self._token(role) for role in ("partner", "secretariat")}
        self._seed()

    def _token(self, role: str) -> str:
        """As ``registry create-token``; a partner's acts for an organisation of its own."""
        from registry import db
        from registry.auth.service import create_token
        from registry.organizations.models import Organization

        with self.apps["registry"].app_context():
            session = db.session()
            org = None
            if role == "partner":
                name = f"Partner {uuid.uuid4().hex[:8]}"
                org = uuid.uuid4()
                session.add(Organization(id=org, name=name, normalized_name=name.lower(),
                                         stakeholder_group="ngo"))
                session.flush()
            plain, _ = create_token(db_session=session, role=role, organization_id=org)
            session.commit()
        return plain

    def _seed(self) -> None:
        """An organisation and a draft, so that list pages have items to dump."""
        client = self.apps["registry"].test_client()
        auth = {"Authorization": f"Bearer {self.tokens['partner']}"}
        org = client.post("/api/v1/organizations", headers=auth, json={
            "name": f"Schema Reef Trust {uuid.uuid4().hex[:6]}", "stakeholder_group": "ngo",
            "country": "FJI"})
        assert org.status_code == 201, org.json
        draft = client.post("/api/v1/initiatives", headers=auth, json={
            "title": "Schema reefs", "lead_organization_id": org.json["id"],
            "sdg_targets": ["14.2"], "countries": ["FJI"],
            "deliverables": [{"description": "10 ha", "due_date": "2027-01-01"}],
            "resources": [{"type": "financing", "amount_usd": "1000.00"}]})
        assert draft.status_code == 201, draft.json

    def dispose(self) -> None:
        for app in self.apps.values():
            app.extensions["db_engine"].dispose()


@pytest.fixture(scope="module")
def stack(create_pg_database):
    made = Stack(create_pg_database)
    yield made
    made.dispose()


def _too_large(response) -> bool:
    """A generated body over ``MAX_CONTENT_LENGTH`` (1 MiB) refused with 413: a correct
    refusal that schemathesis's negative check does not list (e.g. a 100,000-character
    narrative of astral characters, 12 bytes each as JSON escapes). Only a body over the
    limit gets 413 (Werkzeug's check; ``shared.problems`` writes the problem document)."""
    return response.status_code == 413


def _failures(stack, service: str, who: str) -> list[str]:
    """Run every operation of ``service``'s document with valid (positive) and invalid
    (negative) generated requests as ``who``; the failures found, one line each."""
    schema = schemathesis.openapi.from_wsgi(DOCS[service], stack.apps[service])
    headers = {} if who == "anonymous" else {"Authorization": f"Bearer {stack.tokens[who]}"}
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @EXAMPLES
            @given(case=operation.as_strategy(generation_mode=mode))
            def check(case):
                response = case.call(headers=headers)
                if _too_large(response):
                    return  # refused before parsing, as documented: 413 problem+json
                case.validate_response(response, checks=CHECKS, headers=headers)

            try:
                check()
            except Unsatisfiable:
                continue  # nothing to make invalid (an operation without parameters or body)
            except Exception as exc:  # hypothesis re-raises the minimal failing example(s)
                details = [exc, *getattr(exc, "exceptions", [])]
                failures.append(f"{operation.label} [{mode.value}, {who}]: " + "\n".join(
                    str(e).strip()[:3000] for e in details))
    return failures


@pytest.mark.parametrize("service, who", [
    ("registry", "anonymous"), ("registry", "partner"), ("registry", "secretariat"),
    ("notifier", "anonymous"), ("notifier", "partner"),
    ("reporting", "anonymous"), ("reporting", "partner")])
def test_api_conforms_to_its_openapi_document(stack, service, who):
    failures = _failures(stack, service, who)
    assert not failures, "\n\n".join(failures)


def test_every_operation_documents_the_problem_responses(stack):
    for service, path in DOCS.items():
        spec = stack.apps[service].test_client().get(path).json
        assert spec["components"]["schemas"]["Problem"]["required"] == ["type", "title",
                                                                        "status"]
        for route, operations in spec["paths"].items():
            for method, operation in operations.items():
                if method == "parameters":
                    continue
                for status in ("401", "403", "404", "409", "422", "429"):
                    assert operation["responses"][status] == {
                        "$ref": f"#/components/responses/PROBLEM_{status}"}, (route, method)
