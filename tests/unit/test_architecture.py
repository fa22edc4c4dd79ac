"""The architecture stays visible: one-way imports and one syft boundary per side."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_MODULE_LINES = 400


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def package_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def top(name: str) -> str:
    return name.split(".")[0]


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        pytest.param("datasite", {"researcher"}, id="datasite-never-imports-researcher"),
        pytest.param("researcher", {"datasite"}, id="researcher-never-imports-datasite"),
        pytest.param("fedcommon", {"datasite", "researcher", "syft"}, id="fedcommon-stands-alone"),
    ],
)
def test_one_way_imports(package: str, forbidden: set[str]) -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in package_files(package)
        for name in imported_modules(path)
        if top(name) in forbidden
    ]

    assert offenders == []


@pytest.mark.parametrize("package", ["datasite", "researcher"])
def test_syft_only_behind_the_boundary(package: str) -> None:
    boundary = ROOT / package / "syftio"
    offenders = [
        str(path.relative_to(ROOT))
        for path in package_files(package)
        if "syft" in {top(n) for n in imported_modules(path)}
        and not (path == boundary.with_suffix(".py") or boundary in path.parents)
    ]

    assert offenders == []


def test_modules_stay_small() -> None:
    long = [
        f"{p.relative_to(ROOT)}: {n}"
        for pkg in ("datasite", "researcher", "fedcommon", "demo", "benchmarks")
        for p in package_files(pkg)
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    ]

    assert long == []
