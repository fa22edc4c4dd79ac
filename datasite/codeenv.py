"""The site's code environment: which modules researcher code may import here, and their
installed versions. The admin chooses the list (``datasite env allow / disallow``), kept in
``DATA_DIR/code-env.json``; without that file the list is the safe default
(:data:`fedcommon.code_env.DEFAULT_ALLOWED`: a safe subset of the standard library, numpy,
torch, pandas, opacus). The site API publishes it at ``GET /site/env``; the risk report flags
every import outside it and approval refuses such code. Read at each use: no restart needed.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path

from datasite.errors import ConfigError, DataDirError
from fedcommon.code_env import DEFAULT_ALLOWED, STDLIB, CodeEnvironment

ENV_FILE = "code-env.json"
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def allowed_names(data_dir: Path) -> tuple[str, ...]:
    """The admin's list (the default when the site never set one)."""
    path = Path(data_dir) / ENV_FILE
    if not path.exists():
        return DEFAULT_ALLOWED
    try:
        names = json.loads(path.read_text())["allow"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DataDirError(
            f"{path} is unreadable ({type(err).__name__}); fix it or delete it to go back to "
            "the default code environment."
        ) from None
    return tuple(str(name) for name in names)


def version_of(module: str, distributions: Mapping[str, list[str]] | None = None) -> str | None:
    """``"stdlib"``, the installed distribution's version, or None when not importable.

    ``distributions``: :func:`importlib.metadata.packages_distributions`, when the caller
    already has it (it reads every installed distribution's file list: ~0.3 s here)."""
    if module in sys.stdlib_module_names:
        return STDLIB
    if importlib.util.find_spec(module) is None:
        return None
    if distributions is None:
        distributions = importlib.metadata.packages_distributions()
    dists = distributions.get(module, [module])
    try:
        return importlib.metadata.version(dists[0])
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def environment(site: str, data_dir: Path) -> tuple[CodeEnvironment, list[str]]:
    """The published environment, and the allowed names that are not installed here."""
    modules: dict[str, str] = {}
    missing: list[str] = []
    distributions = importlib.metadata.packages_distributions()  # once, not once per name
    for name in allowed_names(data_dir):
        version = version_of(name, distributions)
        if version is None:
            missing.append(name)
        else:
            modules[name] = version
    return CodeEnvironment(site=site, modules=modules), missing


def change(data_dir: Path, add: list[str], remove: list[str]) -> tuple[str, ...]:
    """Allow ``add`` and stop allowing ``remove``; returns the new list.

    Raises:
        ConfigError: a name that is not a top-level module name.
    """
    bad = [name for name in add + remove if not _MODULE.match(name)]
    if bad:
        raise ConfigError(f"{bad}: give top-level module names, e.g. monai or scipy.")
    names = [n for n in allowed_names(data_dir) if n not in remove]
    names += [n for n in add if n not in names]
    path = Path(data_dir) / ENV_FILE
    try:
        path.write_text(json.dumps({"allow": sorted(names)}, indent=1))
    except OSError as err:
        raise DataDirError(f"Cannot write {path}: {err.strerror}.") from None
    return tuple(sorted(names))
