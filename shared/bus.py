"""The message bus: Apache Kafka in production, an in-process bus in the embedded mode.

Both offer the same two operations to the rest of the code:

* ``publish(messages)`` — hand over a batch of :class:`Message` and return only once every one
  is acknowledged (Kafka: ``acks=all`` on an idempotent producer; in-process: every subscribed
  consumer group has processed it). Raises :class:`PublishError` naming the first message that
  failed; messages before it were acknowledged (``PublishError.acknowledged``).
* consumer groups — Kafka: :func:`run_kafka_consumer` (auto-commit off, commit after the effect);
  in-process: :meth:`InProcessBus.subscribe`, called synchronously by ``publish``.

So the outbox relay and the consumers run the same code path in both modes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.config import number, setting

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    """One record: topic, key (aggregate id), headers (name, bytes) and the value bytes."""

    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    partition: int | None = None
    offset: int | None = None


class PublishError(RuntimeError):
    """Publishing failed; ``acknowledged`` counts the messages acknowledged before the failure."""

    def __init__(self, message: str, acknowledged: int):
        super().__init__(message)
        self.acknowledged = acknowledged


Handler = Callable[[Message], None]
BatchHandler = Callable[[list[Message]], None]


class InProcessBus:
    """The embedded mode's bus: delivers each published message to every subscribed group.

    Delivery is synchronous and in order, so "acknowledged" means "processed by every group";
    a group that fails makes ``publish`` raise, and the outbox relay retries later (consumers
    are idempotent, so groups that already processed it change nothing). Dead letters
    (topics ending in ``.dlt``) with no subscriber are kept in ``dead_letters`` and logged.
    """

    def __init__(self) -> None:
        self._groups: list[tuple[str, frozenset[str], Handler | None, BatchHandler | None]] = []
        self._lock = threading.RLock()
        self.dead_letters: list[Message] = []

    def subscribe(self, group: str, topics: Iterable[str], handler: Handler | None = None,
                  *, batch_handler: BatchHandler | None = None) -> None:
        """Register consumer group ``group`` for ``topics``: ``handler`` takes one message,
        ``batch_handler`` (preferred when given) the group's messages of a published batch
        and raises ``shared.consumer.BatchInterrupted`` naming how many it handled."""
        if handler is None and batch_handler is None:
            raise ValueError("a handler or a batch_handler is needed")
        with self._lock:
            self._groups.append((group, frozenset(topics), handler, batch_handler))

    def connect(self) -> None:
        """Nothing to reach; present for symmetry with :class:`KafkaPublisher`."""

    def publish(self, messages: Sequence[Message]) -> None:
        """Deliver ``messages`` in order to each group; see the module docstring.

        Every group gets the whole batch (groups are independent and idempotent); when one
        fails at message *i*, :class:`PublishError` reports the smallest such *i* acknowledged.
        """
        with self._lock:
            acknowledged, error = len(messages), None
            delivered = set()
            for group, topics, handler, batch_handler in self._groups:
                mine = [i for i, m in enumerate(messages) if m.topic in topics]
                if not mine:
                    continue
                delivered.update(mine)
                failed_at, cause = self._deliver(messages, mine, handler, batch_handler)
                if failed_at is not None and failed_at < acknowledged:
                    acknowledged = failed_at
                    error = PublishError(f"consumer group {group} failed: {cause!r}", failed_at)
                    error.__cause__ = cause
            for i, msg in enumerate(messages[:acknowledged]):
                if i not in delivered and msg.topic.endswith(".dlt"):
                    self.dead_letters.append(msg)
                    log.warning("dead letter kept in memory", extra={"topic": msg.topic})
            if error is not None:
                raise error

    @staticmethod
    def _deliver(messages: Sequence[Message], mine: list[int], handler: Handler | None,
                 batch_handler: BatchHandler | None) -> tuple[int | None, BaseException | None]:
        if batch_handler is not None:
            try:
                batch_handler([messages[i] for i in mine])
            except Exception as exc:
                done = getattr(exc, "done", 0)
                return mine[done], (exc.__cause__ or exc)
            return None, None
        for i in mine:
            try:
                handler(messages[i])  # type: ignore[misc]
            except Exception as exc:
                return i, exc
        return None, None

    def close(self) -> None:
        """Nothing to release; present for symmetry with :class:`KafkaPublisher`."""


class KafkaPublisher:
    """Idempotent Kafka producer (``acks=all``, ``enable_idempotence=True``), connected lazily.

    Nothing touches the network at construction: the producer is built (and ``topics`` created
    when missing) on the first :meth:`publish` or :meth:`connect`, so a service starts while
    Kafka is unreachable and its relay thread retries. Batches are compressed
    (``KAFKA_COMPRESSION``, lz4 by default) and sent with ``KAFKA_LINGER_MS``; ``publish``
    sends the whole batch, flushes once, then reads every record's outcome (``timeout`` seconds
    bound the flush and each wait). Raises :class:`PublishError` at the first failure.
    """

    def __init__(self, bootstrap_servers: list[str], *, client_id: str = "registry-outbox",
                 timeout: float = 30.0, topics: Iterable[str] = ()):
        self.bootstrap_servers = bootstrap_servers
        self.client_id = client_id
        self.timeout = timeout
        self.topics = sorted(set(topics))
        self._producer: Any = None  # a kafka.KafkaProducer once connected (untyped library)
        self._lock = threading.Lock()

    def connect(self) -> None:
        """Create the topics and the producer unless done; raises when Kafka is unreachable."""
        if self._producer is not None:
            return
        with self._lock:
            if self._producer is not None:
                return
            if self.topics:
                ensure_topics(self.bootstrap_servers, self.topics, timeout=0)
            self._producer = make_producer(self.bootstrap_servers, client_id=self.client_id,
                                           timeout=self.timeout)

    def publish(self, messages: Sequence[Message]) -> None:
        """Send and wait for the broker's acknowledgement of every message (in order)."""
        try:
            self.connect()
        except Exception as exc:
            raise PublishError(f"Kafka unreachable: {exc!r}", 0) from exc
        producer = self._producer
        futures = []
        failure: Exception | None = None
        for m in messages:
            try:  # send() itself raises when no metadata arrives in max_block_ms (broker down)
                futures.append(producer.send(m.topic, key=m.key, value=m.value,
                                             headers=list(m.headers)))
            except Exception as exc:
                failure = exc
                break
        try:
            producer.flush(timeout=self.timeout)
        except Exception:  # noqa: S110 - each future below reports its own outcome
            pass
        for done, fut in enumerate(futures):
            if fut.is_done and fut.succeeded():
                continue
            try:
                fut.get(timeout=self.timeout)
            except Exception as exc:
                raise PublishError(f"broker did not acknowledge: {exc!r}", done) from exc
        if failure is not None:
            raise PublishError(f"could not send: {failure!r}", len(futures)) from failure

    def close(self) -> None:
        """Flush and close the producer (nothing to do when it never connected)."""
        with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            producer.close(timeout=self.timeout)


