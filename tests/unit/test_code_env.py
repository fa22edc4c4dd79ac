"""A site's code environment: the admin's list with a safe default, versions as installed,
and the imports of a task checked against it."""

from __future__ import annotations

from pathlib import Path

import pytest

from datasite import codeenv
from datasite.errors import ConfigError
from fedcommon.code_env import DEFAULT_ALLOWED, CodeEnvironment, disallowed, imports

TASK = """
def t(data, weights, task, round_index, config):
    import numpy as np
    import os.path
    from torch import nn
    from scipy.ndimage import zoom
    return {}
"""


def test_the_default_environment_is_safe_and_names_installed_versions(tmp_path: Path) -> None:
    published, missing = codeenv.environment("north", tmp_path)

    assert set(published.modules) == set(DEFAULT_ALLOWED) and missing == []
    assert published.modules["numpy"] == "1.24.4" and published.modules["math"] == "stdlib"
    assert not {"os", "sys", "subprocess", "socket", "pickle", "importlib"} & set(DEFAULT_ALLOWED)


def test_the_admin_allows_and_disallows_modules(tmp_path: Path) -> None:
    codeenv.change(tmp_path, add=["monai", "not_a_module_here"], remove=["pandas"])

    published, missing = codeenv.environment("north", tmp_path)

    assert published.modules["monai"] == "1.6.1" and "pandas" not in published.modules
    assert missing == ["not_a_module_here"]
    with pytest.raises(ConfigError, match="top-level module names"):
        codeenv.change(tmp_path, add=["os; rm"], remove=[])


def test_imports_outside_the_environment_are_found_with_their_lines() -> None:
    env = CodeEnvironment(site="north", modules=dict.fromkeys(DEFAULT_ALLOWED, "x"))

    assert [name for name, _ in imports(TASK)] == ["numpy", "os.path", "torch", "scipy.ndimage"]
    assert disallowed(TASK, env) == [("os.path", 4), ("scipy.ndimage", 6)]
