"""The experiment's [privacy] table: a DP model is required before anything is submitted."""

from __future__ import annotations

from pathlib import Path

import pytest

from researcher.config import load_experiment
from researcher.errors import ConfigError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def write(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "exp.toml"
    path.write_text(f'name = "dp"\ndataset = "x"\n{extra}\n[privacy]\ntarget_epsilon = 3.0\n')
    return path


def test_the_dp_example_resolves_its_task_beside_the_file() -> None:
    exp = load_experiment(EXAMPLES / "experiment_dp.toml")

    assert exp.task == f"{(EXAMPLES / 'tasks' / 'dp_cnn.py').resolve()}:dp_cnn"
    assert exp.privacy is not None and exp.privacy.delta is None and exp.model.norm == "group"


def test_batch_norm_is_refused_with_dp_before_submission(tmp_path: Path) -> None:
    path = write(tmp_path, f'task = "{EXAMPLES}/tasks/dp_cnn.py:dp_cnn"')

    with pytest.raises(ConfigError, match=r'batch norm is not DP-compatible.*norm = "group"'):
        load_experiment(path)


def test_dp_needs_a_dp_aware_task(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[privacy\] needs a DP-aware site task"):
        load_experiment(write(tmp_path, ""))
