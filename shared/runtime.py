"""Background workers of a service (outbox relay, consumer group) in either mode.

Kafka mode (``KAFKA_BOOTSTRAP_SERVERS`` set): the relay publishes with a
:class:`~shared.bus.KafkaPublisher`; a consumer runs :func:`~shared.consumer.run_kafka_consumer`
in a thread. Embedded mode: one :class:`~shared.bus.InProcessBus` is shared by the three
services in the process; consumers subscribe to it and the relay publishes to it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from shared.bus import InProcessBus, KafkaPublisher, Message, ensure_topics, kafka_backoff
from shared.config import kafka_bootstrap_servers, number, setting
from shared.consumer import EventConsumer, run_kafka_consumer
from shared.events.types import topic_name
from shared.logs import service_context, service_var
from shared.outbox import OutboxRelay

log = logging.getLogger(__name__)


def group_id(name: str) -> str:
    """Consumer group id: ``KAFKA_CONSUMER_GROUP_PREFIX`` + name."""
    return f"{setting('KAFKA_CONSUMER_GROUP_PREFIX') or ''}{name}"


class Workers:
    """Threads a service runs beside its web app; ``stop()`` ends them."""

    def __init__(self) -> None:
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []

    def spawn(self, name: str, target: Callable[[threading.Event], None]) -> None:
        """Start ``target(stop_event)`` in a daemon thread; its log lines carry the service
        label of the caller's context (``shared.logs.service_context``)."""
        label = service_var.get()

        def run() -> None:
            with service_context(label):
                try:
                    target(self.stop_event)
                except Exception:
                    log.exception("worker %s died", name)

        thread = threading.Thread(target=run, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        """Signal the threads and wait up to ``timeout`` seconds each."""
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout)


def attach_consumer(consumer: EventConsumer, workers: Workers,
                    bus: InProcessBus | None = None) -> None:
    """Run ``consumer`` on the in-process ``bus`` or, without one, as a Kafka consumer group.

    Topic names in ``consumer.topics`` are base names; prefixes are applied here.
    """
    topics = [topic_name(t) for t in consumer.topics]
    if bus is not None:
        consumer.dead_letter = bus.publish
        label = service_var.get()  # the bus runs this in the publisher's (relay's) thread

        def handle_batch(messages: list[Message]) -> None:
            with service_context(label):
                consumer.handle_batch(messages, retry_transient=False)

        bus.subscribe(consumer.name, topics, batch_handler=handle_batch)
        return
    servers = kafka_bootstrap_servers()
    if not servers:
        raise RuntimeError("no bus: KAFKA_BOOTSTRAP_SERVERS is unset and no in-process bus given")
    consumer.topics = topics
    # the DLT producer and the topics are reached lazily, in the worker thread (never before
    # the HTTP port opens): a service starts while Kafka is unreachable
    dlt_publisher = KafkaPublisher(servers, client_id=f"{consumer.name}-dlt",
                                   topics=[f"{t}.dlt" for t in topics])

    def dead_letter(messages: list[Message]) -> None:
        for attempt in kafka_backoff(f"{consumer.name}-dlt", workers.stop_event):
            with attempt:
                dlt_publisher.publish(messages)

    consumer.dead_letter = dead_letter
    consumer.stop_event = workers.stop_event

    def loop(stop: threading.Event) -> None:
        try:
            for attempt in kafka_backoff(f"{consumer.name}-topics", stop):
                with attempt:
                    ensure_topics(servers, topics + [f"{t}.dlt" for t in topics], timeout=0)
            for attempt in kafka_backoff(f"consumer-{consumer.name}", stop):
                with attempt:
                    # returns when stop is set; raises (and is retried) when Kafka fails
                    run_kafka_consumer(consumer, servers, stop, group_id=group_id(consumer.name))
        except Exception:
            if not stop.is_set():
                raise
        finally:
            dlt_publisher.close()

    workers.spawn(f"consumer-{consumer.name}", loop)


def make_relay(relay_factory: Callable[[object], OutboxRelay], topics: list[str],
               bus: InProcessBus | None = None) -> OutboxRelay:
    """An outbox relay publishing to ``bus`` or, without one, to Kafka (topics created on the
    first publish, so this never waits for Kafka).

    Raises ``RuntimeError`` when there is neither a bus nor ``KAFKA_BOOTSTRAP_SERVERS``.
    """
    if bus is not None:
        return relay_factory(bus)
    servers = kafka_bootstrap_servers()
    if not servers:
        raise RuntimeError("no bus: KAFKA_BOOTSTRAP_SERVERS is unset and no in-process bus")
    # topics and producer are created on the relay's first publish, with back-off (not here)
    return relay_factory(KafkaPublisher(servers, topics=[topic_name(t) for t in topics]))


def attach_relay(relay_factory: Callable[[object], OutboxRelay], workers: Workers,
                 topics: list[str], bus: InProcessBus | None = None) -> OutboxRelay:
    """Start the outbox relay in a thread of ``workers`` (see :func:`make_relay`)."""
    poll = number("OUTBOX_POLL_SECONDS") or 0.5
    relay = make_relay(relay_factory, topics, bus)

    def run(stop: threading.Event) -> None:
        try:
            relay.run(stop, poll)
        finally:
            if bus is None:
                relay.publisher.close()

    workers.spawn("outbox-relay", run)
    return relay
