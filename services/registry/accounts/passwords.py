"""Password policy and hashing.

Policy (OWASP ASVS 5.0 V6.2): at least 8 and at most 128 characters (V6.2.1, V6.2.9), any
character allowed and counted as Unicode code points after NFKC normalisation (V6.2.5,
NIST SP 800-63B §3.1.1.2), no composition rules (V6.2.5), refused when it is one of the 30,000
most common passwords (V6.2.4; list in ``data/common_passwords.txt``, see its PROVENANCE.md)
or the account's own e-mail address.

Hashing: argon2id through argon2-cffi's ``PasswordHasher`` with its default parameters
(RFC 9106's second recommended option in argon2-cffi 25: t=3, m=64 MiB, p=4). A stored hash
made with other parameters is re-hashed at the next successful sign-in
(:func:`verify_password` says so).
"""

from __future__ import annotations

import unicodedata
from functools import cache
from importlib.resources import files

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 8
MAX_LENGTH = 128

_hasher = PasswordHasher()


def hasher() -> PasswordHasher:
    """The process's argon2id hasher (argon2-cffi defaults)."""
    return _hasher


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, lower-case (read once per process)."""
    text = files("registry.accounts").joinpath("data/common_passwords.txt").read_text("utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip())


def normalize_password(password: str) -> str:
    """NFKC form of ``password`` (ASVS 5.0 V6.2.5 / NIST 800-63B: the same password typed on
    two keyboards compares equal)."""
    return unicodedata.normalize("NFKC", password)


def password_problems(password: str, *, email: str | None = None) -> list[str]:
    """Why ``password`` is refused (empty list: accepted). Messages are English sentences,
    shown as the ``password`` field's errors."""
    text = normalize_password(password)
    if len(text) < MIN_LENGTH:
        return [f"Use at least {MIN_LENGTH} characters."]
    if len(text) > MAX_LENGTH:
        return [f"Use at most {MAX_LENGTH} characters."]
    lowered = text.lower()
    if lowered in common_passwords():
        return ["This password is one of the most commonly used; choose another."]
    if email and lowered == email.strip().lower():
        return ["Do not use your e-mail address as the password."]
    return []


def hash_password(password: str) -> str:
    """argon2id PHC string of ``password`` (normalised)."""
    return _hasher.hash(normalize_password(password))


#: a hash to verify against when no account matches, so that an unknown e-mail costs the
#: same time as a wrong password (no account enumeration by timing, ASVS 5.0 V6.3.8)
_DUMMY_HASH = _hasher.hash("not a password of anyone: timing equaliser")


def verify_password(stored_hash: str | None, password: str) -> tuple[bool, bool]:
    """``(matches, needs_rehash)``; a missing hash (no password set yet) verifies a dummy
    hash and answers ``(False, False)``, taking the same time."""
    if not stored_hash:
        try:
            _hasher.verify(_DUMMY_HASH, normalize_password(password))
        except VerificationError:
            pass
        return False, False
    try:
        _hasher.verify(stored_hash, normalize_password(password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False, False
    return True, _hasher.check_needs_rehash(stored_hash)


def spend_verification_time(password: str) -> None:
    """Verify against a dummy hash (an unknown e-mail costs as much as a wrong password)."""
    verify_password(None, password)
