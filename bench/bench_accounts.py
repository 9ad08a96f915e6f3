"""Sign-in latency with argon2id at argon2-cffi's default cost (issue 7, "Benchmarks").

What is measured, on a fresh PostgreSQL database and the product's own ``registry serve``
(waitress, rate limits off so that only the sign-in path is timed):

* ``sign-in p95, one at a time``: ``POST /api/v1/account/sign-in`` with the right password,
  sequentially from one client (the latency a person sees). Reference: argon2-cffi's
  ``PasswordHasher().verify`` alone, in this process, with the same parameters — the part of
  a sign-in that is deliberately slow (RFC 9106 / OWASP Password Storage: t=3, m=64 MiB,
  p=4); the ratio shows what the HTTP path, the session row and the audit row add.
* ``sign-in p95, 4 at once`` and its throughput: wrk with 4 connections (the 2-core machine
  runs two argon2 verifications at a time at most), with the service's and PostgreSQL's CPU
  ms per sign-in.

No goal is set by the issue for these figures (they are reported); ``--smoke`` is the CI size.
Prints readable lines and one ``BENCH_ROW {json}`` per figure (``bench/harness.py``).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402

PASSWORD = "benchmark passphrase for sign-in"  # noqa: S105 (test accounts only)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _make_users(url: str, count: int) -> list[str]:
    """``count`` verified accounts made by the product's service functions."""
    from registry.accounts import service
    from registry.db import import_models
    from shared.db import make_engine, make_session_factory, utcnow

    import_models()
    engine = make_engine(url)
    emails = [f"bench-{i}@accounts.bench" for i in range(count)]
    try:
        with make_session_factory(engine)() as session:
            for email in emails:
                user = service.sign_up(db_session=session, email=email, password=PASSWORD)
                assert user is not None
                user.email_verified_at = utcnow()
            session.commit()
    finally:
        engine.dispose()
    return emails


def _sign_in(base: str, email: str) -> float:
    body = json.dumps({"email": email, "password": PASSWORD}).encode()
    request = urllib.request.Request(f"{base}/api/v1/account/sign-in", data=body,
                                     method="POST",
                                     headers={"Content-Type": "application/json"})
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
        response.read()
        assert response.status == 200, response.status
    return (time.perf_counter() - start) * 1000


def _argon2_verify_ms(count: int) -> list[float]:
    from argon2 import PasswordHasher

    hasher = PasswordHasher()
    stored = hasher.hash(PASSWORD)
    out = []
    for _ in range(count):
        start = time.perf_counter()
        hasher.verify(stored, PASSWORD)
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    args = harness.parse_args(__doc__.splitlines()[0], default_size=200, smoke_size=30)
    sequential = args.size
    duration = 5.0 if args.smoke else 20.0
    from argon2 import PasswordHasher

    params = PasswordHasher()
    cost = (f"argon2id t={params.time_cost} m={params.memory_cost} KiB "
            f"p={params.parallelism}")
    with harness.fresh_database("accounts") as url:
        _measure(url, sequential, duration, cost)


def _measure(url: str, sequential: int, duration: float, cost: str) -> None:
    harness.migrate("registry", url)
    emails = _make_users(url, 20)
    harness.say(f"{len(emails)} accounts; {cost}")
    with harness.serve_service("registry", url, RATELIMIT_ENABLED="0") as server:
        for email in emails[:3]:  # warm-up: connections, imports
            _sign_in(server.url, email)
        product, reference = [], []
        for i in range(sequential):  # interleaved: both see the same machine load
            product.append(_sign_in(server.url, emails[i % len(emails)]))
            reference.extend(_argon2_verify_ms(1))
        p95, ref95 = _percentile(product, 0.95), _percentile(reference, 0.95)
        harness.say(f"sign-in one at a time: p50 {statistics.median(product):.0f} ms, "
                    f"p95 {p95:.0f} ms; argon2 verify alone p95 {ref95:.0f} ms")
        harness.emit(harness.make_row(
            "sign-in p95, one at a time", "ms", p95, reference=ref95, lower_is_better=True,
            data_size=sequential, notes=f"{cost}; reference: argon2-cffi verify alone "
                                        f"(p50 product {statistics.median(product):.0f} ms)"))
        script = harness.requests_script([harness.HttpRequest(
            "/api/v1/account/sign-in", "POST", {"email": e, "password": PASSWORD})
            for e in emails])
        with harness.CpuMeter(server, url) as meter:
            result = harness.wrk(server.url, duration, threads=2, connections=4,
                                 lua_script=script)
        per_request = max(1, result.ok_requests)
        harness.say(f"sign-in 4 at once: {result.req_s:.1f}/s, p95 {result.p95_ms:.0f} ms, "
                    f"errors {result.errors}")
        harness.emit(harness.make_row(
            "sign-in p95, 4 at once", "ms", result.p95_ms, lower_is_better=True,
            data_size=result.ok_requests, notes=f"{cost}; wrk -t2 -c4; {result.req_s:.1f} "
                                                "sign-ins/s",
            cpu_ms_per_req_service=meter.service_ms / per_request,
            cpu_ms_per_req_postgres=meter.postgres_ms / per_request))


if __name__ == "__main__":
    main()
