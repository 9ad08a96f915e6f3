"""Configuration from environment variables, with documented defaults.

Every setting the services read is listed in ``SETTINGS`` (name, default, meaning) so that the
README table and ``--help`` texts come from one place. Defaults give the embedded mode: SQLite
files under ``./var`` and the in-process bus.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path

#: Repository root (the package is installed editable from a clone; see README).
PROJECT_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Setting:
    """One environment variable: its name, default (``None`` = unset) and meaning;
    ``secret`` marks a value never to print (names with SECRET, PASSWORD, TOKEN, KEY... are
    secret anyway, see :func:`is_secret_setting`)."""

    name: str
    default: str | None
    meaning: str
    secret: bool = False


SETTINGS: tuple[Setting, ...] = (
    Setting("DATABASE_URL", None, "SQLAlchemy URL of this service's own database. Unset: SQLite "
            "file var/<service>.db (embedded mode)."),
    Setting("REGISTRY_DATABASE_URL", None, "Overrides DATABASE_URL for the registry only "
            "(lets one shell or the embedded process address three databases)."),
    Setting("NOTIFIER_DATABASE_URL", None, "Same, for the notifier."),
    Setting("REPORTING_DATABASE_URL", None, "Same, for reporting."),
    Setting("KAFKA_BOOTSTRAP_SERVERS", None, "Comma-separated Kafka brokers. Unset: in-process "
            "bus (embedded mode)."),
    Setting("KAFKA_TOPIC_PREFIX", "", "Prefix for every topic name (isolates test runs)."),
    Setting("KAFKA_CONSUMER_GROUP_PREFIX", "", "Prefix for consumer group ids."),
    Setting("VAR_DIR", "var", "Folder for SQLite files, e-mails (.eml) and logs in embedded mode."),
    Setting("PORT", "5000", "Port of the one base URL in embedded mode (127.0.0.1)."),
    Setting("HOST", "127.0.0.1", "Address the HTTP server binds to."),
    Setting("SMTP_URL", None, "smtp://[user:pass@]host:port for outgoing e-mail (smtps:// "
            "for implicit TLS, smtp+starttls:// for STARTTLS). Unset: e-mails are written as "
            ".eml files under var/mail."),
    Setting("MAIL_FROM", "Partnership Registry <registry@localhost>", "From: header of e-mails."),
    Setting("SECRETARIAT_EMAIL", "secretariat@localhost", "Address told of every submission."),
    Setting("PUBLIC_BASE_URL", None, "Base URL used in links inside e-mails. Unset: "
            "http://127.0.0.1:<port served> (the embedded mode's --port, else PORT)."),
    Setting("OUTBOX_POLL_SECONDS", "0.5", "Fallback: how often the outbox relay looks for new "
            "events when no commit woke it (it is woken on commit: PostgreSQL LISTEN/NOTIFY, "
            "or in-process)."),
    Setting("OUTBOX_BATCH_SIZE", "1000", "Outbox rows the relay claims and publishes at once."),
    Setting("KAFKA_LINGER_MS", "5", "Producer linger.ms: how long a record waits to fill a batch."),
    Setting("KAFKA_COMPRESSION", "lz4", "Producer compression codec: lz4, gzip, zstd (needs "
            "zstandard), snappy (needs python-snappy) or none."),
    Setting("KAFKA_SESSION_TIMEOUT_MS", "10000", "Consumer session timeout: a consumer killed "
            "without leaving its group holds its partitions this long (kafka-python: 45000); "
            "heartbeats every fifth of it."),
    Setting("KAFKA_MAX_POLL_INTERVAL_MS", "120000", "Longest time a consumer may spend on one "
            "polled batch before the group reassigns its partitions."),
    Setting("KAFKA_MAX_POLL_RECORDS", "500", "Records a consumer applies per batch (one "
            "transaction, one offset commit)."),
    Setting("KAFKA_RETRY_MAX_SECONDS", "30", "Longest back-off between attempts to reach Kafka "
            "(topic creation, producer and consumer start) while it is unreachable."),
    Setting("READYZ_TIMEOUT_SECONDS", "2.5", "Bound of each readiness check (/readyz answers "
            "from the last background check, never waiting longer)."),
    # notifier: delivery worker (services/notifier/deliveries/worker.py)
    Setting("DELIVERY_MAX_ATTEMPTS", "10", "Sends tried per e-mail before it is `dead` "
            "(temporary failures: 4xx replies, SMTP server unreachable)."),
    Setting("DELIVERY_BACKOFF_SECONDS", "60", "Wait after the first failed attempt; doubles "
            "with each attempt, plus a random 0..this much (jitter)."),
    Setting("DELIVERY_BACKOFF_MAX_SECONDS", "21600", "Longest wait between two attempts."),
    Setting("DELIVERY_POLL_SECONDS", "5", "Longest sleep of the delivery worker when nothing "
            "wakes it (retries made by `notifier deliveries retry` start within this time)."),
    Setting("DELIVERY_CLAIM_SECONDS", "300", "How long a claimed delivery stays claimed; a "
            "claim left by a crashed notifier is sent again after it."),
    # reporting

    Setting("SUMMARY_CACHE_SECONDS", "1", "Longest time a reporting process reuses its last "
            "summary (dropped at once when its own consumer applies a change); bounds how "
            "late changes applied by a separate `reporting consume` show. 0: no cache."),
    Setting("RUN_WORKERS", "1", "1: `serve` also runs the service's relay/consumer thread; "
            "0: web only (run `registry relay` / `notifier consume` / `reporting consume` "
            "apart)."),
    Setting("TOKEN_CACHE_SECONDS", "2", "Seconds a service reuses its list of signing keys and "
            "revoked tokens without reading them again (per process): a token revoked in "
            "another process is refused within this time (at once in the revoking process). "
            "0: read them on every request."),
    # --- oauth ---
    Setting("OAUTH_ISSUER", None, "Issuer URL of the registry's access tokens (`iss`, RFC 8414 "
            "metadata); the three services must agree on it. Unset: PUBLIC_BASE_URL."),
    Setting("ACCESS_TOKEN_SECONDS", "900", "Lifetime of access tokens (JWTs) issued by the "
            "OAuth endpoints; a signing key rotated out keeps verifying this long at most."),
    Setting("REFRESH_TOKEN_SECONDS", "2592000", "Lifetime of a refresh token family (30 days); "
            "each use rotates the refresh token."),
    Setting("AUTHORIZATION_CODE_SECONDS", "300", "Lifetime of an authorization code (RFC 6749 "
            "§4.1.2: 10 minutes at most)."),
    Setting("SIGNING_KEY_PASSPHRASE", None, "Passphrase that encrypts the registry's private "
            "signing keys in its database (PKCS#8, AES-256). Unset: stored unencrypted "
            "(local development only)."),
    Setting("LOG_LEVEL", "INFO", "Python log level of the JSON logs on stderr."),
    Setting("MAX_CONTENT_LENGTH", "1048576",
            "Largest accepted request body, in bytes (413 above)."),
    # --- accounts ---
    Setting("SESSION_IDLE_MINUTES", "30", "A browser session unused this long ends (OWASP "
            "Session Management: idle timeout); each request moves the idle end."),
    Setting("SESSION_ABSOLUTE_HOURS", "12", "A browser session ends this long after sign-in, "
            "however active (absolute timeout)."),
    Setting("SIGNIN_LOCKOUT_THRESHOLD", "10", "Consecutive failed sign-ins after which an "
            "account is locked for SIGNIN_LOCKOUT_MINUTES (ASVS 5.0 V6.3.1)."),
    Setting("SIGNIN_LOCKOUT_MINUTES", "15", "How long a locked account refuses every sign-in "
            "(the right password too); a password reset ends the lockout."),
    Setting("VERIFY_LINK_HOURS", "48", "Validity of an e-mail verification link (single use)."),
    Setting("RESET_LINK_MINUTES", "60", "Validity of a password reset link (single use)."),
    Setting("RATELIMIT_STORAGE_URI", "memory://", "Flask-Limiter storage of the rate limits "
            "(memory:// counts per process; redis://host:6379 shares them between processes)."),
    Setting("RATELIMIT_SIGNIN", "10/minute;50/hour", "Sign-in attempts allowed per client "
            "address, and again per account e-mail (429 + Retry-After above)."),
    Setting("RATELIMIT_SIGNUP", "5/minute;20/hour", "Sign-ups allowed per client address."),
    Setting("RATELIMIT_RESET", "5/minute;20/hour", "Password reset and verification e-mail "
            "requests allowed per client address, and again per e-mail address."),
    Setting("RATELIMIT_ENABLED", "1", "0 switches every rate limit off (benchmarks only)."),
    Setting("TRUSTED_PROXIES", "0", "Reverse proxies in front of the registry whose "
            "X-Forwarded-For/-Proto it believes (werkzeug ProxyFix): the client address of "
            "rate limits and the audit log. 1 behind the compose file's nginx; 0 when clients "
            "connect directly (a forged header is then ignored)."),
    # --- web ---
    Setting("ENVIRONMENT", "development", "`production`: the services refuse to start without "
            "a SECRET_KEY (32+ characters, not the development one), session cookies are "
            "Secure and `__Host-` prefixed, HSTS is sent. `development` (make run): a fixed "
            "development key, cookies over plain HTTP."),
    Setting("SECRET_KEY", None, "Signs session cookies and CSRF tokens; the same value in the "
            "three services. Unset: a development key (refused in production)."),
    # --- authz ---
    Setting("INVITATION_DAYS", "14", "Validity of an invitation to join an organisation "
            "(single-use link sent by e-mail)."),
    Setting("RATELIMIT_ORGANIZATION_REGISTER", "10/hour", "Organisations one client address "
            "may register (429 + Retry-After above)."),
    Setting("RATELIMIT_SUBMIT", "30/hour", "Initiative submissions allowed per client "
            "address."),
    # --- review desk (issue 8) ---
    Setting("REVIEW_TARGET_WORKING_DAYS", "5", "Working days (Monday to Friday) within which "
            "the secretariat aims to decide a submission or revision; older ones are "
            "highlighted in the review queue (the Our Ocean Conference platform's promise)."),
    # progress reports and compliance (issue 9)
    Setting("REPORTING_YELLOW_MONTHS", "12", "Months after publication or after the last "
            "approved progress report when a progress report is due and the reporting light "
            "turns yellow (UN DESA partnership platform's rule since 2018)."),
    Setting("REPORTING_RED_MONTHS", "24", "Months after publication or after the last approved "
            "progress report when the light turns red and the initiative is shown as inactive "
            "(UN DESA's rule)."),
    Setting("REPORTING_REMINDER_DAYS_BEFORE", "30", "Days before the report is due when the "
            "owner organisation's members get the first reminder."),
    Setting("COMPLIANCE_JOB_HOUR", "2", "Hour of the day (UTC, 0-23) when the registry's "
            "scheduler computes the reporting lights and decides the reminders."),
    Setting("COMPLIANCE_DIGEST_WEEKDAY", "mon", "Day of the week (mon..sun) when the "
            "secretariat's weekly digest of records that turned yellow or red is sent (at "
            "COMPLIANCE_JOB_HOUR, after the job)."),
    Setting("COMPLIANCE_BATCH_SIZE", "5000", "Initiatives the compliance job computes per "
            "statement (one query plan per batch)."),
    Setting("SCHEDULER_ENABLED", "true", "Run the registry's scheduled jobs (APScheduler) in "
            "this process; one run at a time across processes (a PostgreSQL advisory lock). "
            "Tests set it to false and run the jobs with a controlled clock."),
)


def setting(name: str) -> str | None:
    """Value of a documented setting: the environment's, else the default.

    Raises ``KeyError`` for a name not in ``SETTINGS`` (so undocumented settings cannot creep in).
    """
    for s in SETTINGS:
        if s.name == name:
            value = os.environ.get(name)
            return value if value not in (None, "") else s.default
    raise KeyError(f"undocumented setting {name}")


def var_dir() -> Path:
    """The embedded mode's data folder (``VAR_DIR``, relative to the working directory)."""
    path = Path(setting("VAR_DIR") or "var")
    path.mkdir(parents=True, exist_ok=True)
    return path


