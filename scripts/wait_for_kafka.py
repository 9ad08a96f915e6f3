#!/usr/bin/env python3
"""Wait until a Kafka broker answers admin requests (used by ``scripts/services.sh up``).

Polls with kafka-python's ``KafkaAdminClient`` (``describe_cluster`` then ``list_topics``) until
it succeeds or ``--timeout`` seconds have passed. Exit 0 when ready, 1 on timeout, 2 when the
broker process given by ``--pid`` died meanwhile. Only needs kafka-python.

    python scripts/wait_for_kafka.py --bootstrap 127.0.0.1:9092 --timeout 90 [--pid 1234]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time


def _alive(pid: int | None) -> bool:
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def probe(bootstrap: list[str], timeout_s: float) -> dict:
    """One attempt: the cluster description, or an exception."""
    from kafka.admin import KafkaAdminClient

    ms = max(1000, int(timeout_s * 1000))
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="wait-for-kafka",
                             bootstrap_timeout_ms=ms, request_timeout_ms=ms)
    try:
        cluster = admin.describe_cluster()
        if not cluster.get("brokers"):
            raise RuntimeError("no broker registered yet")
        admin.list_topics()
        return cluster
    finally:
        admin.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS",
                                                               "127.0.0.1:9092"))
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds in all")
    parser.add_argument("--pid", type=int, default=None,
                        help="broker PID: give up at once if it exits")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.CRITICAL)  # kafka-python logs every refused connection
    bootstrap = [s.strip() for s in args.bootstrap.split(",") if s.strip()]
    deadline = time.monotonic() + args.timeout
    last_error = "not tried"
    while True:
        if not _alive(args.pid):
            print(f"wait_for_kafka: broker process {args.pid} exited", file=sys.stderr)
            return 2
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        started = time.monotonic()
        try:
            cluster = probe(bootstrap, min(5.0, remaining))
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready yet"
            last_error = f"{type(exc).__name__}: {exc}"
        else:
            if not args.quiet:
                print(f"Kafka ready at {','.join(bootstrap)} "
                      f"(cluster {cluster.get('cluster_id')}, "
                      f"{len(cluster['brokers'])} broker(s))")
            return 0
        time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
    print(f"wait_for_kafka: no broker ready at {','.join(bootstrap)} after {args.timeout:.0f}s "
          f"({last_error})", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
