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
        pytest.param(
            "fedcommon", {"datasite", "researcher", "lab", "syft"}, id="fedcommon-stands-alone"
        ),
        pytest.param("datasite", {"lab"}, id="hospital-software-never-imports-the-lab"),
        pytest.param("researcher", {"lab"}, id="researcher-never-imports-the-lab"),
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
        for pkg in ("datasite", "researcher", "fedcommon", "lab", "demo", "benchmarks")
        for p in package_files(pkg)
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    ]

    assert long == []


SERVER_ROOM = ROOT / "datasite" / "syftio" / "server"
SERVER_ENTRY = ROOT / "datasite" / "launch.py"  # starts the server process: its one door


def test_only_the_server_room_imports_server_code() -> None:
    """Code that runs inside the datasite process lives in datasite/syftio/server/; nothing
    else reaches into it except the launcher that starts that process."""
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for pkg in ("datasite", "researcher", "fedcommon", "lab", "demo", "benchmarks")
        for path in package_files(pkg)
        if SERVER_ROOM not in path.parents and path != SERVER_ENTRY
        for name in imported_modules(path)
        if name.startswith("datasite.syftio.server")
    ]

    assert offenders == []


def _launches_a_site(path: Path) -> bool:
    """A literal argv list that runs ``datasite launch`` (or ``-m datasite ... launch``)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.List | ast.Tuple):
            words = {e.value for e in node.elts if isinstance(e, ast.Constant)}
            if "launch" in words and ({"datasite", "-m"} & words):
                return True
    return False


def test_only_the_lab_launches_site_processes() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for pkg in ("datasite", "researcher", "fedcommon", "demo", "benchmarks")
        for path in package_files(pkg)
        if _launches_a_site(path)
    ]

    assert offenders == []
    assert _launches_a_site(ROOT / "lab" / "process.py")  # the rule still sees the real one
