"""``shared/`` is the contract the three services share: it must not import any of them (nor the
embedded composition root above them), or a service's change could break another's contract."""

from __future__ import annotations

import ast
from pathlib import Path

import shared

SERVICE_PACKAGES = {"registry", "notifier", "reporting", "embedded"}


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_no_module_of_shared_imports_a_service():
    root = Path(shared.__file__).parent
    offenders = {str(p.relative_to(root)): sorted(_imported_roots(p) & SERVICE_PACKAGES)
                 for p in root.rglob("*.py") if _imported_roots(p) & SERVICE_PACKAGES}
    assert offenders == {}
