"""The whole chain of issue 8's notifications on real components: the registry's review-desk
API (accounts with verified addresses and languages, PostgreSQL) -> its outbox relay -> Kafka
-> the notifier (its own PostgreSQL database) -> a real SMTP server (aiosmtpd), and the same
events -> reporting's read model. Nothing here builds an event by hand: the recipients, links
and actors are the registry's own."""

from __future__ import annotations

import time
from collections import defaultdict

import pytest

from shared import migrate
from tests.registry.conftest import build_registry
from tests.registry.review_desk import make_desk

pytestmark = pytest.mark.filterwarnings(
    "ignore:(open_text|read_text) is deprecated:DeprecationWarning")

BASE = "https://registry.example"
SECRETARIAT = "secretariat@un.example"


def test_the_registry_review_desk_mails_each_person_in_their_language(
        create_pg_database, kafka_env, smtp_server, monkeypatch):
    from notifier.app import create_app as create_notifier
    from notifier.app import start_workers as start_notifier
    from registry.app import build_relay
    from reporting.app import create_app as create_reporting
    from reporting.app import start_workers as start_reporting

    monkeypatch.setenv("PUBLIC_BASE_URL", BASE)
    monkeypatch.setenv("SMTP_URL", smtp_server.url)
    registry = build_registry(create_pg_database("chain_registry"))
    notifier_db, reporting_db = (create_pg_database("chain_notifier"),
                                 create_pg_database("chain_reporting"))
    migrate.upgrade("notifier", notifier_db)
    migrate.upgrade("reporting", reporting_db)
    notifier = create_notifier({"DATABASE_URL": notifier_db, "SECRETARIAT_EMAIL": SECRETARIAT,
                                "PUBLIC_BASE_URL": BASE,
                                "MAIL_FROM": "Partnership Registry <noreply@registry.example>"})
    reporting = create_reporting({"DATABASE_URL": reporting_db})
    desk = make_desk(registry)
    try:
        # the lifecycle through the registry's API, each step by the person allowed to take it
        published = desk.published()  # Olivia creates and submits, Rita approves
        iid = published["id"]
        assert desk.act("owner", iid, "declare-completion",
                        "All 40 ha restored.").status_code == 200
        assert registry.post(f"/api/v1/initiatives/{iid}/assign",
                             {"reviewer_id": str(desk.ids["reviewer2"])},
                             desk["reviewer"]).status_code == 200
        assert registry.post(f"/api/v1/initiatives/{iid}/comments",
                             {"body": "Which <sites> exactly?"},
                             desk["reviewer"]).status_code == 201
        assert registry.post(f"/api/v1/initiatives/{iid}/comments",
                             {"body": "SECRET: check the funder", "visibility": "internal"},
                             desk["reviewer"]).status_code == 201
        assert registry.post(f"/api/v1/initiatives/{iid}/comments", {"body": "Lau and Kadavu."},
                             desk["owner"]).status_code == 201
        assert desk.act("reviewer2", iid, "confirm-completion").status_code == 200

        relay = build_relay(registry.app)
        assert relay.drain() > 0  # everything the registry committed is on Kafka
        notifier_workers = start_notifier(notifier)
        reporting_workers = start_reporting(reporting)
        try:
            smtp_server.wait_for(19, timeout=90)
            assert notifier.extensions["notifier_delivery_worker"].wait_idle(30)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                summary = reporting.test_client().get("/api/v1/reports/summary").json
                if summary["by_status"]["completed"] == 1:
                    break
                time.sleep(0.3)
            time.sleep(1.0)  # nothing more may arrive
        finally:
            notifier_workers.stop()
            reporting_workers.stop()
    finally:
        registry.app.extensions["db_engine"].dispose()
        notifier.extensions["db_engine"].dispose()
        reporting.extensions["db_engine"].dispose()

    title = "Coral reef restoration"
    received: dict[str, list[str]] = defaultdict(list)
    bodies: dict[tuple[str, str], str] = {}
    for msg in smtp_server.messages:
        to = msg["To"]
        who = to if "@desk.test" not in to else to.split("-")[0]
        received[who].append(msg["Subject"])
        bodies[(who, msg["Subject"])] = msg.get_body(("plain",)).get_content()
    public = f"{title} ({published['public_id']})"
    assert {k: sorted(v) for k, v in received.items()} == {
        # Olivia (owner, en) took the submission, the declaration and a comment: not told
        "owner": sorted([f"Published: {public}", f"New comment: {title}",
                         f"Completed: {title}"]),
        # Omar (owner, zh): every step, in Chinese; of the thread, the secretariat's comment
        # (the registry sends a comment to "the other side")
        "owner2": sorted([f"已提交审核：{title}",
                          f"已发布：{title}（{published['public_id']}）",
                          f"已申报完成：{title}", f"新评论：{title}", f"已完成：{title}"]),
        # Mia (owner organisation member who is also a reviewer): told as a member
        "member_reviewer": sorted([f"Submitted for review: {title}", f"Published: {public}",
                                   f"Completion declared: {title}", f"New comment: {title}",
                                   f"Completed: {title}"]),
        # Raj (assigned reviewer, zh): the assignment and both comments; he confirmed himself
        "reviewer2": sorted([f"已分配给您：{title}", f"新评论：{title}", f"新评论：{title}"]),
        # the secretariat's address: what it must act on, with the review page
        SECRETARIAT: sorted([f"Submitted for review: {title}",
                             f"Completion to confirm: {title}"]),
        # the contact typed into the draft: only the link to confirm it (issue 7), no review
        # mail until it is confirmed
        "reefs@ngo.test": ["Confirm this contact address"],
    }
    assert "reviewer" not in received  # Rita approved, assigned and commented: never told
    assert len(smtp_server.messages) == 19
    review_page = f"{BASE}/secretariat/review/{iid}"
    assert f"Review it: {review_page}" in bodies[(SECRETARIAT, f"Completion to confirm: {title}")]
    assert "All 40 ha restored." in bodies[(SECRETARIAT, f"Completion to confirm: {title}")]
    assert "Recorded by Olivia Owner." in bodies[(SECRETARIAT,
                                                  f"Completion to confirm: {title}")]
    assert f"{BASE}/my/initiatives/{iid}" in bodies[("owner", f"New comment: {title}")]
    assert "Rita Reviewer" in bodies[("owner", f"New comment: {title}")]
    assert "Which <sites> exactly?" in bodies[("owner", f"New comment: {title}")]
    assert not any("SECRET" in body for body in bodies.values())
    assert review_page in bodies[("reviewer2", f"已分配给您：{title}")]
    assert summary["by_status"]["completed"] == 1 and summary["total"] == 0
