"""Who may import whom: the rules docs/architecture.md states, read from the source (ast)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ("charity", "notifications", "chat", "dashboard", "donations", "shifts", "realtime")
APPS = ("notifications", "chat", "dashboard", "donations", "shifts")


def imported_packages(package: str) -> dict[str, set[str]]:
    """Top-level packages each module of ``package`` imports (migrations aside): module -> names."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        if "migrations" in path.parts:
            continue
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


def importers(package: str, imported: str) -> list[str]:
    return sorted(module for module, names in imported_packages(package).items() if imported in names)


def test_notifications_never_imports_chat_or_dashboard() -> None:
    assert importers("notifications", "chat") == []
    assert importers("notifications", "dashboard") == []


def test_the_engine_imports_no_app_and_not_the_project() -> None:
    for other in PROJECT:
        if other != "realtime":
            assert importers("realtime", other) == [], other


def test_no_two_apps_import_each_other() -> None:
    imports = {app: set().union(*imported_packages(app).values()) for app in APPS}
    mutual = sorted((a, b) for a in APPS for b in APPS if a < b and b in imports[a] and a in imports[b])
    assert mutual == []
