"""The site-task contract: loading a task, the static checks, the local check on mock data
in a separate process (each wrong task stopped with the problem and its line), and the
declared output schema it derives."""

from __future__ import annotations

import inspect
import textwrap
from pathlib import Path

import numpy as np
import pytest

from fedcommon.code_env import DEFAULT_ALLOWED, CodeEnvironment
from fedcommon.task_schema import OutputSchema
from researcher.errors import TaskError
from researcher.task import (
    from_function,
    import_problems,
    load_task,
    site_function,
    static_problems,
)
from researcher.taskcheck import check_task

# A numpy-only task (fast in the child): a linear model, trained by one gradient step.
GOOD = """
def linear(data, weights, task, round_index, config):
    import numpy as np

    w = np.asarray(weights.get("w", np.zeros(4)), dtype=np.float32)
    if task == "init":
        return {"weights": {"w": np.zeros(4, dtype=np.float32)}, "n_samples": 0, "metrics": {}}
    x = np.asarray(data["images"], dtype=np.float32).reshape(len(data["images"]), -1)[:, :4]
    if task == "train":
        w = w - 0.01 * x.mean(axis=0)
        return {"weights": {"w": w.astype(np.float32)}, "n_samples": len(x), "metrics": {}}
    score = float((x @ w).mean())
    return {"n_samples": len(x), "metrics": {"score": score}}
"""
MOCKS = {
    "north": {"images": np.ones((6, 1, 4, 4), np.uint8), "labels": np.zeros(6, np.int64)},
    "south": {"images": np.ones((5, 1, 4, 4), np.uint8), "labels": np.ones(5, np.int64)},
}


def write_task(tmp_path: Path, source: str, name: str = "linear") -> str:
    path = tmp_path / "my_task.py"
    path.write_text(textwrap.dedent(source).lstrip("\n"))
    return f"{path}:{name}"


def line_of(spec: str, text: str) -> int:
    lines = Path(spec.rsplit(":", 1)[0]).read_text().splitlines()
    return next(i for i, line in enumerate(lines, start=1) if text in line)


def test_a_task_loads_from_a_file_and_names_its_lines(tmp_path: Path) -> None:
    spec = write_task(tmp_path, GOOD)

    task = load_task(spec)

    assert (task.name, task.first_line) == ("linear", 1)
    assert task.where(4).endswith(
        'my_task.py line 4: w = np.asarray(weights.get("w", np.zeros(4)), dtype=np.float32)'
    )
    assert static_problems(task) == []


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param("no_colon.py", "must be 'path/to/file.py:function_name'", id="no-function"),
        pytest.param("missing.py:fn", "does not exist", id="missing-file"),
        pytest.param(
            "{good}:other",
            r"has no function 'other' \(functions there: \['linear'\]\)",
            id="missing-function",
        ),
    ],
)
def test_a_task_that_cannot_be_loaded_says_why(tmp_path: Path, spec: str, message: str) -> None:
    good = write_task(tmp_path, GOOD).rsplit(":", 1)[0]

    with pytest.raises(TaskError, match=message):
        load_task(spec.format(good=good))


def test_a_name_from_outside_the_function_is_found_with_its_line(tmp_path: Path) -> None:
    spec = write_task(
        tmp_path, "import numpy as np\n\n" + GOOD.replace("    import numpy as np\n", "")
    )

    problems = static_problems(load_task(spec))

    assert len(problems) == 1
    assert f"line {line_of(spec, 'w = np.asarray')}" in problems[0] and "uses 'np'" in problems[0]


def test_wrong_parameters_are_a_contract_problem(tmp_path: Path) -> None:
    spec = write_task(tmp_path, GOOD.replace("data, weights,", "images, weights,"))

    assert "the contract is ('data', 'weights'" in static_problems(load_task(spec))[0]


def test_an_import_the_site_does_not_allow_is_named_with_site_and_line(tmp_path: Path) -> None:
    spec = write_task(
        tmp_path, GOOD.replace("import numpy as np", "import numpy as np\n    import scipy.ndimage")
    )
    envs = [CodeEnvironment(site="north", modules=dict.fromkeys(DEFAULT_ALLOWED, "x"))]

    problems = import_problems(load_task(spec), envs)

    assert len(problems) == 1
    assert f"line {line_of(spec, 'import scipy')}" in problems[0]
    assert "imports 'scipy.ndimage', which site north does not allow" in problems[0]


