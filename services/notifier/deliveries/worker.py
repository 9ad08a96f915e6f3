"""The e-mail delivery worker: sends pending deliveries, one at a time, each on its own schedule.

A thread started beside the consumer (``notifier.app.start_workers``). Each pass claims due
deliveries ONE AT A TIME (``service.claim_due_deliveries`` with ``limit=1``: ``FOR UPDATE SKIP
LOCKED`` on PostgreSQL, so several notifier processes share the work), sends it and commits its
outcome right after (``service.record_*``). One at a time so that a process killed with -9
leaves at most the delivery whose send was in flight claimed until its claim expires; every
other due delivery is still ``pending`` and goes out at once from a restarted or another
notifier process (issue 6 "Faults"). The next delivery is claimed with the outcome of the
previous one.

Throughput (issue 9: a reminder fan-out of 10,000 e-mails at >= 500 e-mails/s per notifier
process; ``bench/bench_reminders.py``, figures in the README "Performance"). Per e-mail:

* the message is written as wire bytes (``transport.wire_message``: the message
  ``rendering.build_message`` describes, without building an ``EmailMessage``; the standard
  library's header parsing and flattening took ~2 ms of CPU per e-mail, more than all the
  rest), sent on the pass's one SMTP connection;
* on PostgreSQL ONE statement records the outcome ``sent`` and claims the next delivery
  (``service.record_sent_and_claim_next``: the outcome is a data-modifying ``WITH`` of the
  claim), on a connection in autocommit, so one round trip to the database and one commit
  per e-mail; the statements are built once (SQLAlchemy's compiled form and psycopg's
  server-side prepared statement are reused);
* no retry machinery unless the database did not answer.

Batching was not needed for the goal and is not done: the kill guarantee above is unchanged.

An outcome is written until the database answers (:meth:`DeliveryWorker._record`: bounded
exponential back-off, interrupted by the worker's stop event), on a fresh connection when the
pass's connection was cut (a PostgreSQL restart): a message the SMTP server accepted is
recorded ``sent`` and never sent again. Only if the process is stopped (or dies) before that
write succeeds is it sent again when its claim expires — logged as an error with the delivery
id. A temporary failure (a 4xx reply, the server unreachable)
puts only that delivery back to ``pending`` with a later due time — bounded exponential backoff
with jitter, :meth:`DeliveryPolicy.delay` — and after ``max_attempts`` it is ``dead`` with its
last error; a 5xx makes it ``failed`` at once. Other deliveries go on meanwhile.

The consumer wakes the worker when it committed new deliveries (:meth:`DeliveryWorker.wake`);
otherwise the worker sleeps until the next delivery is due, at most ``poll_seconds`` (so a
``notifier deliveries retry`` from another process is picked up within that time).

(A module of its own rather than ``service.py``: it is the runtime loop around the service
functions, like ``shared.outbox.OutboxRelay`` is for the outbox.)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import nullcontext, suppress
from dataclasses import dataclass

from sqlalchemy import Connection
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker
from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_exponential_jitter

from notifier.deliveries.rendering import MailSettings, RenderedMail, build_message
from notifier.deliveries.service import (
    ClaimedDelivery,
    claim_due_deliveries,
    next_due_at,
    record_refused,
    record_sent,
    record_sent_and_claim_next,
    record_transient_failure,
    release_claims,
)
from notifier.deliveries.transport import (
    SMTP_TIMEOUT_SECONDS,
    DeliveryRefused,
    Mail,
    MailTransport,
    wire_message,
)
from shared.consumer import TransientError
from shared.db import utcnow
from shared.logs import event_context

log = logging.getLogger(__name__)

#: what "the database did not answer" looks like (a cut connection, a server restarting or
#: down, no pooled connection in time); anything else is a bug and is not retried
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeout)


@dataclass(frozen=True)
class DeliveryPolicy:
    """How the worker retries and batches; every number comes from a ``DELIVERY_*`` setting.

    * ``max_attempts`` — sends tried per delivery before it is ``dead`` (default 10);
    * ``backoff_seconds`` / ``backoff_max_seconds`` — the wait after failed attempt *n* is
      ``min(backoff_max, backoff * 2**(n-1) + U(0, backoff))`` seconds (tenacity's
      ``wait_exponential_jitter``: exponential with additive jitter, so deliveries that failed
      together do not retry in lock-step). Defaults 60 s and 6 h: retries after about
      1, 2, 4 … 256 min, the tenth attempt some 8.5 h after the first;
    * ``poll_seconds`` — the longest sleep between passes when nobody wakes the worker (5 s);
    * ``claim_seconds`` — how long a claim lasts (300 s). A claim left by a process that died
      mid-send expires then, and the delivery is sent again (the at-least-once window). The
      worker never starts a send that could outlast its claim (SMTP timeout + 5 s): such a
      claim is given back unsent;
    * ``record_retry_max_seconds`` — the longest wait between two tries of writing an outcome
      while the database does not answer (5 s; the first waits 0.1 s, doubling, with jitter).
    """

    max_attempts: int = 10
    backoff_seconds: float = 60.0
    backoff_max_seconds: float = 21_600.0
    poll_seconds: float = 5.0
    claim_seconds: float = 300.0
    record_retry_max_seconds: float = 5.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based); see the class."""
        state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
        state.attempt_number = max(1, attempt)
        wait = wait_exponential_jitter(multiplier=self.backoff_seconds,
                                       max=self.backoff_max_seconds,
                                       jitter=self.backoff_seconds)
        return float(wait(state))


