"""ETag / If-Match of records with a change counter (RFC 9110 §8.8.3, §13.1.1).

Every read of an initiative (and of a revision) answers ``ETag: "<version>"`` (strong; the
``version`` column, +1 with every change). ``PATCH`` and every action accept ``If-Match``:
a different version is 412 (``PreconditionFailed``) and nothing is written; no header is
allowed (clients that do not send one keep working); ``*`` matches any version.
"""

from __future__ import annotations

import re

from flask import Response, request

from shared.problems import PreconditionFailed

_TAG = re.compile(r'^\s*(?:W/)?"(\d{1,18})"\s*$')


def etag_of(version: int) -> str:
    """The ETag header value of a record at ``version`` (``"3"``)."""
    return f'"{version}"'


def if_match() -> int | None:
    """The version the request's ``If-Match`` names (None: no header, or ``*``).
    :class:`PreconditionFailed` (412) for a value that is no ETag this API gives (several
    tags, or not ``"<number>"``): it can match no current version."""
    value = request.headers.get("If-Match")
    if value is None or value.strip() in ("", "*"):
        return None
    match = _TAG.match(value)
    if match is None:
        raise PreconditionFailed(
            f'If-Match {value[:60]!r} names no version of this record: send the ETag of '
            'your last read, e.g. If-Match: "3".', extra={"field": "If-Match"})
    return int(match.group(1))


def with_etag(response: Response, version: int) -> Response:
    """``response`` with the ``ETag`` of ``version``."""
    response.headers["ETag"] = etag_of(version)
    return response