def database_url(service: str) -> str:
    """Database URL of ``service`` (``registry``, ``notifier`` or ``reporting``).

    ``<SERVICE>_DATABASE_URL`` wins over ``DATABASE_URL``; with neither, a SQLite file
    ``var/<service>.db``.
    """
    url = setting(f"{service.upper()}_DATABASE_URL") or setting("DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{(var_dir() / f'{service}.db').resolve()}"


def kafka_bootstrap_servers() -> list[str] | None:
    """Kafka brokers as a list, or ``None`` for the in-process bus (embedded mode)."""
    raw = setting("KAFKA_BOOTSTRAP_SERVERS")
    if not raw:
        return None
    return [s.strip() for s in raw.split(",") if s.strip()]


def number(name: str) -> float:
    """A numeric setting as a float; raises ``ValueError`` naming the setting when malformed."""
    raw = setting(name)
    try:
        return float(raw or 0)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {raw!r}") from None


def flag(name: str) -> bool:
    """A 0/1 (or true/false) setting as a bool."""
    return (setting(name) or "").strip().lower() in {"1", "true", "yes", "on"}


#: name parts (between underscores) that mark a secret setting (``SECRET_KEY``,
#: ``SMTP_PASSWORD``, ``API_TOKEN``; not ``SECRETARIAT_EMAIL``)
_SECRET_PARTS = frozenset({"SECRET", "SECRETS", "PASSWORD", "PASSWD", "PASSPHRASE",
                           "CREDENTIAL", "CREDENTIALS", "PRIVATE", "TOKEN", "TOKENS", "KEY",
                           "KEYS", "APIKEY"})
#: ...unless the name says it is a duration, size or count (``TOKEN_CACHE_SECONDS``)
_NOT_SECRET_SUFFIX = re.compile(r"_(SECONDS|MS|MINUTES|HOURS|DAYS|SIZE|COUNT|LENGTH|TTL)$")
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)[^@\s]*@")
_QUERY_SECRET = re.compile(r"(?P<head>[?&;](?:[a-z_]*(?:password|passwd|secret|token|key)"
                           r"[a-z_]*)=)[^&;\s]*", re.I)
