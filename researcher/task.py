"""The site-task contract, in one place: loading a task, checking it statically, and turning
it into the function a site runs.

A **site task** is one self-contained function::

    def my_task(data, weights, task, round_index, config) -> dict

- ``data``: the assets the experiment binds (``inputs``), by asset name: ``images``,
  ``labels``, ``val_images``, ``val_labels`` (and ``metadata`` / ``val_metadata``).
- ``weights``: the global model, ``{name: float32 ndarray}`` (``{}`` before the first round).
- ``task``: ``"init"`` (seeded initial weights, touches no data), ``"train"`` (returns new
  weights) or ``"evaluate"`` (metrics on the validation split).
- ``round_index``: 1, 2, ... (0 for init). ``config``: the experiment's settings and its
  ``[task_config]`` table (:meth:`researcher.config.ExperimentConfig.site_config`).
- returns ``{"weights": {name: float32 ndarray}}`` (init / train), ``"n_samples": int`` and
  ``"metrics": {name: float}``; an evaluate reply may add ``"score_histograms"`` (counts,
  ``(classes, 2, config["auc_bins"])``, see :mod:`fedcommon.metrics`) for the pooled AUC.

Imports and helpers live inside the body: the site runs this source alone, and the admin
reads all of it. The experiment names the task (``task = "path/file.py:fn"``) or a notebook
passes the function (``api.submit(fed, exp, task=fn)``). What the site runs is the task's
source unchanged inside a short wrapper (:func:`site_source`) that gathers the bound assets
into ``data``, times the call, and carries the declared output schema as a constant.
"""

from __future__ import annotations

import ast
import builtins
import importlib.util
import inspect
import linecache
import symtable
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fedcommon.code_env import CodeEnvironment, disallowed
from fedcommon.task_schema import EVALUATE_THEN_TRAIN, SCHEMA_ARGUMENT
from researcher.errors import TaskError

TaskFn = Callable[..., Any]
PARAMETERS = ("data", "weights", "task", "round_index", "config")
REPO_ROOT = Path(__file__).resolve().parents[1]
BUILTIN = "examples/tasks/cnn.py:cnn_task"


@dataclass(frozen=True)
class SiteTask:
    """A task function with its source and where it came from (for error lines)."""

    name: str
    source: str  # the function's source, dedented: what the admin reads
    origin: str  # the file it was defined in (a notebook cell's pseudo-file)
    first_line: int  # line of ``def`` in ``origin``
    fn: TaskFn

    def where(self, line_in_source: int) -> str:
        """``file line N: code`` for a line of :attr:`source` (1-based)."""
        lines = self.source.splitlines()
        text = lines[line_in_source - 1].strip() if 0 < line_in_source <= len(lines) else ""
        return f"{self.origin} line {self.first_line + line_in_source - 1}: {text}"


def _split_spec(spec: str) -> tuple[Path, str]:
    if ":" not in spec:
        raise TaskError(
            f"task = '{spec}' must be 'path/to/file.py:function_name' (relative to the "
            "experiment file)."
        )
    file_part, name = spec.rsplit(":", 1)
    path = Path(file_part)
    if path.is_absolute() or path.exists():  # relative: to the working directory first
        return path.resolve(), name
    return REPO_ROOT / path, name  # then to the repository (the built-in examples)


