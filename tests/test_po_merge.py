"""tools/po_merge.py: two branches' additions to one catalogue merge without a conflict."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

REPO = Path(__file__).resolve().parents[1]
HEADER = 'msgid ""\nmsgstr ""\n"Language: zh\\n"\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'


def test_union_of_both_sides_translations(tmp_path):
    ours = tmp_path / "ours.po"
    theirs = tmp_path / "theirs.po"
    ours.write_text(HEADER + 'msgid "Sign in"\nmsgstr "登录"\n\nmsgid "Language"\nmsgstr ""\n',
                    encoding="utf-8")
    theirs.write_text(HEADER + 'msgid "Members"\nmsgstr "成员"\n\n'
                      'msgid "Language"\nmsgstr "语言"\n', encoding="utf-8")
    out = subprocess.run([sys.executable, str(REPO / "tools" / "po_merge.py"), "/dev/null",
                          str(ours), str(theirs)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    with ours.open("rb") as fh:
        merged = {m.id: m.string for m in read_po(fh) if m.id}
    assert merged == {"Sign in": "登录", "Members": "成员", "Language": "语言"}
