"""What the identity layer costs (issue 7, "Benchmarks"): bearer JWT verification per request,
and API throughput with a token against the same call anonymous.

============================  ===========================================  =================  ======
row                           product                                      reference          goal
============================  ===========================================  =================  ======
identity.verify.notifier.us   the notifier's TokenVerifier.verify(jwt):    bare joserfc       >=0.5x
                              keys and revocations from its PostgreSQL     jwt.decode (RS256,
                              tables (cached TOKEN_CACHE_SECONDS), claims  same key, no
                              checked, Principal built                     claims checks)
identity.verify.reporting.us  the same in reporting                        bare joserfc       >=0.5x
identity.verify.*.first_us    a token's first verification (no memory)     bare joserfc       >=0.5x
identity.http.list.req_s      GET /api/v1/initiatives with a JWT           anonymous, same   >=0.9x
identity.http.summary.req_s   GET /api/v1/reports/summary with a JWT       anonymous, same   >=0.9x
============================  ===========================================  =================  ======

The goal of the issue: the identity layer costs under 10 % of a request (ratio >= 0.9). The
verification rows are µs per call in one process (lower is better: ratio = reference/product),
the same token verified again and again as a client sends it with every request (the verifier
remembers a verified token and re-checks expiry, key and revocation on each use; the first
verification of a token costs the full signature check, ``identity.verify.*.first_us``);
the HTTP rows are wrk rounds (``-t2 -c16``) with and without the ``Authorization`` header,
interleaved on the same server (A B A B …), median round. The token is made by
``registry create-token`` (RS256, 2048-bit key); notifier and reporting hold the registry's
public key as their consumer would store it from the ``signing-key.published`` event.

    .venv/bin/python bench/bench_identity.py [--smoke] [--size N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
from harness import HttpRequest, make_row, requests_script, say  # noqa: E402

ISSUER = "https://registry.bench.example"
ROWS: list[dict] = []


def emit(row: dict) -> dict:
    """Print the row and keep it for the closing table."""
    ROWS.append(harness.emit(row))
    return ROWS[-1]


def _per_call_us(fn, calls: int, rounds: int) -> float:
    """Median over ``rounds`` of the mean µs per call of ``fn`` (``calls`` calls a round)."""
    fn()  # warm (key import, caches)
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - t0) / calls * 1e6)
    return statistics.median(samples)


def _store_public_key(service: str, url: str, jwk: dict) -> None:
    """Put the registry's public key in the service's ``signing_keys`` (what its consumer
    writes from ``identity.signing-key.published.v1``, checked the same way)."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from shared.identity.store import checked_jwk

    model = _key_model(service)
    jwk = checked_jwk({"kid": jwk["kid"], "jwk": jwk})
    engine = create_engine(url)
    with Session(engine) as session:
        session.add(model(kid=jwk["kid"], public_jwk=jwk))
        session.commit()
    engine.dispose()


def _key_model(service: str) -> type:
    from notifier.identity.models import SigningKey as NotifierKey
    from reporting.identity.models import SigningKey as ReportingKey

    return NotifierKey if service == "notifier" else ReportingKey


def verification_rows(service: str, url: str, token: str, jwk: dict, *, calls: int,
                      rounds: int) -> None:
    """µs per verification by the service's own verifier, against a bare joserfc decode."""
    from joserfc import jwt
    from joserfc.jwk import RSAKey

    if service == "notifier":
        from notifier.app import create_app
    else:
        from reporting.app import create_app
    app = create_app({"DATABASE_URL": url, "OAUTH_ISSUER": ISSUER})
    verifier = app.extensions["token_verifier"]
    assert verifier.verify(token).is_authenticated
    key = RSAKey.import_key(jwk)

    def first_time() -> None:
        verifier.remembered.clear()
        verifier.verify(token)

    first = _per_call_us(first_time, calls, rounds)
    product = _per_call_us(lambda: verifier.verify(token), calls, rounds)
    reference = _per_call_us(lambda: jwt.decode(token, key, algorithms=["RS256"]), calls,
                             rounds)
    app.extensions["db_engine"].dispose()
    emit(make_row(f"identity.verify.{service}.us", "µs", product, reference=reference,
                  goal=">=0.5x", backend="postgresql", lower_is_better=True,
                  notes=f"TokenVerifier.verify (keys/revocations from {service}'s tables, "
                        f"cached TOKEN_CACHE_SECONDS=2; iss/aud/exp/nbf/jti checked; "
                        f"Principal built) vs joserfc jwt.decode alone; {calls:,} calls x "
                        f"{rounds} rounds, median; RS256 2048-bit"))
    emit(make_row(f"identity.verify.{service}.first_us", "µs", first, reference=reference,
                  goal=">=0.5x", backend="postgresql", lower_is_better=True,
                  notes="the first verification of a token (signature checked, claims, "
                        "Principal built) vs joserfc jwt.decode alone; "
                        f"{calls:,} calls x {rounds} rounds, median"))
    say(f"  identity.verify.{service}: {product:.1f} µs (first use {first:.1f} µs) vs bare "
        f"{reference:.1f} µs")


