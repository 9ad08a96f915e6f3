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


class InProcessBus:
    """The embedded mode's bus: delivers each published message to every subscribed group.

    Delivery is synchronous and in order, so "acknowledged" means "processed by every group";
    a group that fails makes ``publish`` raise, and the outbox relay retries later (consumers
    are idempotent, so groups that already processed it change nothing). Dead letters
    (topics ending in ``.dlt``) with no subscriber are kept in ``dead_letters`` and logged.
    """

    def __init__(self) -> None:
        self._subscribers: dict[str, list[tuple[str, Handler]]] = {}
        self._lock = threading.RLock()
        self.dead_letters: list[Message] = []

    def subscribe(self, group: str, topics: Iterable[str], handler: Handler) -> None:
        """Register consumer group ``group`` for ``topics``; ``handler`` raises to refuse."""
        with self._lock:
            for topic in topics:
                self._subscribers.setdefault(topic, []).append((group, handler))

    def publish(self, messages: Sequence[Message]) -> None:
        """Deliver ``messages`` in order; see the module docstring."""
        with self._lock:
            for done, msg in enumerate(messages):
                subscribers = self._subscribers.get(msg.topic, [])
                if not subscribers and msg.topic.endswith(".dlt"):
                    self.dead_letters.append(msg)
                    log.warning("dead letter kept in memory", extra={"topic": msg.topic})
                for group, handler in subscribers:
                    try:
                        handler(msg)
                    except Exception as exc:
                        raise PublishError(f"consumer group {group} failed: {exc!r}", done) from exc

    def close(self) -> None:
        """Nothing to release; present for symmetry with :class:`KafkaPublisher`."""


class KafkaPublisher:
    """Idempotent Kafka producer (``acks=all``, ``enable_idempotence=True``).

    ``publish`` sends the batch, flushes, and waits for each record's acknowledgement
    (``timeout`` seconds each); raises :class:`PublishError` at the first failure.
    """

    def __init__(self, bootstrap_servers: list[str], *, client_id: str = "registry-outbox",
                 timeout: float = 30.0):
        from kafka import KafkaProducer

        self.timeout = timeout
        self._producer = KafkaProducer(
            bootstrap_servers=bootstrap_servers,
            client_id=client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
        )

    def publish(self, messages: Sequence[Message]) -> None:
        """Send and wait for the broker's acknowledgement of every message (in order)."""
        futures = []
        failure: Exception | None = None
        for m in messages:
            try:  # send() itself raises when no metadata arrives in max_block_ms (broker down)
                futures.append(self._producer.send(m.topic, key=m.key, value=m.value,
                                                   headers=list(m.headers)))
            except Exception as exc:
                failure = exc
                break
        try:
            self._producer.flush(timeout=self.timeout)
        except Exception:  # noqa: S110 - each future below reports its own outcome
            pass
        for done, fut in enumerate(futures):
            try:
                fut.get(timeout=self.timeout)
            except Exception as exc:
                raise PublishError(f"broker did not acknowledge: {exc!r}", done) from exc
        if failure is not None:
            raise PublishError(f"could not send: {failure!r}", len(futures)) from failure

    def close(self) -> None:
        """Flush and close the producer."""
        self._producer.close(timeout=self.timeout)


def ensure_topics(bootstrap_servers: list[str], topics: Iterable[str], *,
                  partitions: int = 3, replication_factor: int = 1,
                  timeout: float = 60.0) -> None:
    """Create ``topics`` when missing (the broker does not auto-create them).

    Retries until ``timeout`` seconds while the broker is starting; raises the last error then.
    """
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    deadline = time.monotonic() + timeout
    wanted = sorted(set(topics))
    while True:
        try:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers,
                                     client_id="registry-admin")
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
                return
            finally:
                admin.close()
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)


def kafka_ready(bootstrap_servers: list[str], timeout: float = 5.0) -> bool:
    """True when a broker answers a metadata request within ``timeout`` seconds."""
    from kafka.admin import KafkaAdminClient

    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers,
                                 request_timeout_ms=int(timeout * 1000),
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
