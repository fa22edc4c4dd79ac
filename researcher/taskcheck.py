"""The local contract check: run a task's ``init``, one tiny ``train`` and ``evaluate`` on each
site's mock data, in a separate Python process, before anything is submitted.

The child gets only the task's source (so a name from outside the function fails here as it
would at the site), compiled under its own file name and line numbers, so an error names the
line in the researcher's file or notebook cell. It checks every reply against the contract
(:mod:`fedcommon.task_schema`): weights keys / shapes / dtypes stable between ``init`` and
``train``, float32, finite metrics, an int sample count. On success it derives the declared
output schema (weights from ``init``, metric names from ``train`` / ``evaluate``).
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from fedcommon.task_schema import OutputSchema, TaskStep, reply_problems
from researcher.errors import TaskError
from researcher.task import SiteTask

SPEC_FILE, RESULT_FILE = "spec.pkl", "result.json"
MOCK_ROWS = 64  # a tiny round: at most this many mock samples per asset


def check_task(
    task: SiteTask,
    mocks: Mapping[str, Mapping[str, Any]],
    config: Mapping[str, Any],
    timeout_s: float = 600.0,
) -> tuple[OutputSchema, dict[str, dict[str, float]]]:
    """Check ``task`` on each site's mock data (``{site: {asset: array}}``) in a child
    process. Returns the declared output schema and each site's mock evaluation metrics.

    Raises:
        TaskError: naming the site, the step, the problem and the line of the task.
    """
    small = {site: {k: _head(v) for k, v in data.items()} for site, data in mocks.items()}
    tiny = {**config, "local_epochs": 1} if "local_epochs" in config else dict(config)
    spec = {"name": task.name, "source": task.source, "origin": task.origin,
            "first_line": task.first_line, "config": tiny, "mocks": small}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="taskcheck-") as scratch:
        with (Path(scratch) / SPEC_FILE).open("wb") as handle:
            pickle.dump(spec, handle)
        result = _run_child(Path(scratch), timeout_s)
    if not result["ok"]:
        raise TaskError(_message(task, result))
    return OutputSchema.model_validate(result["schema"]), result["metrics"]


def _head(value: Any) -> Any:
    return value[:MOCK_ROWS] if hasattr(value, "__getitem__") and hasattr(value, "shape") else value


def _run_child(scratch: Path, timeout_s: float) -> dict[str, Any]:
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "researcher.taskcheck", str(scratch)],
            cwd=scratch, capture_output=True, text=True, timeout=timeout_s,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return {"ok": False, "site": "", "step": "", "line": 0,
                "problem": f"the check did not finish within {timeout_s:.0f} s"}  # fmt: skip
    path = scratch / RESULT_FILE
    if not path.exists():
        tail = " | ".join((proc.stderr or "").strip().splitlines()[-3:])
        problem = f"the check process exited with code {proc.returncode}: {tail}"
        return {"ok": False, "site": "", "step": "", "line": 0, "problem": problem}
    result: dict[str, Any] = json.loads(path.read_text())
    return result


def _message(task: SiteTask, result: Mapping[str, Any]) -> str:
    where = f"\n  at {task.where(int(result['line']))}" if result.get("line") else ""
    site = f" of site {result['site']}" if result.get("site") else ""
    step = f" ('{result['step']}' step)" if result.get("step") else ""
    return (
        f"The task {task.name} failed on the mock data{site}{step}: {result['problem']}"
        f"{where}\nFix the task and submit again; nothing was submitted."
    )


class _Failure(Exception):
    def __init__(self, step: str, problem: str, line: int) -> None:
        super().__init__(problem)
        self.step, self.problem, self.line = step, problem, line


class _Runner:
    """Runs the task (in the child) and remembers the line of its last ``return``."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        namespace: dict[str, Any] = {"__name__": "task_check"}
        self.origin = str(spec["origin"])
        padded = "\n" * (int(spec["first_line"]) - 1) + spec["source"]
        exec(compile(padded, self.origin, "exec"), namespace)
        self.fn = namespace[spec["name"]]
        self.offset = int(spec["first_line"]) - 1
        self.config = spec["config"]
        self.return_line = 0

    def _profile(self, frame: Any, event: str, _arg: Any) -> None:
        if event == "return" and frame.f_code is self.fn.__code__:
            self.return_line = frame.f_lineno - self.offset

    def call(self, step: str, data: Any, weights: Any, round_index: int) -> Any:
        self.return_line = 0
        sys.setprofile(self._profile)
        try:
            return self.fn(data, weights, step, round_index, self.config)
        except Exception as err:  # noqa: BLE001 - any failure of the task is the finding
            raise _Failure(step, f"{type(err).__name__}: {err}", self._line(err)) from None
        finally:
            sys.setprofile(None)

    def _line(self, err: BaseException) -> int:
        frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename == self.origin]
        return (frames[-1].lineno or 0) - self.offset if frames else 0

    def checked(self, step: str, data: Any, weights: Any, round_index: int) -> Any:
        reply = self.call(step, data, weights, round_index)
        problems = reply_problems(reply, step)
        if problems:
            raise _Failure(step, "; ".join(problems), self.return_line)
        return reply


