"""Reconciliation after a fault: acknowledged writes <-> registry outbox <-> Kafka topic <->
notifier deliveries and e-mails received at SMTP <-> reporting read model.

The invariants (issue 6, "Faults"), checked over everything the private stack ever did:

* every write the workload got a 2xx for is in the registry (the initiative exists and its
  timeline holds each acknowledged action);
* every outbox row is published, and the topic holds every outbox event id, with no other
  event id than those the test produced straight onto the topic (duplicate *records* of an id
  are allowed: the relay may publish again after a crash; consumers are idempotent);
* every (event, recipient) the notification rules call for has a ``sent`` delivery and arrived
  at the SMTP server exactly once (matched by the Message-ID the notifier derives from both);
  no other e-mail arrived;
* ``GET /api/v1/reports/summary`` equals the counts computed from the registry's own API.

:func:`reconcile` polls these until they all hold (or a deadline) and returns the time it took.
A duplicated or unexpected e-mail fails at once: it can never converge away.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from shared import reference
from shared.events.types import INITIATIVE_STATUSES
from tests.faults.stack import SECRETARIAT_EMAIL, TOPIC_PREFIX, PrivateStack, http

INITIATIVES_TOPIC = f"{TOPIC_PREFIX}registry.initiatives"
ORGANIZATIONS_TOPIC = f"{TOPIC_PREFIX}registry.organizations"
DLT_TOPIC = f"{INITIATIVES_TOPIC}.dlt"

_TYPE = "org.partnership-registry.initiative."
#: who must get an e-mail for which event type (README "notifier"), written out independently
#: of the notifier's code: the contact and the people the event names (``recipients``: the
#: owner organisation's members, the assigned reviewer; issue 8) on every review step, the
#: secretariat on submission; never the actor
MAIL_RULES = {
    f"{_TYPE}submitted.v1": ("contact", "named", "secretariat"),
    f"{_TYPE}approved.v1": ("contact", "named"),
    f"{_TYPE}changes-requested.v1": ("contact", "named"),
    f"{_TYPE}rejected.v1": ("contact", "named"),
    # issue 7: one-time links go to the address the event names (an unverified contact gets
    # only its verification link, review mails once the registry says it is verified)
    "org.partnership-registry.account.email-verification-requested.v1": ("recipient",),
    "org.partnership-registry.account.password-reset-requested.v1": ("recipient",),
    "org.partnership-registry.contact.email-verification-requested.v1": ("recipient",),
}
#: workload action -> the timeline's action name
TIMELINE_ACTIONS = {"create": "create", "submit": "submit", "approve": "approve",
                    "request-changes": "request_changes", "reject": "reject"}


class Diverged(AssertionError):
    """A difference that can never converge away (an e-mail sent twice or unasked for)."""


@dataclass
class Record:
    """One Kafka record as the tail saw it (headers decoded)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]


class TopicTail:
    """Reads topics from their beginning without a consumer group and keeps every record once
    (by topic, partition, offset); ``poll()`` fetches what arrived since.

    ``close()`` before stopping the broker: a consumer left open through an outage leaks the
    sockets of its reconnection attempts. The next ``poll()`` opens a new consumer, which reads
    from the beginning again (records already kept are skipped).
    """

    def __init__(self, servers: list[str], topics: list[str]):
        self.servers = servers
        self.topics = topics
        self.consumer = None
        self.records: list[Record] = []
        self._seen: set[tuple[str, int, int]] = set()

    def poll(self, rounds: int = 3) -> None:
        if self.consumer is None:
            from kafka import KafkaConsumer

            self.consumer = KafkaConsumer(
                *self.topics, bootstrap_servers=self.servers, group_id=None,
                auto_offset_reset="earliest", enable_auto_commit=False,
                metadata_max_age_ms=2000, request_timeout_ms=5000)
        for _ in range(rounds):
            got = 0
            for batch in self.consumer.poll(timeout_ms=300, max_records=5000).values():
                for rec in batch:
                    got += 1
                    where = (rec.topic, rec.partition, rec.offset)
                    if where in self._seen:
                        continue
                    self._seen.add(where)
                    headers = {k: (v or b"").decode("utf-8", "replace")
                               for k, v in (rec.headers or [])}
                    self.records.append(Record(rec.topic, rec.partition, rec.offset, rec.key,
                                               rec.value, headers))
            if not got:
                return

    def on(self, topic: str) -> list[Record]:
        return [r for r in self.records if r.topic == topic]

    def close(self) -> None:
        if self.consumer is not None:
            self.consumer.close()
            self.consumer = None