MASK = "********"


def is_secret_setting(name: str) -> bool:
    """True for a setting whose whole value is a secret: declared ``secret=True``, or named with
    SECRET, PASSWORD, PASSWD, PASSPHRASE, CREDENTIAL, PRIVATE, TOKEN or KEY (and not a
    duration/size/count such as ``TOKEN_CACHE_SECONDS``)."""
    declared = next((s for s in SETTINGS if s.name == name), None)
    if declared is not None and declared.secret:
        return True
    upper = name.upper()
    return (bool(_SECRET_PARTS.intersection(upper.split("_")))
            and not _NOT_SECRET_SUFFIX.search(upper))


def masked_value(name: str, value: str | None) -> str:
    """``value`` fit to print: a secret setting as ``********`` (when set); in any other
    value, the password of a URL (``postgresql://user:********@host/db``,
    ``smtp://user:********@host``) and secret query parameters (``?password=********``)."""
    if not value:
        return ""
    if is_secret_setting(name):
        return MASK
    value = _URL_PASSWORD.sub(lambda m: f"{m.group('head')}{MASK}@", value)
    return _QUERY_SECRET.sub(lambda m: f"{m.group('head')}{MASK}", value)


def public_base_url(port: int | None = None) -> str:
    """Base of links in e-mails (no trailing slash): ``PUBLIC_BASE_URL`` when set, else
    ``http://<HOST>:<port>`` with the port actually served (``port``, else ``PORT``; a HOST
    that binds every address, or none, becomes 127.0.0.1)."""
    explicit = setting("PUBLIC_BASE_URL")
    if explicit:
        return explicit.rstrip("/")
    host = (setting("HOST") or "").strip("[]")
    try:
        unspecified = ipaddress.ip_address(host).is_unspecified  # 0.0.0.0, ::
    except ValueError:
        unspecified = host in ("", "*")  # a host name stays as it is
    if unspecified:
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal in a URL
    return f"http://{host}:{port or int(setting('PORT') or 5000)}"
