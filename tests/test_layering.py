"""Data flows one way, and each framework is imported in one place (checked on the source)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "newsletter"


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def modules() -> dict[str, set[str]]:
    return {
        str(path.relative_to(PROJECT_ROOT).with_suffix("")).replace("/", "."): imports_of(path)
        for path in PACKAGE.rglob("*.py")
    }


def importers_of(prefix: str) -> set[str]:
    return {
        module
        for module, names in modules().items()
        if any(name == prefix or name.startswith(prefix + ".") for name in names)
    }


@pytest.mark.parametrize(
    ("library", "allowed_prefix"),
    [
        ("mjml", "newsletter.render.edition"),
        ("apscheduler", "newsletter.schedule.runtime"),
        ("fastapi", "newsletter.web"),
        ("typer", "newsletter.cli"),
        ("sendgrid", "newsletter.delivery.sendgrid"),
    ],
)
def test_each_framework_is_imported_in_one_place(library: str, allowed_prefix: str) -> None:
    strays = {m for m in importers_of(library) if not m.startswith(allowed_prefix)}
    assert not strays, f"{library} imported outside {allowed_prefix}: {sorted(strays)}"


def test_delivery_knows_nothing_upstream() -> None:
    upstream = (
        "newsletter.db.models",
        "newsletter.db.engine",
        "newsletter.editions.lifecycle",
        "newsletter.send.service",
        "newsletter.content.loading",
        "newsletter.render.edition",
        "sqlmodel",
        "sqlalchemy",
    )
    for module, names in modules().items():
        if module.startswith("newsletter.delivery"):
            bad = {n for n in names if n.startswith(upstream)}
            assert not bad, f"{module} imports {sorted(bad)}"


def test_render_never_touches_the_database() -> None:
    for module, names in modules().items():
        if module.startswith("newsletter.render.edition"):
            bad = {n for n in names if n.startswith(("newsletter.db.engine", "sqlmodel", "sqlalchemy"))}
            assert not bad, f"{module} imports {sorted(bad)}"
