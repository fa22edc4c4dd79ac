"""Every public function and class of the notebook-facing APIs says what it does."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def undocumented(path: Path) -> list[str]:
    missing = []
    for node in ast.parse(path.read_text()).body:
        public = isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name[0] != "_"
        if public and not ast.get_docstring(node):
            missing.append(node.name)
    return missing


@pytest.mark.parametrize("module", ["datasite/api.py", "researcher/api.py"])
def test_public_api_is_documented(module: str) -> None:
    assert undocumented(ROOT / module) == []
