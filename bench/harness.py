"""The benchmark harness every ``bench/bench_*.py`` uses (issue 6, "The harness").

What it gives a benchmark script:

* :func:`parse_args` — the common options ``--smoke`` (CI size, a few seconds per measured call)
  and ``--size N`` (number of initiatives).
* :func:`make_row` / :func:`emit` — one ``BENCH_ROW {json}`` line per measured figure, with the
  keys of HELPERS.md ("Benchmarks: the common row format"); ``bench/run.py`` collects them.
* :func:`fresh_database` and :func:`migrate` — a new PostgreSQL database per run on the shared
  server (``TEST_PG_ADMIN_URL``), migrated with the product's own ``<service> db upgrade``.
* :func:`serve` / :func:`serve_service` / :func:`serve_reference` — a server process (the
  product's ``registry serve`` or the bare reference app), ready when its ``/healthz`` answers.
* :func:`wrk` — Debian's wrk (``-t2 -c16`` by default) with a Lua script; returns req/s of good
  (2xx/3xx) responses, p50/p95/p99 latency in ms and the error counts.
  :func:`requests_script` writes the Lua for POSTs and for rotating over many ids / queries.
* :class:`CpuMeter` — CPU ms (utime + stime from ``/proc/<pid>/stat``) of the server process
  and its children, and of the PostgreSQL backends serving it (``pg_stat_activity`` rows of the
  benchmark database with the server's ``application_name``), so each figure also carries CPU
  ms per request for the service and for PostgreSQL — steadier than req/s on a shared machine.
* :func:`machine_info` / :func:`server_settings` — what ``bench/run.py`` records with each run.

Why wrk and not a Python load generator: see ``NOTES-bench-harness.md`` — in short, wrk is C
with an event loop per thread, so on the 2-core machine it costs a few % of one core, where a
Python generator (locust) would take most of a core from the server it measures.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import inspect
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "bench"
BIN = ROOT / ".venv" / "bin"
PG_ADMIN_URL = os.environ.get(
    "TEST_PG_ADMIN_URL", "postgresql+psycopg://registry:registry@127.0.0.1:55432/postgres")

#: Keys of a result row, in the order they are printed (HELPERS.md).
ROW_KEYS = ("name", "unit", "product", "reference", "ratio", "goal", "met", "data_size",
            "backend", "notes", "cpu_ms_per_req_service", "cpu_ms_per_req_postgres")
BACKENDS = ("postgresql", "sqlite", "kafka", "in-process")
ROW_PREFIX = "BENCH_ROW "

#: Temporary files and folders of this run (server logs, wrk scripts, VAR_DIRs), removed at
#: exit unless BENCH_KEEP_FILES=1 (to read a server's log after a run).
_TEMP_PATHS: list[Path] = []


@atexit.register
def _remove_temp_paths() -> None:
    if os.environ.get("BENCH_KEEP_FILES", "") in ("1", "true", "yes"):
        return
    for path in _TEMP_PATHS:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _temp_dir(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    _TEMP_PATHS.append(path)
    return path


_GOAL = re.compile(r"^\s*(>=|<=)\s*([0-9]*\.?[0-9]+)\s*(x|\S.*)?$")


# -- options and rows --------------------------------------------------------------------------
def parse_args(description: str, *, default_size: int = 100_000, smoke_size: int = 10_000,
               argv: Sequence[str] | None = None,
               parser: argparse.ArgumentParser | None = None) -> argparse.Namespace:
    """The common options: ``--smoke`` and ``--size N``.

    ``args.size`` is ``--size`` when given, else ``smoke_size`` with ``--smoke`` and
    ``default_size`` without. Pass ``parser`` to add a script's own options first.
    """
    parser = parser or argparse.ArgumentParser(description=description)
    parser.add_argument("--smoke", action="store_true",
                        help="CI size: small data, a few seconds per measured call")
    parser.add_argument("--size", type=int, default=None,
                        help=f"initiatives to load (default {default_size:,}; "
                             f"--smoke {smoke_size:,})")
    args = parser.parse_args(argv)
    if args.size is None:
        args.size = smoke_size if args.smoke else default_size
    return args


def judge(goal: str, product: float | None, ratio: float | None) -> bool | None:
    """Whether ``goal`` is met: ``">=0.5x"`` compares the ratio, ``"<=50 ms"`` or
    ``">=5000 events/s"`` the product figure. ``None`` when the figure is missing."""
    m = _GOAL.match(goal or "")
    if not m:
        return None
    op, limit, unit = m.group(1), float(m.group(2)), (m.group(3) or "").strip()
    value = ratio if unit == "x" else product
    if value is None:
        return None
    return value >= limit if op == ">=" else value <= limit


def make_row(name: str, unit: str, product: float | None, *, reference: float | None = None,
             goal: str = "", data_size: int | None = None, backend: str = "postgresql",
             lower_is_better: bool = False, notes: str | None = None,
             cpu_ms_per_req_service: float | None = None,
             cpu_ms_per_req_postgres: float | None = None) -> dict:
    """A result row: ``ratio`` is product/reference for throughput, reference/product for
    latency (``lower_is_better``), so that > 1 always means the product is better; ``met``
    from :func:`judge`."""
    ratio = None
    if product and reference:
        ratio = reference / product if lower_is_better else product / reference
    return {
        "name": name, "unit": unit, "product": _round(product), "reference": _round(reference),
        "ratio": None if ratio is None else round(ratio, 3), "goal": goal,
        "met": judge(goal, product, ratio), "data_size": data_size, "backend": backend,
        "notes": notes, "cpu_ms_per_req_service": _round(cpu_ms_per_req_service),
        "cpu_ms_per_req_postgres": _round(cpu_ms_per_req_postgres),
    }


def _round(value: float | None) -> float | None:
    if value is None:
        return None
    return round(value, 3 if abs(value) < 100 else 1)


def emit(row: dict) -> dict:
    """Print ``row`` as one ``BENCH_ROW {json}`` line (stdout, flushed) and return it.

    Raises ``ValueError`` when a required key is missing or ``backend`` is unknown.
    """
    missing = [k for k in ROW_KEYS[:9] if k not in row]
    if missing:
        raise ValueError(f"benchmark row {row.get('name')!r} lacks {', '.join(missing)}")
    if row["backend"] not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, not {row['backend']!r}")
    ordered = {k: row.get(k) for k in ROW_KEYS} | {k: v for k, v in row.items()
                                                   if k not in ROW_KEYS}
    print(ROW_PREFIX + json.dumps(ordered, ensure_ascii=False), flush=True)
    return ordered


def parse_rows(text: str) -> list[dict]:
    """The rows in a benchmark script's stdout (lines starting ``BENCH_ROW ``)."""
    return [json.loads(line[len(ROW_PREFIX):]) for line in text.splitlines()
            if line.startswith(ROW_PREFIX)]