class DeliveryWorker:
    """Sends the deliveries of one notifier database through ``transport``; see the module."""

    def __init__(self, session_factory: sessionmaker[Session], transport: MailTransport,
                 settings: MailSettings, policy: DeliveryPolicy | None = None):
        self.session_factory = session_factory
        self.transport = transport
        self.settings = settings
        self.policy = policy or DeliveryPolicy()
        self._sender = settings.sender  # parsed once, not per e-mail
        self._cond = threading.Condition()
        self._wake_seq = 0  # bumped by wake()
        self._done_seq = 0  # the wake_seq a completed pass started after

    # -- waking and waiting ----------------------------------------------------------------
    def wake(self) -> None:
        """New deliveries were committed (or the worker should stop): start a pass now."""
        with self._cond:
            self._wake_seq += 1
            self._cond.notify_all()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wake the worker and wait until a pass that started afterwards found nothing more
        due; True if that happened within ``timeout`` seconds (for tests and benchmarks)."""
        with self._cond:
            self._wake_seq += 1
            target = self._wake_seq
            self._cond.notify_all()
            return self._cond.wait_for(lambda: self._done_seq >= target, timeout)

    # -- the loop --------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Run passes until ``stop`` is set (call :meth:`wake` after setting it)."""
        while not stop.is_set():
            with self._cond:
                seq = self._wake_seq
            try:
                self.run_once(stop)
                wait = self._seconds_until_due()
                ok = True
            except Exception:
                log.exception("delivery pass failed; trying again")
                wait, ok = self.policy.poll_seconds, False
            with self._cond:
                if ok:
                    self._done_seq = max(self._done_seq, seq)
                    self._cond.notify_all()
                if self._wake_seq == seq and not stop.is_set() and wait > 0:
                    self._cond.wait(wait)

    def _seconds_until_due(self) -> float:
        due = next_due_at(self.session_factory)
        if due is None:
            return self.policy.poll_seconds
        return min(self.policy.poll_seconds, max(0.0, (due - utcnow()).total_seconds()))

    def run_once(self, stop: threading.Event | None = None) -> int:
        """Claim and send due deliveries, one per claim, until none is due (or ``stop`` is
        set); returns how many were tried.

        One database connection and one transport session (one SMTP connection) per pass. A
        delivery's outcome and the claim of the next one are one transaction (on PostgreSQL
        one autocommitted statement: one round trip, one commit per e-mail). When that
        connection was cut (the outcome was then written on a fresh one) the pass ends and the
        next one opens a new connection.
        """
        stop = stop or threading.Event()
        tried = 0
        margin = float(getattr(self.transport, "timeout", SMTP_TIMEOUT_SECONDS)) + 5.0
        engine = self.session_factory.kw["bind"]
        opener = getattr(self.transport, "open", None)
        with engine.connect() as conn, (opener() if opener else nullcontext(self.transport)) \
                as transport:
            postgresql = conn.dialect.name == "postgresql"
            if postgresql:  # see the module: one statement, no WAL flush wait per e-mail
                conn.execution_options(isolation_level="AUTOCOMMIT")
                conn.exec_driver_sql("SET synchronous_commit TO off")
            try:
                claimed = None
                while not stop.is_set() and not conn.invalidated:
                    claimed = claimed or self._claim_one(conn)
                    if claimed is None:
                        break
                    if (claimed.claim_expires_at - utcnow()).total_seconds() < margin:
                        log.warning("claim shorter than the SMTP timeout; delivery given back",
                                    extra={"delivery_id": str(claimed.id)})
                        break
                    _, claimed = self._send(claimed, conn=conn, transport=transport,
                                            stop=stop, claim_next=True)
                    tried += 1
                if claimed is not None and not conn.invalidated:  # stopping: give it back
                    release_claims(conn, [claimed.id])
            finally:
                if postgresql and not conn.invalidated:  # the pooled connection as it was
                    with suppress(*DATABASE_UNAVAILABLE):
                        conn.exec_driver_sql("RESET synchronous_commit")
        return tried

    def _claim_one(self, conn: Connection) -> ClaimedDelivery | None:
        claimed = claim_due_deliveries(conn, limit=1, claim_seconds=self.policy.claim_seconds)
        return claimed[0] if claimed else None

    def send(self, claimed: ClaimedDelivery, *, conn: Connection,
             transport: MailTransport | None = None,
             stop: threading.Event | None = None) -> str:
        """Send one claimed delivery and commit its outcome (on ``conn``, or on a fresh
        connection while the database does not answer: :meth:`_record`); returns the status.
        Raises the database error when ``stop`` was set before the outcome could be written."""
        return self._send(claimed, conn=conn, transport=transport or self.transport,
                          stop=stop or threading.Event(), claim_next=False)[0]

    def _send(self, claimed: ClaimedDelivery, *, conn: Connection, transport: MailTransport,
              stop: threading.Event, claim_next: bool) -> tuple[str, ClaimedDelivery | None]:
        """:meth:`send`, and with ``claim_next`` the next due delivery claimed in the
        transaction of this one's outcome: ``(status, next claimed or None)``."""
        with event_context(claimed.event_id, claimed.event_type):
            try:
                message = self._message(claimed)
            except Exception as exc:  # a message that cannot be built never will be
                log.exception("e-mail could not be built")
                return self._refused(conn, claimed, f"message could not be built: {exc!r}",
                                     stop, claim_next)
            try:
                transport.send(message, sender=self._sender,
                               recipient=claimed.recipient, event_id=claimed.event_id)
            except DeliveryRefused as exc:
                return self._refused(conn, claimed, str(exc), stop, claim_next)
            except TransientError as exc:
                return self._transient(conn, claimed, str(exc), stop, claim_next)
            except Exception as exc:  # unexpected: retried too, but bounded like the rest
                log.exception("unexpected error while sending")
                return self._transient(conn, claimed, repr(exc), stop, claim_next)
            try:
                _, following = self._record(
                    conn, stop, lambda c: record_sent(c, claimed.id, commit=False), claim_next,
                    sent=claimed)
            except DATABASE_UNAVAILABLE:
                log.error("e-mail ACCEPTED by the SMTP server but not recorded as sent (the "
                          "worker was stopped while the database did not answer): it will be "
                          "sent again when its claim expires",
                          extra={"delivery_id": str(claimed.id),
                                 "claim_expires_at": claimed.claim_expires_at.isoformat()})
                raise
            log.info("e-mail sent", extra={"delivery_id": str(claimed.id),
                                           "attempt": claimed.attempts})
            return "sent", following

    def _message(self, claimed: ClaimedDelivery) -> Mail:
        """The claimed delivery's message: wire bytes (:func:`~notifier.deliveries.transport.
        wire_message`), or built by :func:`~notifier.deliveries.rendering.build_message` when
        it is one that function does not write."""
        mail = RenderedMail(claimed.subject, claimed.body_text or "", claimed.body_html or "")
        wire = wire_message(mail, recipient=claimed.recipient, msg_id=claimed.message_id or "",
                            settings=self.settings, headers=claimed.headers)
        if wire is not None:
            return wire
        return build_message(mail, recipient=claimed.recipient,
                             msg_id=claimed.message_id or "", settings=self.settings,
                             headers=claimed.headers)

    def _record(self, conn: Connection, stop: threading.Event,
                write: Callable[[Connection], str | None], claim_next: bool, *,
                sent: ClaimedDelivery | None = None
                ) -> tuple[str | None, ClaimedDelivery | None]:
        """Run ``write`` (one outcome statement, not committed) and commit, until the database
        answers; returns what ``write`` returned and, with ``claim_next``, the next delivery
        claimed in the same transaction (None when none is due or ``conn`` was given up).

        First on ``conn`` — when ``write`` records delivery ``sent`` as sent and
        ``claim_next`` is set, with :func:`~notifier.deliveries.service.
        record_sent_and_claim_next` (one statement on PostgreSQL); after a
        :data:`DATABASE_UNAVAILABLE` error at once on a fresh connection, then on a fresh
        connection each try (``conn`` may have been cut by a PostgreSQL restart; no next
        claim then), waiting 0.1 s, 0.2 s … up to ``policy.record_retry_max_seconds`` with
        jitter (tenacity) in between. Setting ``stop`` ends the waiting: the last error is
        raised. Other errors are raised at once.
        """
        engine = self.session_factory.kw["bind"]
        tries = 0
        following: ClaimedDelivery | None = None

        def attempt() -> str | None:
            nonlocal tries, following
            tries += 1
            if tries == 1 and not conn.invalidated:
                try:
                    if claim_next and sent is not None and conn.dialect.name == "postgresql":
                        result = None
                        following = record_sent_and_claim_next(
                            conn, sent, claim_seconds=self.policy.claim_seconds)
                    else:
                        result = write(conn)
                        if claim_next:
                            claimed = claim_due_deliveries(
                                conn, limit=1, claim_seconds=self.policy.claim_seconds,
                                commit=False)
                            following = claimed[0] if claimed else None
                    conn.commit()
                    return result
                except BaseException:
                    following = None
                    if not conn.invalidated:
                        with suppress(Exception):
                            conn.rollback()
                    raise
            with engine.connect() as fresh:
                result = write(fresh)
                fresh.commit()
                return result

        def waiting(state: RetryCallState) -> None:
            log.warning("delivery outcome not written, the database did not answer; trying "
                        "again", extra={"try": state.attempt_number,
                                        "retry_in_s": round(state.upcoming_sleep, 3),
                                        "error": repr(state.outcome.exception())[:300]
                                        if state.outcome else None})

        def pause(seconds: float) -> None:  # a sleep that a stop ends at once
            stop.wait(seconds)

        try:  # the first try without tenacity's machinery: what nearly every e-mail costs
            return attempt(), following
        except DATABASE_UNAVAILABLE:
            if stop.is_set():
                raise
        retrying = Retrying(
            retry=retry_if_exception_type(DATABASE_UNAVAILABLE),
            wait=wait_exponential_jitter(multiplier=0.1,
                                         max=self.policy.record_retry_max_seconds, jitter=0.1),
            stop=lambda _state: stop.is_set(), sleep=pause,
            before_sleep=waiting, reraise=True)
        result = retrying(attempt)
        return result, following

    def _refused(self, conn: Connection, claimed: ClaimedDelivery, error: str,
                 stop: threading.Event, claim_next: bool) -> tuple[str, ClaimedDelivery | None]:
        _, following = self._record(
            conn, stop, lambda c: record_refused(c, claimed.id, error, commit=False), claim_next)
        log.warning("e-mail refused for good", extra={"delivery_id": str(claimed.id),
                                                      "error": error[:500]})
        return "failed", following

    def _transient(self, conn: Connection, claimed: ClaimedDelivery, error: str,
                   stop: threading.Event,
                   claim_next: bool) -> tuple[str, ClaimedDelivery | None]:
        delay = self.policy.delay(claimed.attempts)
        status, following = self._record(
            conn, stop, lambda c: record_transient_failure(
                c, claimed, error, max_attempts=self.policy.max_attempts,
                delay_seconds=delay, commit=False), claim_next)
        log.warning("e-mail not sent, temporary failure",
                    extra={"delivery_id": str(claimed.id), "attempt": claimed.attempts,
                           "status": status, "retry_in_s": round(delay, 3) if
                           status == "pending" else None, "error": error[:500]})
        return status or "pending", following
