"""Merge two versions of a gettext catalogue (``.po``) entry by entry: a git merge driver.

Branches that each add strings to the same catalogue conflict line by line in git's text
merge, although their entries never clash. This driver merges the catalogues instead: the
union of both sides' messages, each message's translation from ``ours`` unless it is empty or
fuzzy there and not in ``theirs`` (then ``theirs``); headers from ``ours``. Entries one side
deleted come back: ``make babel-update`` drops the ones no source uses any more.

Set up once per clone (``.gitattributes`` already routes ``*.po`` to it)::

    git config merge.po.name "gettext catalogue union"
    git config merge.po.driver ".venv/bin/python tools/po_merge.py %O %A %B"

or run it by hand on a conflicted file: ``python tools/po_merge.py BASE OURS THEIRS``
(``OURS`` is overwritten with the result; ``git show :1:f > base; :2: > ours; :3: > theirs``).
Exit status 0 (merged).
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po


def _key(message) -> tuple:
    return (message.id if isinstance(message.id, str) else tuple(message.id), message.context)


def _translated(message) -> bool:
    strings = message.string if isinstance(message.string, tuple | list) else (message.string,)
    return bool(message.id) and not message.fuzzy and all(strings)


def merge(ours_path: Path, theirs_path: Path) -> None:
    """Write the union of ``ours`` and ``theirs`` into ``ours_path``."""
    with ours_path.open("rb") as fh:
        ours = read_po(fh)
    with theirs_path.open("rb") as fh:
        theirs = read_po(fh)
    by_key = {_key(m): m for m in ours if m.id}
    for message in theirs:
        if not message.id:
            continue
        mine = by_key.get(_key(message))
        if mine is None:
            ours[message.id] = message
            ours.get(message.id, message.context).locations = []
        elif not _translated(mine) and _translated(message):
            mine.string = message.string
            mine.flags = set(message.flags)
    with ours_path.open("wb") as fh:
        write_po(fh, ours, no_location=True, sort_output=True, omit_header=False)


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    _base, ours, theirs = (Path(a) for a in argv[1:])
    merge(ours, theirs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
