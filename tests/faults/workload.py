"""Load for the fault tests: a partner registers initiatives, the secretariat reviews them, over
HTTP with real bearer tokens, in a background thread, while a fault is injected.

Each *flow* takes one initiative through ``create -> submit -> review`` (approve twice in three,
else request changes or reject), with a contact address of its own. Every answer is recorded;
a write counts as **acknowledged** only on a 2xx. A step that gets no 2xx is tried again with
a short back-off (as a client would); a 409 on a retried transition means the earlier try
committed after all, and the flow moves on.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from tests.faults.stack import PrivateStack, http, wait_until

#: (stakeholder group, country) of the lead organisations, and the tags each flow rotates over
ORGANIZATIONS = (("ngo", "FJI"), ("private_sector", "KEN"), ("academic_institution", "BRA"),
                 ("government", "FRA"))
TAGS = ((["14.1", "13.2"], ["FJI"]), (["14.2"], ["KEN", "TZA"]), (["6.1", "14.5"], ["BRA"]),
        (["13.1"], ["FRA", "IND"]), (["12.5", "14.1"], ["AUS"]))
REVIEWS = ("approve", "approve", "request-changes", "approve", "approve", "reject")
#: seconds between two flows: a steady ~10 requests/s, so a 15 s outage spans ~50 writes and
#: the services (on a shared 2-core machine) are loaded but not saturated
FLOW_PACE_S = 0.25


@dataclass
class Answer:
    """One HTTP answer the workload got: ``status`` 0 when no answer came."""

    action: str
    initiative_id: str | None
    status: int
    retry_after: str | None
    at: float
    took: float


@dataclass
class Workload:
    """The load generator; ``acknowledged`` lists ``(action, initiative id)`` answered 2xx."""

    stack: PrivateStack
    partner: str = ""
    secretariat: str = ""
    organizations: list[str] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    acknowledged: list[tuple[str, str]] = field(default_factory=list)
    flows_done: int = 0
    _counter: itertools.count = field(default_factory=lambda: itertools.count(1))
    error: BaseException | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- setup ---------------------------------------------------------------------------
    def prepare(self) -> None:
        """Tokens from ``registry create-token`` and the lead organisations (registered and
        verified by the secretariat over HTTP)."""
        self.secretariat = self.stack.cli("registry", "create-token",
                                          "--role", "secretariat").strip()
        registry = self.stack.url("registry")
        for group, country in ORGANIZATIONS:
            status, body, _ = http("POST", f"{registry}/api/v1/organizations",
                                   {"name": f"Faults {group} {country}",
                                    "stakeholder_group": group, "country": country},
                                   token=self.secretariat)
            assert status == 201, (status, body)
            self.organizations.append(body["id"])
            status, body, _ = http("POST", f"{registry}/api/v1/organizations/{body['id']}/verify",
                                   {}, token=self.secretariat)
            assert status == 200, (status, body)
        # the partner acts for the first organisation (drafts belong to an organisation);
        # naming the others as lead entity proposes links they have not confirmed
        self.partner = self.stack.cli("registry", "create-token", "--role", "partner",
                                      "--organization", self.organizations[0],
                                      "--email", "partner@faults.test").strip()

    # -- one request ---------------------------------------------------------------------
    def _call(self, action: str, method: str, path: str, body: dict | None, token: str,
              initiative_id: str | None = None) -> tuple[int, dict]:
        start = time.monotonic()
        status, payload, headers = http(method, f"{self.stack.url('registry')}{path}", body,
                                        token=token, timeout=15)
        with self._lock:
            self.answers.append(Answer(action, initiative_id, status, headers.get("Retry-After"),
                                       start, time.monotonic() - start))
            if 200 <= status < 300:
                self.acknowledged.append((action, initiative_id or payload.get("id", "")))
        return status, payload

    def _until_done(self, action: str, method: str, path: str, body: dict | None, token: str,
                    initiative_id: str | None = None) -> dict | None:
        """Try until 2xx (the body), a 409 after a failed try (None: it committed before), or
        the workload stops (None)."""
        tried = False
        while not self._stop.is_set():
            status, payload = self._call(action, method, path, body, token, initiative_id)
            if 200 <= status < 300:
                return payload
            if status == 409 and tried:
                return None
            if 400 <= status < 500 and status != 409:
                raise AssertionError(f"{action} {path}: {status} {payload}")
            tried = True
            self._stop.wait(0.3)
        return None

    # -- flows ---------------------------------------------------------------------------
    def flow(self) -> None:
        """One initiative through create, submit and a review."""
        n = next(self._counter)
        targets, countries = TAGS[n % len(TAGS)]
        created = self._until_done("create", "POST", "/api/v1/initiatives", {
            "title": f"Fault-test initiative {n}",
            "description": "Restore mangroves and coral reefs with coastal communities.",
            "lead_organization_id": self.organizations[n % len(self.organizations)],
            "sdg_targets": targets, "countries": countries,
            "start_date": "2026-01-01", "end_date": "2028-12-31",
            "deliverables": [{"description": "Reef restored", "due_date": "2028-06-30"}],
            "resources": [{"type": "financing", "amount_usd": "1000"}],
            "contact_email": f"contact-{n}@faults.test"}, self.partner)
        if not created:
            return
        iid = created["id"]
        base = f"/api/v1/initiatives/{iid}"
        if self._stop.is_set():
            return
        self._until_done("submit", "POST", f"{base}/submit", {}, self.partner, iid)
        if self._stop.is_set():
            return
        review = REVIEWS[n % len(REVIEWS)]
        comment = {"comment": f"Review of initiative {n}"}
        self._until_done(review, "POST", f"{base}/{review}", comment, self.secretariat, iid)
        with self._lock:
            self.flows_done += 1

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.flow()
                self._stop.wait(FLOW_PACE_S)
        except BaseException as exc:  # reported by wait_flows() and stop()
            self.error = exc
            raise

    def start(self) -> None:
        """Run flows in a background thread until :meth:`stop`."""
        self._stop.clear()
        self.error = None
        self._thread = threading.Thread(target=self._run, name="fault-workload", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the request in flight (at most one HTTP timeout)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
            assert not self._thread.is_alive(), "workload thread did not stop"
            self._thread = None
        if self.error is not None:
            raise AssertionError(f"the workload failed: {self.error!r}") from self.error

    def wait_flows(self, more: int, timeout: float = 60) -> None:
        """Until ``more`` further flows finished."""
        target = self.flows_done + more

        def done() -> bool:
            if self.error is not None:
                raise AssertionError(f"the workload failed: {self.error!r}") from self.error
            return self.flows_done >= target

        wait_until(done, timeout, f"{more} workload flows")

    # -- what happened -------------------------------------------------------------------
    def statuses(self, since: float = 0.0) -> Counter:
        """Counter of HTTP statuses answered at or after ``since`` (monotonic seconds)."""
        with self._lock:
            return Counter(a.status for a in self.answers if a.at >= since)

    def answers_since(self, since: float) -> list[Answer]:
        with self._lock:
            return [a for a in self.answers if a.at >= since]
