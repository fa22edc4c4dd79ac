"""Site tasks in a file (``task = "path/to/file.py:function"``) shipped as a syft function.

STOPGAP until issue 11 lands its general task loading and checking: a task follows the
issue-11 contract ``fn(data, weights, task, round_index, config) -> dict``; syft binds each
asset as its own argument, so the shipped function is generated source that holds the task's
own source unchanged and calls it with ``data`` assembled from the bound assets. The file is
written next to the temp dir and imported so that syft's ``inspect.getsource`` reads it: the
admin reviews the task's text verbatim inside that wrapper.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from researcher.config import ExperimentConfig
from researcher.errors import ConfigError

ASSET_ARGS = ("images", "labels", "val_images", "val_labels")
TaskFn = Callable[..., dict[str, Any]]


def _import(path: Path, module_name: str) -> Any:
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"Cannot import the task file {path}.")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_task(spec: str, base: Path | None = None) -> TaskFn:
    """The function named by ``"file.py:function"`` (a relative file is looked up from
    ``base``, then from the current folder)."""
    file, _, name = spec.rpartition(":")
    candidates = [Path(file)] if Path(file).is_absolute() else [
        (base or Path.cwd()) / file, Path.cwd() / file]  # fmt: skip
    path = next((p for p in candidates if p.is_file()), None)
    if not file or not name or path is None:
        raise ConfigError(
            f"task = '{spec}': expected 'path/to/file.py:function' naming an existing file."
        )
    found = getattr(_import(path, f"task_{path.stem}"), name, None)
    if not callable(found):
        raise ConfigError(f"task = '{spec}': {path} has no function named '{name}'.")
    return found  # type: ignore[no-any-return]


def site_function(task: TaskFn) -> Callable[..., dict[str, Any]]:
    """The syft-shippable function wrapping ``task`` (same source for the same task)."""
    source = textwrap.dedent(inspect.getsource(task))
    data = ", ".join(f'"{a}": {a}' for a in ASSET_ARGS)
    text = (
        f"def site_task({', '.join(ASSET_ARGS)}, weights, task, round_index, config):  "
        "# noqa\n" + textwrap.indent(source, "    ") + f"\n    data = {{{data}}}\n"
        f"    return {task.__name__}(data, weights, task, round_index, config)\n"
    )
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    folder = Path(tempfile.gettempdir()) / "hospital-fl-tasks"
    folder.mkdir(exist_ok=True)
    path = folder / f"site_task_{digest}.py"
    if not path.exists():
        path.write_text(text)
    fn: Callable[..., dict[str, Any]] = _import(path, f"site_task_{digest}").site_task
    return fn


def initial_weights(site_fn: Callable[..., dict[str, Any]], config: dict[str, Any]) -> Any:
    """The seeded initial weights from the site function's own ``init`` (no data used)."""
    empty = np.zeros((0,), dtype=np.uint8)
    return site_fn(empty, empty, empty, empty, {}, "init", 0, config)["weights"]


def experiment_function(experiment: ExperimentConfig) -> Callable[..., dict[str, Any]]:
    """What is shipped for ``experiment``: its task, or the built-in ``federated_step``."""
    if experiment.task is None:
        from researcher.site_code import federated_step

        return federated_step
    return site_function(load_task(experiment.task))