def _same_layout(step: str, got: Mapping[str, Any], init: Mapping[str, Any], line: int) -> None:
    for name in sorted(set(init) | set(got)):
        if name not in got or name not in init:
            what = "missing after train" if name not in got else "new after train"
            raise _Failure(step, f"weight {name!r} is {what} (init and train must agree)", line)
        if got[name].shape != init[name].shape:
            raise _Failure(step, f"weight {name!r} has shape {got[name].shape} after train "
                           f"but {init[name].shape} after init", line)  # fmt: skip


def _check_site(runner: _Runner, data: Mapping[str, Any]) -> tuple[Any, set[str], dict[str, float]]:
    init = runner.checked(TaskStep.INIT, {}, {}, 0)
    trained = runner.checked(TaskStep.TRAIN, dict(data), init["weights"], 1)
    _same_layout(TaskStep.TRAIN, trained["weights"], init["weights"], runner.return_line)
    scored = runner.checked(TaskStep.EVALUATE, dict(data), trained["weights"], 1)
    names = set(trained.get("metrics", {})) | set(scored.get("metrics", {}))
    return init["weights"], names, {k: float(v) for k, v in scored.get("metrics", {}).items()}


def _child(scratch: Path) -> None:
    with (scratch / SPEC_FILE).open("rb") as handle:
        spec = pickle.load(handle)  # written by our parent process just before
    site = ""
    try:
        runner = _Runner(spec)
        weights, names, metrics = None, set(), {}
        for site, data in spec["mocks"].items():
            init, found, metrics[site] = _check_site(runner, data)
            weights = weights if weights is not None else init
            names |= found
        schema = OutputSchema.derive(weights or {}, names)
        result: dict[str, Any] = {"ok": True, "schema": schema.model_dump(mode="json"),
                                  "metrics": metrics}  # fmt: skip
    except _Failure as fail:
        result = {"ok": False, "site": site, "step": fail.step, "problem": fail.problem,
                  "line": fail.line}  # fmt: skip
    except Exception as err:  # noqa: BLE001 - e.g. the source does not compile
        line = max(0, (getattr(err, "lineno", 0) or 0) - int(spec["first_line"]) + 1)
        result = {"ok": False, "site": site, "step": "", "line": line,
                  "problem": f"{type(err).__name__}: {err}"}  # fmt: skip
    (scratch / RESULT_FILE).write_text(json.dumps(result, default=_plain))


def _plain(value: Any) -> Any:
    return value.tolist() if isinstance(value, np.ndarray | np.generic) else str(value)


if __name__ == "__main__":
    _child(Path(sys.argv[1]))
