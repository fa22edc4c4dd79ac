"""A site's code environment: the modules researcher code may import there, with versions.

Each datasite publishes one (``datasite env show``, ``GET /site/env``); the admin chooses the
list, by default :data:`DEFAULT_ALLOWED`: a safe subset of the standard library (no files,
processes, network, pickling or introspection) plus numpy, torch, pandas and opacus.
``researcher submit`` checks every import of a task against every site's environment before
anything is sent, and a site's risk report flags (and its approval refuses) an import outside
it.
Pure Python (``ast``); never imports syft.
"""

from __future__ import annotations

import ast
import textwrap

from pydantic import BaseModel, ConfigDict

STDLIB = "stdlib"  # the version shown for standard-library modules
SAFE_STDLIB = (
    "__future__", "abc", "bisect", "collections", "contextlib", "copy", "dataclasses",
    "datetime", "decimal", "enum", "fractions", "functools", "hashlib", "heapq", "itertools",
    "json", "math", "numbers", "operator", "random", "re", "statistics", "string", "time",
    "typing", "warnings",
)  # fmt: skip
# opacus: DP-SGD is the option that protects the hospital's data (issue 13), so a DP task
# (examples/tasks/dp_cnn.py) runs at a default site without the admin allowing anything.
DEFAULT_PACKAGES = ("numpy", "torch", "pandas", "opacus")
DEFAULT_ALLOWED = SAFE_STDLIB + DEFAULT_PACKAGES


class CodeEnvironment(BaseModel):
    """Top-level module name -> installed version (``"stdlib"`` for the standard library)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    site: str = ""
    modules: dict[str, str]

    def allows(self, module: str) -> bool:
        return module.split(".")[0] in self.modules


def imports(source: str) -> list[tuple[str, int]]:
    """``(module, line)`` for every import in ``source`` (relative imports as ``"."``)."""
    tree = ast.parse(textwrap.dedent(source))
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append(("." if node.level else node.module or ".", node.lineno))
    return sorted(found, key=lambda item: item[1])


def disallowed(source: str, env: CodeEnvironment) -> list[tuple[str, int]]:
    """The imports of ``source`` that ``env`` does not provide, with their lines."""
    return [(name, line) for name, line in imports(source) if not env.allows(name)]