def say(message: str) -> None:
    """A human-readable progress line (stdout, flushed)."""
    print(message, flush=True)


# -- databases -----------------------------------------------------------------------------------
def database_url(name: str, *, application_name: str | None = None,
                 admin_url: str = PG_ADMIN_URL) -> str:
    """URL of database ``name`` on the admin URL's server, optionally tagged with an
    ``application_name`` (how :class:`CpuMeter` tells one client's backends from another's)."""
    base = admin_url.split("?", 1)[0].rsplit("/", 1)[0]
    url = f"{base}/{name}"
    return f"{url}?application_name={application_name}" if application_name else url


def with_application_name(url: str, application_name: str) -> str:
    """``url`` with its ``application_name`` set (replacing any other query)."""
    return f"{url.split('?', 1)[0]}?application_name={application_name}"


def _psycopg_dsn(url: str) -> str:
    return re.sub(r"^postgresql\+\w+://", "postgresql://", url)


@contextlib.contextmanager
def fresh_database(label: str, *, admin_url: str = PG_ADMIN_URL, keep: bool = False
                   ) -> Iterator[str]:
    """A new empty PostgreSQL database ``bench_<label>_<hex>``; yields its SQLAlchemy URL and
    drops it (``WITH (FORCE)``) afterwards unless ``keep``."""
    import psycopg

    name = f"bench_{label}_{uuid.uuid4().hex[:8]}".lower()
    with psycopg.connect(_psycopg_dsn(admin_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield database_url(name, admin_url=admin_url)
    finally:
        if not keep:
            with psycopg.connect(_psycopg_dsn(admin_url), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def service_env(service: str, database_url_: str, **extra: str) -> dict[str, str]:
    """Environment for running ``service`` on ``database_url_``: web only (``RUN_WORKERS=0``),
    in-process bus (no Kafka settings inherited), plus ``extra``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KAFKA_", "DATABASE_URL", "REGISTRY_", "NOTIFIER_", "REPORTING_"))}
    env.update({f"{service.upper()}_DATABASE_URL": database_url_, "RUN_WORKERS": "0",
                "VAR_DIR": env.get("VAR_DIR") or str(_temp_dir("bench-var-")),
                # one wrk client submits thousands of times a minute: the per-caller limits
                # (RATELIMIT_SUBMIT, ...) would measure 429 answers instead of the product
                "RATELIMIT_ENABLED": "0"})
    env.update(extra)
    return env


def run_cli(service: str, args: Sequence[str], database_url_: str) -> str:
    """Run the product's console script ``.venv/bin/<service> <args>``; its stdout, stripped.

    Raises ``RuntimeError`` with the command's stderr when it fails.
    """
    proc = subprocess.run([str(BIN / service), *args], env=service_env(service, database_url_),
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"{service} {' '.join(args)} failed ({proc.returncode}): "
                           f"{proc.stderr.strip()[-2000:]}")
    return proc.stdout.strip()


def migrate(service: str, database_url_: str) -> None:
    """Migrate ``database_url_`` to head with the product's own ``<service> db upgrade``."""
    run_cli(service, ["db", "upgrade"], database_url_)


#: Templates of other data versions are dropped once they are this old (hours); younger ones
#: may belong to another worktree's runs.
TEMPLATE_KEEP_HOURS = 6

# What the loaded registry data depends on: a template is reused only while these are unchanged.
_DATA_INPUTS = ("bench/datagen.py", "migrations/registry/versions/*.py",
                "migrations/registry/env.py", "services/registry/initiatives/search.py",
                "services/registry/initiatives/versions.py",  # content_of (load_review)
                "shared/reference/__init__.py", "shared/reference/data/*",
                "services/registry/reference/__init__.py")


def _data_key(n: int, seed: int) -> str:
    import hashlib

    digest = hashlib.sha256(f"{n}:{seed}".encode())
    for pattern in _DATA_INPUTS:
        for path in sorted(ROOT.glob(pattern)):
            if path.is_file():
                digest.update(path.relative_to(ROOT).as_posix().encode())
                digest.update(path.read_bytes())
    full_file = ROOT.parent / "shared" / "data" / "ocean-commitments" / "ocean_commitments.jsonl"
    digest.update(b"full" if full_file.is_file() else b"sample")
    return digest.hexdigest()[:12]


@dataclass
class LoadedData:
    """What a registry database was loaded with (``bench/datagen.py``'s ``LoadInfo``, as
    strings): samples of ids, the load's seconds, and whether it came from a template."""

    initiative_ids: list[str]
    public_ids: list[str]
    organization_ids: list[str]
    seconds: float
    count: int
    from_template: str | None = None
    loaded_at: str | None = None
    #: what a ``kind="review"`` load adds (``datagen.ReviewLoadInfo``, ids as strings):
    #: ``submitted_ids``, ``revision_initiative_ids``, ``revision_number``, ``reviewer_ids``,
    #: ``reviewer_emails``, ``shape``; for ``kind="progress"`` (``datagen
    #: .ProgressLoadInfo``): ``reports``, ``reports_by_status``, ``reporting_initiatives``,
    #: ``as_of``, ``shape``
    review: dict | None = None


@contextlib.contextmanager
def registry_data(label: str, n: int, *, seed: int = 1, admin_url: str = PG_ADMIN_URL,
                  kind: str = "published") -> Iterator[tuple[str, LoadedData]]:
    """A fresh registry database with ``n`` published initiatives from ``bench/datagen.py``
    (migrated by ``registry db upgrade`` first); yields ``(url, loaded)`` and drops it after.
    ``kind="review"`` loads them with ``datagen.load_review`` instead (five approved versions
    each, the review queue around them; ``loaded.review`` holds its ids).

    The first run loads a template database ``bench_tpl_<n>_<key>`` (``key``: a hash of
    datagen, the registry migrations and the reference data, so a change reloads); later runs
    clone it with ``CREATE DATABASE … TEMPLATE`` (seconds, where 1,000,000 rows take minutes to
    generate). Templates of the same size loaded more than ``TEMPLATE_KEEP_HOURS`` ago for
    other data versions are dropped when a new one is made. ``BENCH_NO_TEMPLATE=1`` loads
    straight into the run's database instead.
    """
    import psycopg

    dsn = _psycopg_dsn(admin_url)
    if os.environ.get("BENCH_NO_TEMPLATE", "") in ("1", "true", "yes"):
        with fresh_database(label, admin_url=admin_url) as url:
            yield url, _load(url, n, seed, kind)
        return
    template = _template_name(n, seed, kind)
    name = f"bench_{label}_{uuid.uuid4().hex[:8]}".lower()
    for attempt in range(3):  # another worktree's run may drop a stale template meanwhile
        loaded = _template_info(dsn, template)
        if loaded is None:
            loaded = _make_template(dsn, template, n, seed, admin_url, kind)
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" '
                             "STRATEGY FILE_COPY")
            break
        except psycopg.Error as exc:
            if attempt == 2:
                raise
            say(f"  cloning {template} failed ({str(exc).strip()[:200]}); again")
            time.sleep(2)
    loaded.from_template = template
    try:
        yield database_url(name, admin_url=admin_url), loaded
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def template_ready(n: int, *, seed: int = 1, admin_url: str = PG_ADMIN_URL,
                   kind: str = "published") -> bool:
    """Whether :func:`registry_data` would clone ``n`` initiatives from a current template
    (instead of loading them now); ``False`` when PostgreSQL is unreachable."""
    try:
        return _template_info(_psycopg_dsn(admin_url), _template_name(n, seed, kind)
                              ) is not None
    except Exception:  # a question, not a failure
        return False


def drop_templates(*, admin_url: str = PG_ADMIN_URL) -> list[str]:
    """Drop every ``bench_tpl_*`` template database (the next run loads again); their names."""
    import psycopg

    with psycopg.connect(_psycopg_dsn(admin_url), autocommit=True) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'bench\\_tpl\\_%'").fetchall()]
        for name in names:
            conn.execute(f'ALTER DATABASE "{name}" IS_TEMPLATE false')
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return names


def _template_name(n: int, seed: int, kind: str) -> str:
    """``bench_tpl_<n>_<key>`` (``kind`` published) or ``bench_tpl_<kind>_<n>_<key>``."""
    prefix = "bench_tpl_" if kind == "published" else f"bench_tpl_{kind}_"
    return f"{prefix}{n}_{_data_key(n, seed)}"


def _load(url: str, n: int, seed: int, kind: str = "published") -> LoadedData:
    if str(BENCH_DIR) not in sys.path:
        sys.path.insert(0, str(BENCH_DIR))
    from datagen import load_progress, load_registry, load_review

    migrate("registry", url)
    review = None
    if kind == "review":
        info = load_review(url, n, seed=seed)
        # a registry in service has been vacuumed by autovacuum long since: the visibility
        # map lets the queue's counts be index-only scans, as they would be in production
        import psycopg

        with psycopg.connect(_psycopg_dsn(url), autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE)")
        review = {"submitted_ids": [str(i) for i in info.submitted_ids],
                  "revision_initiative_ids": [str(i) for i in info.revision_initiative_ids],
                  "revision_number": info.revision_number,
                  "reviewer_ids": [str(i) for i in info.reviewer_ids],
                  "reviewer_emails": info.reviewer_emails, "shape": info.shape}
    elif kind == "progress":  # issue 9: progress reports (datagen.load_progress)
        info = load_progress(url, n, seed=seed)
        import psycopg  # vacuumed as a registry in service is (see above)

        with psycopg.connect(_psycopg_dsn(url), autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE)")
        review = {"reports": info.reports, "reports_by_status": info.reports_by_status,
                  "reporting_initiatives": info.reporting_initiatives, "as_of": info.as_of,
                  "shape": info.shape}
    elif kind == "published":
        info = load_registry(url, n, seed=seed)
    else:
        raise ValueError(f"unknown kind of data {kind!r} (published, review, progress)")
    return LoadedData([str(i) for i in info.initiative_ids], [str(p) for p in info.public_ids],
                      [str(o) for o in info.organization_ids], round(info.seconds, 1), n,
                      loaded_at=datetime.now(UTC).isoformat(timespec="seconds"),
                      review=review)


def _template_info(dsn: str, template: str) -> LoadedData | None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                           "WHERE datname = %s", (template,)).fetchone()
    if not row or not row[0]:
        return None
    try:
        return LoadedData(**json.loads(row[0]))
    except (ValueError, TypeError):
        return None


def _make_template(dsn: str, template: str, n: int, seed: int, admin_url: str,
                   kind: str = "published") -> LoadedData:
    import psycopg

    loading = f"{template}_loading_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{loading}"')
    try:
        loaded = _load(database_url(loading, admin_url=admin_url), n, seed, kind)
        say(f"  loaded {n:,} initiatives into template {template} in {loaded.seconds:.1f} s")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'COMMENT ON DATABASE "{loading}" IS '
                         + _sql_literal(json.dumps(loaded.__dict__)))
            # other worktrees may still use theirs: drop only those loaded long ago
            stale = [r[0] for r in conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s AND datname <> %s "
                "AND datname NOT LIKE %s AND coalesce(shobj_description(oid, 'pg_database')"
                "::jsonb ->> 'loaded_at', '') < %s",
                (template.rsplit("_", 1)[0].replace("_", "\\_") + "\\_%", template,
                 "%\\_loading\\_%",
                 (datetime.now(UTC) - timedelta(hours=TEMPLATE_KEEP_HOURS)).isoformat())
            ).fetchall()]
            for old in stale:
                conn.execute(f'ALTER DATABASE "{old}" IS_TEMPLATE false')
                conn.execute(f'DROP DATABASE IF EXISTS "{old}" WITH (FORCE)')
            try:
                conn.execute(f'ALTER DATABASE "{loading}" RENAME TO "{template}"')
            except psycopg.errors.DuplicateDatabase:  # a concurrent run made it first
                pass
            else:
                loading = ""
                conn.execute(f'ALTER DATABASE "{template}" IS_TEMPLATE true')
    finally:
        if loading:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{loading}" WITH (FORCE)')
    return _template_info(dsn, template) or loaded


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# -- servers -------------------------------------------------------------------------------------
def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def waitress_threads() -> int:
    """Waitress threads of the product's ``serve`` (the default of ``shared.cli.serve_app``),
    which the reference app uses too."""
    from shared.cli import serve_app

    return int(inspect.signature(serve_app).parameters["threads"].default)