def test_a_good_task_passes_and_declares_its_output_schema(tmp_path: Path) -> None:
    task = load_task(write_task(tmp_path, GOOD))

    schema, metrics = check_task(task, MOCKS, {"seed": 0})

    assert schema.weights["w"].shape == (4,) and schema.weights["w"].dtype == "float32"
    assert schema.metrics == ("score",) and schema.max_bytes >= 16
    assert set(metrics) == {"north", "south"}
    assert schema.problems({"weights": {"w": np.zeros(4, np.float32)}, "n_samples": 3,
                            "metrics": {}}) == []  # fmt: skip
    wrong = {"weights": {"w": np.zeros(5, np.float32)}, "n_samples": 3, "metrics": {"x": 1.0}}
    assert schema.problems(wrong) == [
        "weight 'w' has shape (5,), declared (4,)",
        "metrics ['x'] are not declared (declared: ['score'])",
    ]


@pytest.mark.parametrize(
    ("old", "new", "step", "problem", "line_text"),
    [
        pytest.param(
            'return {"weights": {"w": w.astype(np.float32)}, "n_samples": len(x), "metrics": {}}',
            "return [w]", "train", "the task returned a list, not a dict", "return [w]",
            id="bad-return-type",
        ),
        pytest.param(
            "w = w - 0.01 * x.mean(axis=0)", "w = np.zeros(3)", "train",
            r"weight 'w' has shape \(3,\) after train but \(4,\) after init",
            '"n_samples": len(x), "metrics": {}}', id="changing-weight-shape",
        ),
        pytest.param(
            "w = w - 0.01 * x.mean(axis=0)", "w = w / 0 if False else 1 // 0", "train",
            "ZeroDivisionError: integer division or modulo by zero", "1 // 0",
            id="exception-in-train",
        ),
        pytest.param(
            "score = float((x @ w).mean())", "score = float('inf')", "evaluate",
            r"metric 'score' is not finite \(inf\)", "return {\"n_samples\": len(x), \"metrics\"",
            id="non-finite-metric",
        ),
        pytest.param(
            'return {"n_samples": len(x), "metrics": {"score": score}}',
            'return {"n_samples": 2.5, "metrics": {"score": score}}', "evaluate",
            "'n_samples' must be an int, got float", '"n_samples": 2.5', id="float-count",
        ),
    ],
)  # fmt: skip
def test_a_wrong_task_is_stopped_with_the_problem_and_its_line(
    tmp_path: Path, old: str, new: str, step: str, problem: str, line_text: str
) -> None:
    assert old in GOOD
    spec = write_task(tmp_path, GOOD.replace(old, new))

    with pytest.raises(TaskError) as caught:
        check_task(load_task(spec), MOCKS, {"seed": 0})

    message = str(caught.value)
    assert f"failed on the mock data of site north ('{step}' step)" in message
    assert __import__("re").search(problem, message), message
    assert f"my_task.py line {line_of(spec, line_text)}:" in message


def test_a_notebook_function_is_a_task_and_its_site_function_has_source() -> None:
    def cell_task(data, weights, task, round_index, config):  # type: ignore[no-untyped-def]
        import numpy as np

        return {"weights": {"b": np.zeros(2, np.float32)}, "n_samples": 0, "metrics": {}}

    task = from_function(cell_task)
    shipped = site_function(task, "fl_cell_1", ["images", "labels"])

    source = inspect.getsource(shipped)
    assert source.startswith(
        "def fl_cell_1(images, labels, weights, task, round_index, config, output_schema):"
    )
    assert "    def cell_task(data, weights, task, round_index, config):" in source
    reply = shipped(np.zeros(2), np.zeros(2), {}, "init", 0, {}, {})
    assert set(reply) == {"weights", "n_samples", "metrics", "compute_seconds"}
    assert OutputSchema.derive(reply["weights"], set()).weights["b"].shape == (2,)