def load_task(spec: str = "") -> SiteTask:
    """The task named ``path/to/file.py:function`` ("" = the built-in CNN example).

    Raises:
        TaskError: the file is missing, does not import, or lacks the function.
    """
    path, name = _split_spec(spec or BUILTIN)
    if not path.is_file():
        raise TaskError(f"Task file {path} does not exist (task = '{spec}').")
    module_name = f"site_task_{abs(hash(str(path)))}"
    loader_spec = importlib.util.spec_from_file_location(module_name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise TaskError(f"Task file {path} is not a Python file.")
    module = importlib.util.module_from_spec(loader_spec)
    try:
        loader_spec.loader.exec_module(module)
    except Exception as err:
        raise TaskError(f"Task file {path} fails to import: {type(err).__name__}: {err}") from err
    fn = getattr(module, name, None)
    if not inspect.isfunction(fn):
        found = sorted(n for n, v in vars(module).items() if inspect.isfunction(v))
        raise TaskError(f"{path} has no function '{name}' (functions there: {found}).")
    return from_function(fn)


def from_function(fn: TaskFn) -> SiteTask:
    """A task from a function object, e.g. defined in a notebook cell."""
    if not inspect.isfunction(fn):
        raise TaskError(f"A task must be a plain function, got {type(fn).__name__}.")
    try:
        lines, first = inspect.getsourcelines(fn)
    except (OSError, TypeError) as err:
        raise TaskError(
            f"Cannot read the source of {fn.__name__} ({err}); define it in a file or a "
            "notebook cell, not with exec()."
        ) from None
    origin = inspect.getsourcefile(fn) or "<unknown>"
    return SiteTask(fn.__name__, textwrap.dedent("".join(lines)), origin, first, fn)


def resolve(spec: str, fn: TaskFn | SiteTask | None = None) -> SiteTask:
    """The task of an experiment: ``fn`` when a notebook passes one, else ``spec``."""
    if isinstance(fn, SiteTask):
        return fn
    return from_function(fn) if fn is not None else load_task(spec)


def static_problems(task: SiteTask) -> list[str]:
    """Contract problems visible without running: signature, decorators, outside names."""
    tree = ast.parse(task.source)
    node = tree.body[0] if tree.body else None
    if not isinstance(node, ast.FunctionDef):
        return [f"{task.origin}: the task must be a plain 'def' function"]
    problems = []
    params = tuple(a.arg for a in node.args.args)
    if params != PARAMETERS:
        problems.append(
            f"{task.where(1)}\n  the task's parameters are {params}; the contract is {PARAMETERS}"
        )
    if node.decorator_list:
        problems.append(f"{task.where(1)}\n  remove the decorators: the site runs the bare def")
    problems += _outside_names(task, tree)
    return problems


def _outside_names(task: SiteTask, tree: ast.Module) -> list[str]:
    top = symtable.symtable(task.source, task.origin, "exec")
    # Annotations and defaults are evaluated where the def runs: count them too.
    free = (_globals_used(top) - {task.name}) - set(dir(builtins))
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in free:
            problems.append(
                f"{task.where(node.lineno)}\n  uses '{node.id}', a name from outside the "
                "function: the site runs the function alone; import or define it inside"
            )
            free.discard(node.id)
    return problems


def _globals_used(table: symtable.SymbolTable) -> set[str]:
    top_level = table.get_type() == "module"
    names = {
        s.get_name()
        for s in table.get_symbols()
        if s.is_referenced() and (s.is_global() or top_level)
    }
    for child in table.get_children():
        names |= _globals_used(child)
    return names


def import_problems(task: SiteTask, envs: Sequence[CodeEnvironment]) -> list[str]:
    """Every import of the task that a site's code environment does not provide."""
    problems = []
    for env in envs:
        for module, line in disallowed(task.source, env):
            problems.append(
                f"{task.where(line)}\n  imports '{module}', which site {env.site} does not "
                f"allow (it allows: {', '.join(sorted(env.modules))})"
            )
    return problems


def site_source(task: SiteTask, func_name: str, inputs: Sequence[str]) -> str:
    """The function a site runs: the task's source unchanged, inside a wrapper that takes the
    bound assets by name, gathers them into ``data`` and times the call."""
    data = "{" + ", ".join(f'"{name}": {name}' for name in inputs) + "}"
    return (
        f"def {func_name}({', '.join(inputs)}, weights, task, round_index, config, "
        f"{SCHEMA_ARGUMENT}):\n"
        f'    """Site task {task.name!r}, written by the researcher (unchanged below).\n'
        f"    The wrapper gathers the bound assets into `data` and times the call;\n"
        f"    `{SCHEMA_ARGUMENT}` declares what a reply may hold (weights keys, shapes,\n"
        f"    dtypes, metric names, bytes): the site's egress policy enforces it.\n"
        f'    task "{EVALUATE_THEN_TRAIN}": evaluate the weights received, then train."""\n'
        "    import time\n\n"
        f"{textwrap.indent(task.source.rstrip(), '    ')}\n\n"
        "    _started = time.perf_counter()\n"
        f"    _data = {data}\n"
        f'    if task == "{EVALUATE_THEN_TRAIN}":\n'
        f"        _scored = {task.name}(dict(_data), weights, "
        '"evaluate", round_index - 1, config)\n'
        f'        _reply = {task.name}(dict(_data), weights, "train", round_index, config)\n'
        "        if isinstance(_reply, dict) and isinstance(_scored, dict):\n"
        '            _reply = {**_reply, "eval_n_samples": _scored.get("n_samples"),\n'
        '                      "eval_metrics": _scored.get("metrics", {}),\n'
        '                      **{k: v for k, v in _scored.items() if k == "score_histograms"}}\n'
        "    else:\n"
        f"        _reply = {task.name}(_data, weights, task, round_index, config)\n"
        "    if isinstance(_reply, dict):\n"
        '        _reply = {**_reply, "compute_seconds": time.perf_counter() - _started}\n'
        "    return _reply\n"
    )


def site_function(task: SiteTask, func_name: str, inputs: Sequence[str]) -> TaskFn:
    """:func:`site_source` as a function whose source ``inspect`` can read (syft ships
    ``inspect.getsource`` of it): the text is registered in ``linecache``."""
    source = site_source(task, func_name, inputs)
    filename = f"<site-task {func_name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict[str, Any] = {"__name__": "site_task"}
    exec(compile(source, filename, "exec"), namespace)  # our own generated wrapper
    fn: TaskFn = namespace[func_name]
    return fn