@dataclass
class Server:
    """A running server process: ``url`` (no trailing slash), its ``process`` and log file."""

    name: str
    url: str
    process: subprocess.Popen
    log: Path
    application_name: str | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the server's stdout/stderr."""
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


@contextlib.contextmanager
def serve(name: str, argv: Sequence[str], *, port: int, env: dict[str, str] | None = None,
          ready_path: str = "/healthz", timeout: float = 60.0,
          application_name: str | None = None) -> Iterator[Server]:
    """Start ``argv`` (a server listening on 127.0.0.1:``port``), wait until ``ready_path``
    answers 200 (at most ``timeout`` seconds), yield it; SIGTERM (then SIGKILL) at the end.

    Raises ``RuntimeError`` with the server's log when it exits or is not ready in time.
    """
    log = _temp_dir(f"bench-{name}-") / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(list(argv), env=env, stdout=out, stderr=subprocess.STDOUT,
                                   cwd=ROOT, start_new_session=True)
    server = Server(name, f"http://127.0.0.1:{port}", process, log, application_name)
    try:
        _wait_ready(server, ready_path, timeout)
        yield server
    finally:
        _stop(process)


def _wait_ready(server: Server, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited ({server.process.returncode}) before "
                               f"answering {path}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(server.url + path, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.1)
    raise RuntimeError(f"{server.name} not ready at {server.url}{path} within {timeout:.0f} s "
                       f"({last}):\n{server.log_tail()}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def serve_service(service: str, database_url_: str, *, port: int | None = None,
                  application_name: str | None = None, **env: str
                  ) -> contextlib.AbstractContextManager[Server]:
    """The product's ``.venv/bin/<service> serve --host 127.0.0.1 --port P --no-migrate`` with
    ``RUN_WORKERS=0`` on ``database_url_`` (already migrated), as :func:`serve` yields it.

    ``application_name`` (default ``bench_<service>``) tags its PostgreSQL connections for
    :class:`CpuMeter`.
    """
    port = port or free_port()
    application_name = application_name or f"bench_{service}"
    url = with_application_name(database_url_, application_name)
    return serve(service, [str(BIN / service), "serve", "--host", "127.0.0.1",
                           "--port", str(port), "--no-migrate"],
                 port=port, env=service_env(service, url, **env),
                 application_name=application_name)


def serve_reference(database_url_: str, *, port: int | None = None,
                    application_name: str = "bench_reference"
                    ) -> contextlib.AbstractContextManager[Server]:
    """The bare reference app (``bench/reference_app.py``) on ``database_url_``, served by
    waitress with the product's thread count."""
    port = port or free_port()
    url = with_application_name(database_url_, application_name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    return serve("reference", [sys.executable, str(BENCH_DIR / "reference_app.py"),
                               "--host", "127.0.0.1", "--port", str(port),
                               "--database-url", url],
                 port=port, env=env, application_name=application_name)


# -- load generator: wrk -----------------------------------------------------------------------
# Appended to every script: wrk's done() hook prints the figures as JSON, with p95 (which the
# text of --latency lacks) and the error counts (status = HTTP statuses > 399).
_DONE_HOOK = r"""
function done(summary, latency, requests)
  local e = summary.errors
  -- with ONCE scripts: the span from the first request to the last response over all threads
  -- (wrk's own duration is always -d, even when every thread stopped early)
  local active_us = -1
  if bench_threads then
    local first, last = nil, nil
    for _, t in ipairs(bench_threads) do
      local f, l = t:get("first_us"), t:get("last_us")
      if f and (not first or f < first) then first = f end
      if l and (not last or l > last) then last = l end
    end
    if first and last then active_us = last - first end
  end
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d,' ..
    '"mean_us":%.1f,"max_us":%d,"active_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.mean, latency.max, active_us))
end
"""

# Requests from a file of lines "METHOD<TAB>PATH<TAB>BODY" (body JSON on one line, may be
# empty). Each wrk thread rotates over all lines from its own offset, or with ONCE takes every
# NTHREADS-th line once and stops when they are used up (for ids a request consumes, such as a
# draft to submit). With CAPTURE, the "id" of each 2xx response body is appended to
# CAPTURE.<thread> (one id a line).
_REQUESTS_LUA = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local bench_ts = ffi.new("bench_timespec")
local function now_us()
  ffi.C.clock_gettime(1, bench_ts)  -- CLOCK_MONOTONIC
  return tonumber(bench_ts.tv_sec) * 1000000 + math.floor(tonumber(bench_ts.tv_nsec) / 1000)
end

local thread_count = 0
bench_threads = {}
function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
  bench_threads[#bench_threads + 1] = thread
end

local reqs = {}
local idx = 0
local capture = nil

function init(args)
  local i = 0
  for line in io.lines(LINES_FILE) do
    if (not ONCE) or (i % NTHREADS == tid) then
      local m, p, b = line:match("^(%u+)\t([^\t]*)\t(.*)$")
      if b == "" then b = nil end
      reqs[#reqs + 1] = wrk.format(m, p, nil, b)
    end
    i = i + 1
  end
  if ONCE then idx = 0 else idx = (tid * 7919) % math.max(#reqs, 1) end
  if CAPTURE then
    capture = io.open(CAPTURE .. "." .. tid, "a")
    capture:setvbuf("line")
  end
end

function request()
  if not first_us then first_us = now_us() end
  idx = idx + 1
  if idx > #reqs then
    if ONCE then
      wrk.thread:stop()
      idx = #reqs
    else
      idx = 1
    end
  end
  return reqs[idx]
end
"""

# The id is the top-level "id" of the JSON body: nested objects and arrays are cut out first
# (Lua's balanced %b{} / %b[]), since nested records carry ids of their own (deliverables,
# issue 8) and Flask sorts keys ("deliverables" < "id").
_RESPONSE_LUA = r"""
function response(status, headers, body)
  last_us = now_us()
  if capture and status >= 200 and status < 300 and body then
    local inner = body:match("^%s*{(.*)}%s*$")
    if inner then
      inner = inner:gsub("%b{}", ""):gsub("%b[]", "")
      local id = inner:match('"id"%s*:%s*"([%x%-]+)"')
      if id then capture:write(id, "\n") end
    end
  end
end
"""


@dataclass
class HttpRequest:
    """One request line of a :func:`requests_script`."""

    path: str
    method: str = "GET"
    body: dict | list | None = None


@dataclass
class WrkScript:
    """A Lua script for :func:`wrk` and the files it reads/writes; ``captured()`` lists the
    ids the responses returned (when made with ``capture=True``)."""

    lua: str
    lines_file: Path
    capture_prefix: Path | None = None
    description: str = ""

    def captured(self) -> list[str]:
        """Ids captured so far (all threads), in no particular order."""
        if self.capture_prefix is None:
            return []
        ids: list[str] = []
        for f in sorted(self.capture_prefix.parent.glob(self.capture_prefix.name + ".*")):
            ids += [line for line in f.read_text().split() if line]
        return ids


def requests_script(requests: Iterable[HttpRequest], *, once: bool = False,
                    threads: int = 2, capture: bool = False,
                    headers: dict[str, str] | None = None) -> WrkScript:
    """A wrk Lua script that rotates over ``requests`` (or, with ``once``, sends each once,
    spread over the ``threads`` wrk threads, then stops); with ``capture`` it records the
    ``id`` of each 2xx JSON response. ``headers`` are added to every request (the
    ``Content-Type: application/json`` of bodies is added automatically)."""
    folder = _temp_dir("bench-wrk-")
    lines_file = folder / "requests.tsv"
    count = 0
    with lines_file.open("w", encoding="utf-8") as f:
        for r in requests:
            body = "" if r.body is None else json.dumps(r.body, ensure_ascii=False,
                                                        separators=(",", ":"))
            f.write(f"{r.method}\t{r.path}\t{body}\n")
            count += 1
    if count < (threads if once else 1):
        raise ValueError(f"a wrk script needs at least {threads if once else 1} request(s), "
                         f"got {count}")
    capture_prefix = folder / "captured" if capture else None
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    lua = "\n".join([
        f"LINES_FILE = {_lua_str(str(lines_file))}",
        f"ONCE = {'true' if once else 'false'}",
        f"NTHREADS = {threads}",
        f"CAPTURE = {_lua_str(str(capture_prefix)) if capture_prefix else 'nil'}",
        *(f"wrk.headers[{_lua_str(k)}] = {_lua_str(v)}" for k, v in all_headers.items()),
        _REQUESTS_LUA,
        # response() makes wrk hand over each body: only when ids are captured or used up
        _RESPONSE_LUA if (capture or once) else "",
    ])
    return WrkScript(lua, lines_file, capture_prefix,
                     f"{count} requests{' once' if once else ' rotating'}")


def _lua_str(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal here


@dataclass
class WrkResult:
    """Figures of one wrk run. ``req_s`` counts only 2xx/3xx responses over ``duration_s``
    (wrk's ``-d``, or for a ``once`` script that used up its requests, the span from the first
    request to the last response); latencies in ms."""

    requests: int
    ok_requests: int
    duration_s: float
    req_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: dict[str, int]
    params: str
    output: str = field(repr=False, default="")
    #: No request completed within the run: the latencies are the run's length, a lower bound.
    latency_is_lower_bound: bool = False


def wrk(url: str, duration: float, threads: int = 2, connections: int = 16,
        lua_script: WrkScript | str | None = None, headers: dict[str, str] | None = None,
        timeout: float = 30.0) -> WrkResult:
    """Run ``wrk --latency -t<threads> -c<connections> -d<duration>s`` against ``url``.

    ``lua_script``: a :class:`WrkScript` (:func:`requests_script`) or Lua source (which must
    not define ``done``); ``headers`` go to ``-H``. Requests slower than ``timeout`` seconds
    count as timeouts; both are rounded up to whole seconds (wrk's unit). When no request
    completed, ``req_s`` is 0 and the latencies are the run's length (a lower bound).
    Raises ``RuntimeError`` when wrk fails.
    """
    exe = shutil.which("wrk")
    if exe is None:
        raise RuntimeError("wrk is not installed (make test-deps installs Debian's wrk)")
    lua = lua_script.lua if isinstance(lua_script, WrkScript) else (lua_script or "")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua + "\n" + _DONE_HOOK)
        script_path = f.name
    seconds_ = max(1, math.ceil(duration))  # wrk takes whole seconds
    argv = [exe, "--latency", f"-t{threads}", f"-c{connections}", f"-d{seconds_}s",
            "--timeout", f"{max(1, math.ceil(timeout))}s", "-s", script_path]
    for k, v in (headers or {}).items():
        argv += ["-H", f"{k}: {v}"]
    argv.append(url)
    try:
        proc = subprocess.run(argv, capture_output=True, text=True,
                              timeout=duration + timeout + 30)
    finally:
        os.unlink(script_path)
    out = proc.stdout
    m = re.search(r"^WRK_JSON (\{.*\})$", out, re.M)
    if proc.returncode != 0 or not m:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr.strip()} {out[-2000:]}")
    data = json.loads(m.group(1))
    non2xx = _non_2xx(out)
    errors = {k: data[k] for k in ("connect", "read", "write", "status", "timeout")}
    errors["non_2xx_3xx"] = non2xx
    ok = max(data["requests"] - non2xx, 0)
    seconds = data["duration_us"] / 1e6
    if data["active_us"] > 0:  # a ONCE script: the requests may have been used up early
        seconds = min(seconds, data["active_us"] / 1e6)
    params = (f"wrk -t{threads} -c{connections} -d{seconds_}s"
              + (f" ({lua_script.description})" if isinstance(lua_script, WrkScript) else ""))
    if data["requests"] == 0:  # every request took longer than the run: latency >= the run
        floor = data["duration_us"] / 1000
        return WrkResult(requests=0, ok_requests=0, duration_s=seconds, req_s=0.0,
                         p50_ms=floor, p95_ms=floor, p99_ms=floor, errors=errors,
                         params=params, output=out, latency_is_lower_bound=True)
    return WrkResult(requests=data["requests"], ok_requests=ok, duration_s=seconds,
                     req_s=ok / seconds if seconds else 0.0,
                     p50_ms=data["p50_us"] / 1000, p95_ms=data["p95_us"] / 1000,
                     p99_ms=data["p99_us"] / 1000, errors=errors, params=params, output=out)


def _non_2xx(output: str) -> int:
    m = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", output)
    return int(m.group(1)) if m else 0


# -- CPU from /proc ------------------------------------------------------------------------------
_CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may contain spaces
    return raw[raw.rindex(")") + 2:].split()


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from ``/proc/<pid>/task/*/children``)."""
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        if p not in seen:
            seen.append(p)
            todo += _children(p)
    return seen


def cpu_ms(pids: Iterable[int], *, include_children: bool = True) -> float:
    """CPU time (user + system) in ms used so far by ``pids`` — each with its descendants and
    the reaped children's times (``cutime``/``cstime``) when ``include_children``.
    Processes that are gone count 0."""
    total_ticks = 0
    for pid in pids:
        for p in (process_tree(pid) if include_children else [pid]):
            fields = _stat_fields(p)
            if fields is None:
                continue
            # after the name: state(0) ... utime(11) stime(12) cutime(13) cstime(14)
            total_ticks += int(fields[11]) + int(fields[12])
            if include_children:
                total_ticks += int(fields[13]) + int(fields[14])
    return total_ticks * 1000.0 / _CLK_TCK


class CpuMeter:
    """CPU ms used by a server process (with its children) and by the PostgreSQL backends
    serving it while the meter runs.

    Backends are the ``pg_stat_activity`` rows of ``database`` whose ``application_name`` is
    the server's; they are sampled every ``interval`` seconds, so a backend that starts during
    the run counts from 0 and one that ends counts until its last sample. Use as a context
    manager; then read ``service_ms`` and ``postgres_ms``.
    """

    def __init__(self, server: Server, database_url_: str, interval: float = 0.25):
        self.server = server
        self.dsn = _psycopg_dsn(with_application_name(database_url_, "bench_cpu_meter"))
        self.database = database_url_.split("?", 1)[0].rsplit("/", 1)[1]
        self.interval = interval
        self.service_ms = 0.0
        self.postgres_ms = 0.0
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn = None
        self._service_start = 0.0

    def _backends(self) -> list[int]:
        if not self.server.application_name:
            return []
        rows = self._conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = %s",
            (self.database, self.server.application_name)).fetchall()
        return [r[0] for r in rows]

    def _sample(self, initial: bool = False) -> None:
        for pid in self._backends():
            ms = cpu_ms([pid], include_children=False)
            if pid not in self._first:
                self._first[pid] = ms if initial else 0.0
            self._last[pid] = max(ms, self._last.get(pid, 0.0))

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> CpuMeter:
        import psycopg

        self._conn = psycopg.connect(self.dsn, autocommit=True)
        self._service_start = cpu_ms([self.server.pid])
        self._sample(initial=True)
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        self._sample()
        self.service_ms = cpu_ms([self.server.pid]) - self._service_start
        self.postgres_ms = sum(self._last[p] - self._first[p] for p in self._last)
        self._conn.close()


# -- measuring: rounds interleaved with the reference ------------------------------------------
@dataclass
class Measured:
    """Figures of one side (product or reference) over its rounds: the median req/s and
    latencies, CPU ms per request over all rounds."""

    rounds: list[WrkResult]
    service_ms: float
    postgres_ms: float

    @property
    def ok_requests(self) -> int:
        return sum(r.ok_requests for r in self.rounds)

    @property
    def req_s(self) -> float:
        return statistics.median(r.req_s for r in self.rounds)

    def latency(self, which: str = "p95_ms") -> float:
        return statistics.median(getattr(r, which) for r in self.rounds)

    @property
    def cpu_service(self) -> float | None:
        return self.service_ms / self.ok_requests if self.ok_requests else None

    @property
    def cpu_postgres(self) -> float | None:
        return self.postgres_ms / self.ok_requests if self.ok_requests else None

    @property
    def errors(self) -> int:
        return sum(v for r in self.rounds for k, v in r.errors.items() if k != "status")

    def summary(self) -> str:
        """``1234 req/s p50/p95/p99 1.2/3.4/5.6 ms`` (``>=`` when a round completed nothing)."""
        floor = ">=" if any(r.latency_is_lower_bound for r in self.rounds) else ""
        return (f"{self.req_s:,.1f} req/s p50/p95/p99 {floor}{self.latency('p50_ms'):.1f}/"
                f"{self.latency('p95_ms'):.1f}/{self.latency('p99_ms'):.1f} ms")


def measure(server: Server, database_url_: str, url: str, *, duration: float,
            script: WrkScript | str | None = None, threads: int = 2, connections: int = 16,
            headers: dict[str, str] | None = None) -> tuple[WrkResult, float, float]:
    """One wrk round against ``url`` with the CPU of ``server`` and its PostgreSQL backends:
    ``(result, service_ms, postgres_ms)``."""
    with CpuMeter(server, database_url_) as meter:
        result = wrk(url, duration, threads=threads, connections=connections,
                     lua_script=script, headers=headers)
    return result, meter.service_ms, meter.postgres_ms


Script = WrkScript | str | None


def interleave(sides: Sequence[tuple[Server, str, Script | list[Script]]], database_url_: str,
               *, rounds: int, duration: float, threads: int = 2, connections: int = 16
               ) -> list[Measured]:
    """Alternate rounds of the given sides (``(server, url, script)``, e.g. product then
    reference): P R P R …; one :class:`Measured` per side. A side's script may be a list with
    one script per round (for requests that consume ids)."""
    results: list[list[WrkResult]] = [[] for _ in sides]
    cpu = [[0.0, 0.0] for _ in sides]
    for n in range(rounds):
        for i, (server, url, script) in enumerate(sides):
            this = script[n] if isinstance(script, list) else script
            result, s_ms, p_ms = measure(server, database_url_, url, duration=duration,
                                         script=this, threads=threads,
                                         connections=connections)
            results[i].append(result)
            cpu[i][0] += s_ms
            cpu[i][1] += p_ms
    return [Measured(r, c[0], c[1]) for r, c in zip(results, cpu, strict=True)]


# -- what a run records ----------------------------------------------------------------------------
def machine_info() -> dict:
    """CPU model, cores, memory (MiB), kernel and Python of this machine."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_mib = None
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_mib = int(line.split()[1]) // 1024
    return {"cpu_model": model, "cores": os.cpu_count(), "memory_mib": mem_mib,
            "kernel": platform.release(), "python": platform.python_version(),
            "hostname": socket.gethostname()}


POSTGRES_SETTINGS = ("shared_buffers", "work_mem", "effective_cache_size", "max_connections",
                     "jit", "synchronous_commit", "random_page_cost", "max_parallel_workers",
                     "max_parallel_workers_per_gather")


def server_settings(admin_url: str = PG_ADMIN_URL) -> dict:
    """Waitress threads of the product and the reference, wrk's version, and PostgreSQL's
    version and key settings (``None`` where unreachable)."""
    out: dict = {"waitress_threads": None, "wrk": None, "postgresql": None}
    with contextlib.suppress(Exception):
        out["waitress_threads"] = waitress_threads()
    with contextlib.suppress(Exception):
        out["wrk"] = subprocess.run(["wrk", "--version"], capture_output=True, text=True,
                                    timeout=10).stdout.split("Copyright")[0].strip()
    try:
        import psycopg

        with psycopg.connect(_psycopg_dsn(admin_url), autocommit=True, connect_timeout=5) as c:
            pg = {"version": c.execute("SHOW server_version").fetchone()[0]}
            for name in POSTGRES_SETTINGS:
                pg[name] = c.execute(f"SHOW {name}").fetchone()[0]
        out["postgresql"] = pg
    except Exception as exc:  # a header field, not a failure of the run
        out["postgresql"] = {"error": str(exc).splitlines()[0]}
    return out


def git_commit() -> dict:
    """The checked-out commit, its branch, and whether the work tree has changes."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=30).stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def markdown_table(rows: Sequence[dict]) -> str:
    """Rows as a markdown table: name, product, reference, ratio, goal, met, CPU ms per
    request (service / PostgreSQL), data size, backend."""
    def num(v) -> str:
        if v is None:
            return "–"
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.3g}" if abs(v) < 10 else f"{v:,.1f}"

    lines = ["| name | unit | product | reference | ratio | goal | met | CPU ms/req service"
             " / PG | data size | backend |",
             "|---|---|---:|---:|---:|---|---|---:|---:|---|"]
    for r in rows:
        met = {True: "yes", False: "**no**", None: "–"}[r.get("met")]
        ratio = "–" if r.get("ratio") is None else f"{r['ratio']:.2f}×"
        cpu = (f"{num(r.get('cpu_ms_per_req_service'))} / "
               f"{num(r.get('cpu_ms_per_req_postgres'))}")
        size = "–" if r.get("data_size") is None else f"{r['data_size']:,}"
        lines.append(f"| {r['name']} | {r['unit']} | {num(r.get('product'))} | "
                     f"{num(r.get('reference'))} | {ratio} | {r.get('goal') or '–'} | {met} | "
                     f"{cpu} | {size} | {r['backend']} |")
    return "\n".join(lines)