def http_row(name: str, server: harness.Server, url: str, path: str, token: str, *,
             rounds: int, duration: float, size: int | None) -> None:
    """wrk rounds of ``path`` with the bearer token and without, interleaved."""
    with_token = requests_script([HttpRequest(path)],
                                 headers={"Authorization": f"Bearer {token}"})
    anonymous = requests_script([HttpRequest(path)])
    harness.wrk(server.url + "/", 1, lua_script=with_token)  # warm: pool, key cache
    harness.wrk(server.url + "/", 1, lua_script=anonymous)
    product, reference = harness.interleave(
        [(server, server.url + "/", with_token), (server, server.url + "/", anonymous)],
        url, rounds=rounds, duration=duration)
    errors = product.errors + reference.errors
    bad = sum(r.requests - r.ok_requests for r in product.rounds)
    row = make_row(name, "req/s", product.req_s, reference=reference.req_s, goal=">=0.9x",
                   data_size=size, backend="postgresql",
                   notes=f"GET {path} with 'Authorization: Bearer <JWT>' vs anonymous, same "
                         f"server; wrk -t2 -c16 -d{duration:g}s, {rounds} rounds interleaved, "
                         f"median; with token {product.summary()}; anonymous "
                         f"{reference.summary()}"
                         + (f"; errors {errors}" if errors else "")
                         + (f"; {bad} non-2xx with token" if bad else ""),
                   cpu_ms_per_req_service=product.cpu_service,
                   cpu_ms_per_req_postgres=product.cpu_postgres)
    row["reference_cpu_ms_per_req_service"] = (None if reference.cpu_service is None
                                               else round(reference.cpu_service, 3))
    emit(row)
    say(f"  {name}: with token {product.summary()} | anonymous {reference.summary()} | "
        f"ratio {row['ratio']} (goal >=0.9x)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=None,
                        help="wrk rounds per side (default 3; --smoke 2)")
    parser.add_argument("--duration", type=float, default=None,
                        help="seconds per wrk round (default 5; --smoke 2)")
    args = harness.parse_args(__doc__.splitlines()[0], parser=parser, argv=argv,
                              default_size=100_000, smoke_size=2_000)
    rounds = args.rounds or (2 if args.smoke else 3)
    duration = args.duration or (2.0 if args.smoke else 5.0)
    calls, calls_rounds = (500, 3) if args.smoke else (5_000, 5)
    os.environ["OAUTH_ISSUER"] = ISSUER  # the three services and the CLI agree on it
    started = time.perf_counter()
    say(f"bench_identity: {args.size:,} initiatives, {rounds} round(s) of {duration:g} s")
    with harness.registry_data("identity", args.size) as (url, info):
        # a person of no organisation: the list the token sees is the anonymous one (a member
        # also sees the organisation's drafts: another query, the permission table's cost)
        token = harness.run_cli("registry", [
            "create-token", "--role", "partner", "--email", "bench.person@example.org",
            "--expires-in", "7200"], url).splitlines()[-1]
        with harness.serve_service("registry", url) as registry:
            import json
            import urllib.request

            jwks_url = registry.url + "/.well-known/jwks.json"  # http://127.0.0.1:<port>
            with urllib.request.urlopen(jwks_url) as resp:  # nosec B310 - loopback http
                jwk = json.loads(resp.read())["keys"][0]
            http_row("identity.http.list.req_s", registry, url, "/api/v1/initiatives", token,
                     rounds=rounds, duration=duration, size=args.size)
        for service in ("notifier", "reporting"):
            with harness.fresh_database(f"identity_{service[:3]}") as service_url:
                harness.migrate(service, service_url)
                _store_public_key(service, service_url, jwk)
                verification_rows(service, service_url, token, jwk, calls=calls,
                                  rounds=calls_rounds)
                if service == "reporting":
                    with harness.serve_service("reporting", service_url) as reporting:
                        http_row("identity.http.summary.req_s", reporting, service_url,
                                 "/api/v1/reports/summary", token, rounds=rounds,
                                 duration=duration, size=None)
    say("\n" + harness.markdown_table(ROWS) + "\n")
    say(f"bench_identity: done in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
