"""Fixtures of the notifier's tests: initiative events as the registry would publish them."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from shared.bus import Message
from shared.config import var_dir
from shared.events import CloudEvent, event_to_message, new_event, topic_name
from shared.events.types import (
    INITIATIVE_APPROVED,
    INITIATIVE_ARCHIVED,
    INITIATIVE_CHANGES_REQUESTED,
    INITIATIVE_COMMENTED,
    INITIATIVE_COMPLETED,
    INITIATIVE_COMPLETION_DECLARED,
    INITIATIVE_COMPLETION_DECLINED,
    INITIATIVE_REINSTATED,
    INITIATIVE_REJECTED,
    INITIATIVE_REVIEW_ASSIGNED,
    INITIATIVE_REVISION_APPROVED,
    INITIATIVE_REVISION_CHANGES_REQUESTED,
    INITIATIVE_REVISION_REJECTED,
    INITIATIVE_REVISION_SUBMITTED,
    INITIATIVE_SUBMITTED,
    INITIATIVE_SUSPENDED,
    INITIATIVE_WITHDRAWN,
    TOPIC_INITIATIVES,
    dump_data,
)

#: event type -> (action, from status, to status) as the registry's workflows send them
ACTION = {
    INITIATIVE_SUBMITTED: ("submit", "draft", "submitted"),
    INITIATIVE_APPROVED: ("approve", "submitted", "published"),
    INITIATIVE_CHANGES_REQUESTED: ("request_changes", "submitted", "changes_requested"),
    INITIATIVE_REJECTED: ("reject", "submitted", "rejected"),
    # review desk (issue 8)
    INITIATIVE_COMPLETION_DECLARED: ("declare_completion", "published", "completion_declared"),
    INITIATIVE_COMPLETION_DECLINED: ("decline_completion", "completion_declared", "published"),
    INITIATIVE_COMPLETED: ("confirm_completion", "completion_declared", "completed"),
    INITIATIVE_ARCHIVED: ("archive", "completed", "archived"),
    INITIATIVE_WITHDRAWN: ("withdraw", "published", "withdrawn"),
    INITIATIVE_SUSPENDED: ("suspend", "published", "suspended"),
    INITIATIVE_REINSTATED: ("reinstate", "suspended", "published"),
    INITIATIVE_REVISION_SUBMITTED: ("submit", "published", "published"),
    INITIATIVE_REVISION_APPROVED: ("approve", "published", "published"),
    INITIATIVE_REVISION_CHANGES_REQUESTED: ("request_changes", "published", "published"),
    INITIATIVE_REVISION_REJECTED: ("reject", "published", "published"),
    INITIATIVE_COMMENTED: ("comment", "published", "published"),
    INITIATIVE_REVIEW_ASSIGNED: ("assign", "submitted", "submitted"),
}
#: revision status each revision event carries
REVISION_STATUS = {INITIATIVE_REVISION_SUBMITTED: "submitted",
                   INITIATIVE_REVISION_APPROVED: "approved",
                   INITIATIVE_REVISION_CHANGES_REQUESTED: "changes_requested",
                   INITIATIVE_REVISION_REJECTED: "rejected"}

MakeEvent = Callable[..., CloudEvent]


@pytest.fixture
def make_event() -> MakeEvent:
    """Factory: an ``initiative.*.v1`` CloudEvent whose data went through ``dump_data``."""

    def make(type_: str, *, title: str = "Clean Oceans Alliance",
             contact_email: str | None = "contact@example.org", comment: str | None = None,
             public_id: str | None = None, initiative_id: str | None = None,
             action: tuple[str, str | None, str] | None = None,
             contact_email_verified: bool = True, actor: dict[str, Any] | None = None,
             **extra: Any) -> CloudEvent:
        """``extra``: optional ``InitiativeEventData`` fields (``recipients``, ``revision``,
        ``thread_entry``, ``review_url``, ``owner_url``, ``contact_locale``). A revision
        event gets revision 2 and a comment a thread entry unless given."""
        act, from_status, to_status = action or ACTION.get(type_, ("update", "draft", "draft"))
        if type_ == INITIATIVE_APPROVED and public_id is None:
            public_id = "PR-2026-00042"
        if type_ in REVISION_STATUS:
            extra.setdefault("revision", {"number": 2, "status": REVISION_STATUS[type_],
                                          "base_version": 1, "changed_fields": ["title"]})
        if type_ == INITIATIVE_COMMENTED:
            extra.setdefault("thread_entry", {"id": str(uuid.uuid4()),
                                              "body": "Could you add the budget?",
                                              "visibility": "participants",
                                              "reply_to": None})
        if from_status not in (None, "draft", "submitted") and public_id is None:
            public_id = "PR-2026-00042"  # published once
        now = datetime.now(UTC)
        initiative: dict[str, Any] = {
            "id": initiative_id or str(uuid.uuid4()), "public_id": public_id,
            "status": to_status, "version": 3, "title": title,
            "description": "Reduce marine plastic.",
            "lead_organization": {"id": str(uuid.uuid4()), "name": "Blue Planet Trust",
                                  "acronym": None, "stakeholder_group": "ngo",
                                  "country": "KEN"},
            "partners": [], "sdg_goals": [14], "sdg_targets": ["14.1"], "countries": ["KEN"],
            "regions": [], "deliverables": [], "resources": [],
            "contact_email": contact_email, "contact_email_verified": contact_email_verified,
            "created_at": now, "updated_at": now,
            "published_at": now if to_status == "published" else None,
        }
        data = {"action": act, "from_status": from_status, "to_status": to_status,
                "comment": comment, "actor": actor or {"role": "secretariat"},
                "initiative": initiative, **extra}
        return new_event(type_, source="/registry", subject=initiative["id"],
                         data=dump_data(type_, data))

    return make


def _to_message(event: CloudEvent | dict[str, Any], topic: str | None = None) -> Message:
    """A bus message in Kafka binary mode (as the outbox relay builds it)."""
    envelope = event.to_dict() if isinstance(event, CloudEvent) else event
    key, headers, value = event_to_message(envelope)
    return Message(topic=topic or topic_name(TOPIC_INITIATIVES), key=key, value=value,
                   headers=headers)


def _read_mail_folder(folder: Path | None = None) -> list[tuple[Path, EmailMessage]]:
    """The ``.eml`` files the file transport wrote, oldest first, parsed."""
    folder = folder or var_dir() / "mail"
    files = sorted(folder.glob("*.eml")) if folder.is_dir() else []
    return [(f, message_from_bytes(f.read_bytes(), policy=policy.default))  # type: ignore[misc]
            for f in files]


@pytest.fixture
def to_message() -> Callable[..., Message]:
    """Function: CloudEvent (or structured dict) [, topic] -> Kafka-style bus message."""
    return _to_message


@pytest.fixture
def read_mails() -> Callable[..., list[tuple[Path, EmailMessage]]]:
    """Function: the parsed ``.eml`` files under VAR_DIR/mail (or a given folder)."""
    return _read_mail_folder


@pytest.fixture
def notifier_app(sqlite_url):
    """The notifier app on a migrated SQLite database (file transport: SMTP_URL is unset)."""
    from notifier.app import create_app
    from shared import migrate

    migrate.upgrade("notifier", sqlite_url)
    app = create_app({"DATABASE_URL": sqlite_url, "SECRETARIAT_EMAIL": "secretariat@un.example",
                      "PUBLIC_BASE_URL": "https://registry.example/",
                      "MAIL_FROM": "Partnership Registry <noreply@registry.example>"})
    yield app
    app.extensions["db_engine"].dispose()


@dataclass
class BusySmtpServer:
    """A real aiosmtpd server that answers ``450`` to RCPT TO of the addresses in ``busy``
    (a temporary refusal) and accepts every other; ``refused_at`` holds the monotonic time of
    each refusal, ``messages`` the accepted messages (parsed)."""

    host: str
    port: int
    busy: set[str]
    messages: list[EmailMessage] = field(default_factory=list)
    refused_at: list[float] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def wait_for(self, count: int, timeout: float = 30.0) -> list[EmailMessage]:
        """Wait until at least ``count`` messages were accepted; returns them all."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.messages) >= count, timeout)
            return list(self.messages)


@pytest.fixture
def busy_smtp_server() -> Iterator[BusySmtpServer]:
    """Start a :class:`BusySmtpServer` refusing ``busy@example.org`` for one test."""
    from aiosmtpd.controller import Controller

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = BusySmtpServer("127.0.0.1", port, busy={"busy@example.org"})

    class Handler:
        async def handle_RCPT(self, _srv, _session, envelope, address,  # noqa: N802
                              _rcpt_options):
            if address in server.busy:
                with server.arrived:
                    server.refused_at.append(time.monotonic())
                    server.arrived.notify_all()
                return "450 4.2.1 Mailbox busy, try again later"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, _srv, _session, envelope):  # noqa: N802
            msg = message_from_bytes(envelope.original_content, policy=policy.default)
            with server.arrived:
                server.messages.append(msg)  # type: ignore[arg-type]
                server.arrived.notify_all()
            return "250 OK"

    controller = Controller(Handler(), hostname=server.host, port=server.port)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()