@dataclass
class Facts:
    """What one check saw: counts, and the differences still open (``problems``)."""

    problems: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def _message_ids(pairs: set[tuple[str, str]]) -> dict[str, tuple[str, str]]:
    """Message-ID -> (event id, recipient), as the notifier derives them."""
    from notifier.deliveries.rendering import MailSettings, message_id
    from shared.config import setting

    settings = MailSettings(mail_from=setting("MAIL_FROM") or "",
                            secretariat_email=SECRETARIAT_EMAIL, public_base_url="")
    return {message_id(event_id, rcpt, settings): (event_id, rcpt) for event_id, rcpt in pairs}


def registry_initiatives(stack: PrivateStack, token: str) -> dict[str, dict[str, Any]]:
    """Every initiative the registry holds (the secretariat sees all), by id, from its list."""
    out: dict[str, dict[str, Any]] = {}
    page = 1
    while True:
        status, body, _ = http("GET", f"{stack.url('registry')}/api/v1/initiatives"
                                      f"?per_page=100&page={page}", token=token, timeout=15)
        if status != 200:
            raise RuntimeError(f"registry list answered {status}")
        out.update({item["id"]: item for item in body["items"]})
        if page * 100 >= body["total"]:
            return out
        page += 1


def expected_summary(items: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """The summary's counts computed from registry list items (README: all breakdowns but
    ``by_status`` count published initiatives; zeros left out for comparison)."""
    published = [i for i in items if i["status"] == "published"]
    goals: Counter = Counter()
    regions: Counter = Counter()
    groups: Counter = Counter()
    for item in published:
        goals.update(str(g) for g in set(item.get("sdg_goals") or []))
        regions.update(reference.region_names_for(item.get("countries") or [],
                                                  item.get("regions") or []) or ["Unspecified"])
        lead = item.get("lead_organization") or {}
        groups[lead.get("stakeholder_group") or "unspecified"] += 1
    return {
        "total": {"": len(published)},
        "by_sdg_goal": dict(goals),
        "by_region": dict(regions),
        "by_stakeholder_group": dict(groups),
        "by_status": dict(Counter(i["status"] for i in items)),
    }


def _nonzero(summary: dict[str, Any]) -> dict[str, dict[str, int]]:
    out = {"total": {"": summary["total"]}}
    for key in ("by_sdg_goal", "by_region", "by_stakeholder_group", "by_status"):
        out[key] = {k: v for k, v in summary[key].items() if v}
    return out


class Reconciler:
    """Checks the invariants of the module docstring on a :class:`PrivateStack`."""

    def __init__(self, stack: PrivateStack, tail: TopicTail, secretariat_token: str):
        self.stack = stack
        self.tail = tail
        self.token = secretariat_token
        self.engines = {name: stack.engine(name) for name in ("registry", "notifier")}
        #: event ids produced straight onto the topic by tests (not in any outbox)
        self.injected_ids: set[str] = set()
        #: outbox ``seq`` at the start of the current test: lost or unsent e-mails are looked
        #: for only among later events, so one test's failure does not fail every later one
        self.since_seq = 0
        self.old_duplicates: set[str] = set()
        self.acknowledged_before = 0
        #: deliveries a killed notifier left ``sending`` (see :meth:`note_killed_notifier`)
        self.in_flight_at_kill: set[tuple[str, str]] = set()

    def start_test(self, acknowledged_before: int = 0) -> None:
        """Scope the e-mail checks to the events of the test that begins now, and the
        acknowledged-writes check to the writes after the first ``acknowledged_before``."""
        self.acknowledged_before = acknowledged_before
        self.in_flight_at_kill = set()
        self.since_seq = self._rows("registry", "SELECT coalesce(max(seq), 0) FROM "
                                                "outbox_events")[0][0]
        received = Counter(m["Message-ID"] for m in self.stack.smtp.received())
        self.old_duplicates = {mid for mid, n in received.items() if n > 1}

    def close(self) -> None:
        for engine in self.engines.values():
            engine.dispose()

    def note_killed_notifier(self) -> None:
        """Right after ``kill -9`` of the notifier: its deliveries still ``sending`` were in
        the middle of their SMTP session. One whose e-mail the server accepted before the kill
        but whose ``sent`` the process never committed is the at-least-once window no SMTP
        client can close (the README says so); it is tolerated (and counted) when its e-mail
        did arrive; one that had not reached the server yet is sent when its claim expires
        (``DELIVERY_CLAIM_SECONDS``, after the test). The worker claims one delivery at a
        time, so at most one may be held (``test_service_killed_and_restarted`` asserts it)."""
        self.in_flight_at_kill = {(d.event_id, d.recipient) for d in self._rows(
            "notifier", "SELECT event_id, recipient FROM deliveries WHERE status = 'sending'")}

    def _rows(self, service: str, sql: str) -> list:
        with self.engines[service].connect() as conn:
            return list(conn.execute(text(sql)))

    def check(self) -> Facts:
        """One pass over every invariant but the acknowledged writes (see :meth:`writes`).

        Raises :class:`Diverged` for an e-mail received twice or not asked for."""
        facts = Facts()
        try:
            outbox = self._rows("registry", "SELECT seq, event_id, topic, event_type, "
                                            "envelope, published_at FROM outbox_events")
        except Exception as exc:  # noqa: BLE001 - unreachable now: not converged yet
            facts.problems.append(f"registry database unreachable: {type(exc).__name__}")
            return facts
        facts.counts["events"] = len(outbox)
        unpublished = [r.event_id for r in outbox if r.published_at is None]
        if unpublished:
            facts.problems.append(f"{len(unpublished)} outbox events not published")

        # Kafka: every outbox id on its topic, no id from nowhere
        self.tail.poll()
        for base, topic in (("registry.initiatives", INITIATIVES_TOPIC),
                            ("registry.organizations", ORGANIZATIONS_TOPIC)):
            wanted = {r.event_id for r in outbox if r.topic == base}
            seen = Counter(r.headers.get("ce_id") for r in self.tail.on(topic))
            missing = wanted - set(seen)
            extra = set(seen) - wanted - self.injected_ids - {None}
            facts.counts[f"records on {base}"] = sum(seen.values())
            if missing:
                facts.problems.append(f"{len(missing)} events not on {topic}")
            if extra:
                raise Diverged(f"{len(extra)} event ids on {topic} that no outbox holds: "
                               f"{sorted(extra)[:5]}")

        # deliveries and e-mails: all events for "nothing unasked, nothing twice", this
        # test's events for "nothing missing"
        expected: set[tuple[str, str]] = set()
        current: set[tuple[str, str]] = set()
        for r in outbox:
            data = r.envelope["data"]
            actor = data.get("actor") or {}
            for audience in MAIL_RULES.get(r.event_type, ()):
                if audience == "secretariat":
                    pairs = [(r.event_id, SECRETARIAT_EMAIL)]
                elif audience == "recipient":
                    pairs = [(r.event_id, data["recipient"])]
                elif audience == "named":  # notify (issue 8): tiny change to the lead's file
                    pairs = [(r.event_id, p["email"]) for p in data.get("recipients") or []
                             if not actor.get("user_id") or p.get("user_id") != actor["user_id"]]
                else:
                    initiative = data["initiative"]
                    pairs = [(r.event_id, (initiative.get("contact_email") or "")
                              if initiative.get("contact_email_verified") else "")]
                for pair in pairs:
                    if not pair[1] or pair[1].casefold() == (actor.get("email") or "").casefold():
                        continue
                    expected.add(pair)
                    if r.seq > self.since_seq:
                        current.add(pair)
        facts.counts["e-mails expected"] = len(expected)
        try:
            deliveries = {(d.event_id, d.recipient): d.status for d in self._rows(
                "notifier", "SELECT event_id, recipient, status FROM deliveries")}
        except Exception as exc:  # noqa: BLE001
            facts.problems.append(f"notifier database unreachable: {type(exc).__name__}")
            deliveries = {}
        unasked = set(deliveries) - expected
        if unasked:
            raise Diverged(f"{len(unasked)} deliveries nobody asked for: {sorted(unasked)[:3]}")
        by_message_id = _message_ids(expected)
        received = Counter(m["Message-ID"] for m in self.stack.smtp.received())
        facts.counts["e-mails received"] = sum(received.values())
        twice = {mid: n for mid, n in received.items()
                 if n > 1 and mid not in self.old_duplicates}
        if twice:
            raise Diverged(f"{len(twice)} e-mails received more than once: "
                           f"{[by_message_id.get(m, m) for m in list(twice)[:3]]}")
        stray = set(received) - set(by_message_id)
        if stray:
            raise Diverged(f"{len(stray)} e-mails received that no event called for")
        message_id_of = {pair: mid for mid, pair in by_message_id.items()}
        # the one delivery whose send was in flight at a kill -9 keeps its claim until it
        # expires (DELIVERY_CLAIM_SECONDS): sent then, a second time if SMTP had accepted it
        held = {p for p in self.in_flight_at_kill if deliveries.get(p) == "sending"}
        window = {p for p in held if message_id_of.get(p) in received}
        if window:
            facts.counts["accepted by SMTP, killed before recording sent"] = len(window)
        if held - window:
            facts.counts["in flight at the kill, sent when its claim expires"] = len(
                held - window)
        wanted_ids = {mid for mid, pair in by_message_id.items()
                      if pair in current and pair not in held}
        missing_mail = wanted_ids - set(received)
        if missing_mail:
            facts.problems.append(f"{len(missing_mail)} e-mails not received at SMTP")
        not_sent = sorted(p for p in current if deliveries.get(p) != "sent" and p not in held)
        if not_sent and deliveries:
            example = not_sent[0]
            note = (" — its e-mail arrived, so the notifier will send it again when the row's "
                    "claim expires" if deliveries.get(example) == "sending"
                    and message_id_of[example] in received else "")
            facts.problems.append(f"{len(not_sent)} deliveries not recorded sent (e.g. "
                                  f"{example}: {deliveries.get(example)}){note}")

        # reporting read model vs the registry's own API
        try:
            items = registry_initiatives(self.stack, self.token)
        except Exception as exc:  # noqa: BLE001
            facts.problems.append(f"registry API: {exc}")
            return facts
        facts.counts["initiatives"] = len(items)
        status, summary, _ = http("GET", f"{self.stack.url('reporting')}/api/v1/reports/summary",
                                  timeout=10)
        if status != 200:
            facts.problems.append(f"reporting summary answered {status}")
            return facts
        want, got = expected_summary(list(items.values())), _nonzero(summary)
        for key in want:
            if want[key] != got[key]:
                facts.problems.append(f"summary {key}: reporting {got[key]} != registry "
                                      f"{want[key]}")
        assert set(got["by_status"]) <= set(INITIATIVE_STATUSES), got["by_status"]
        return facts

    def writes(self, acknowledged: list[tuple[str, str]]) -> list[str]:
        """Acknowledged writes of the current test missing from the registry: per initiative,
        the timeline must hold each acknowledged action at least as often as it was
        acknowledged."""
        problems = []
        per_initiative: dict[str, Counter] = {}
        for action, iid in acknowledged[self.acknowledged_before:]:
            per_initiative.setdefault(iid, Counter())[TIMELINE_ACTIONS[action]] += 1
        for iid, wanted in per_initiative.items():
            status, body, _ = http("GET", f"{self.stack.url('registry')}/api/v1/initiatives/"
                                          f"{iid}", token=self.token, timeout=15)
            if status != 200:
                problems.append(f"acknowledged initiative {iid}: GET answered {status}")
                continue
            have = Counter(entry["action"] for entry in body.get("timeline") or [])
            for action, n in wanted.items():
                if have[action] < n:
                    problems.append(f"initiative {iid}: {n} acknowledged {action}, "
                                    f"timeline has {have[action]}")
        return problems


@dataclass
class Convergence:
    """How long the stack took to satisfy every invariant after ``since``, what it held then,
    and the invariant that held last (``slowest``: its problem, seconds after ``since`` it was
    last seen)."""

    seconds: float
    counts: dict[str, int]
    acknowledged: int
    slowest: str = ""


def reconcile(reconciler: Reconciler, acknowledged: list[tuple[str, str]], *, since: float,
              timeout: float = 120.0) -> Convergence:
    """Poll :meth:`Reconciler.check` until no problem is left (AssertionError listing them after
    ``timeout`` seconds), then check the acknowledged writes once. ``since`` is the monotonic
    time the fault was lifted; the result's ``seconds`` counts from there."""
    deadline = time.monotonic() + timeout
    last_problem, last_seen = "", 0.0
    while True:
        facts = reconciler.check()
        if not facts.problems:
            break
        last_problem, last_seen = facts.problems[-1], time.monotonic() - since
        if time.monotonic() >= deadline:
            raise AssertionError(f"no convergence within {timeout:.0f} s: {facts.problems}; "
                                 f"counts {facts.counts}")
        time.sleep(0.3)
    seconds = time.monotonic() - since
    lost = reconciler.writes(acknowledged)
    assert not lost, f"acknowledged writes lost: {lost[:10]}"
    slowest = f"{last_problem} (until {last_seen:.1f} s)" if last_problem else "none"
    return Convergence(seconds=seconds, counts=facts.counts,
                       acknowledged=len(acknowledged) - reconciler.acknowledged_before,
                       slowest=slowest)
