"""How fast the notifier renders and writes e-mails (embedded mode's .eml transport).

Run: ``.venv/bin/python bench/notifier_render.py [N]`` — prints messages per second for
rendering + building the MIME message, and for writing ``.eml`` files to a temporary folder.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from notifier.deliveries.rendering import (
    MailSettings,
    build_message,
    mail_context,
    message_id,
    render,
)
from notifier.deliveries.transport import FileTransport

SETTINGS = MailSettings("Partnership Registry <noreply@registry.example>",
                        "secretariat@un.example", "https://registry.example")
DATA = {"to_status": "published", "from_status": "submitted", "comment": "Well documented.",
        "initiative": {"id": "3f0c1d7e-0000-4000-8000-000000000001", "public_id": "PR-2026-00042",
                       "title": "Clean Oceans <Alliance> & Partners",
                       "lead_organization": {"name": "Blue Planet Trust"}}}


def main(n: int = 2000) -> None:
    """Print renders/s and .eml writes/s for ``n`` messages."""
    context = mail_context(DATA, SETTINGS)
    start = time.perf_counter()
    messages = []
    for i in range(n):
        mail = render("approved", context)
        messages.append(build_message(mail, recipient=f"c{i}@example.org",
                                      msg_id=message_id(str(i), "c@example.org", SETTINGS),
                                      settings=SETTINGS))
    rendered = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        transport = FileTransport(Path(tmp))
        start = time.perf_counter()
        for i, msg in enumerate(messages):
            transport.send(msg, sender=SETTINGS.sender, recipient=f"c{i}@example.org",
                           event_id=str(i))
        written = time.perf_counter() - start
    print(f"render+build: {n / rendered:,.0f} messages/s ({rendered * 1000 / n:.2f} ms each)")
    print(f"write .eml:   {n / written:,.0f} messages/s ({written * 1000 / n:.2f} ms each)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