def make_producer(bootstrap_servers: list[str], *, client_id: str, timeout: float = 30.0):
    """A kafka-python ``KafkaProducer`` for the outbox relay and the dead letters.

    ``acks=all`` on an idempotent producer (ordered per partition with up to 5 requests in
    flight), ``KAFKA_LINGER_MS``, ``KAFKA_COMPRESSION``, 256 KiB batches, client metrics off
    (they cost CPU per record). Bootstrap and ``send`` block at most ``min(timeout, 10)`` s.
    Raises kafka-python's ``NoBrokersAvailable`` / ``KafkaError`` when no broker answers.
    """
    from kafka import KafkaProducer

    compression = (setting("KAFKA_COMPRESSION") or "none").strip().lower()
    block_ms = int(min(timeout, 10.0) * 1000)
    return KafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=int(number("KAFKA_LINGER_MS")),
        compression_type=None if compression in ("", "none") else compression,
        batch_size=256 * 1024,
        max_block_ms=block_ms,
        bootstrap_timeout_ms=block_ms,
        request_timeout_ms=int(timeout * 1000),
        delivery_timeout_ms=int(timeout * 1000) + 5_000,
        metrics_enabled=False,
    )


def kafka_backoff(name: str, stop: threading.Event | None = None):
    """A tenacity ``Retrying`` for reaching Kafka from a worker thread: exponential back-off
    from 0.5 s up to ``KAFKA_RETRY_MAX_SECONDS``, without limit, until ``stop`` is set (then
    the last error is raised); each failed attempt is logged with ``name``."""
    from tenacity import Retrying, retry_if_exception_type, wait_exponential

    def stopped(_state) -> bool:
        return stop is not None and stop.is_set()

    def sleep(seconds: float) -> None:
        if stop is None:
            time.sleep(seconds)
        else:
            stop.wait(seconds)

    def log_attempt(state) -> None:
        log.warning("Kafka not reachable yet, retrying",
                    extra={"worker": name, "attempt": state.attempt_number,
                           "error": repr(state.outcome.exception())[:300],
                           "retry_in_s": round(state.upcoming_sleep, 1)})

    return Retrying(wait=wait_exponential(multiplier=0.5, max=number("KAFKA_RETRY_MAX_SECONDS")),
                    stop=stopped, sleep=sleep, before_sleep=log_attempt, reraise=True,
                    retry=retry_if_exception_type(Exception))


def ensure_topics(bootstrap_servers: list[str], topics: Iterable[str], *,
                  partitions: int = 3, replication_factor: int = 1,
                  timeout: float = 60.0) -> None:
    """Create ``topics`` when missing (the broker does not auto-create them).

    Retries with back-off until ``timeout`` seconds have passed (``0``: one attempt) while the
    broker is starting; raises the last error then.
    """
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError
    from tenacity import Retrying, stop_after_delay, wait_exponential

    wanted = sorted(set(topics))

    def attempt() -> None:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="registry-admin",
                                 bootstrap_timeout_ms=10_000, request_timeout_ms=10_000)
        try:
            existing = set(admin.list_topics())
            missing = [t for t in wanted if t not in existing]
            if missing:
                try:
                    admin.create_topics([
                        NewTopic(name=t, num_partitions=partitions,
                                 replication_factor=replication_factor)
                        for t in missing
                    ])
                except TopicAlreadyExistsError:
                    pass  # another process created it meanwhile
        finally:
            admin.close()

    for try_ in Retrying(stop=stop_after_delay(timeout), wait=wait_exponential(0.5, max=5),
                         reraise=True):
        with try_:
            attempt()


def kafka_ready(bootstrap_servers: list[str], timeout: float = 5.0) -> bool:
    """True when a broker answers a metadata request within ``timeout`` seconds."""
    from kafka.admin import KafkaAdminClient

    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers,
                                 request_timeout_ms=int(timeout * 1000),
                                 bootstrap_timeout_ms=int(timeout * 1000),
                                 client_id="registry-readyz")
    except Exception:
        return False
    try:
        admin.list_topics()
        return True
    except Exception:
        return False
    finally:
        admin.close()
