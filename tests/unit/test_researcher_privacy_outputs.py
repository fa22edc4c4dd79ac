"""A DP run writes the epsilon spent after each round to metrics.csv and privacy.png."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from fedcommon.privacy import PrivacySettings
from researcher.config import ExperimentConfig, ModelConfig
from researcher.coordinator import Coordinator
from researcher.inmemory import InMemorySite, initial_weights
from researcher.privacy import config_with_plan, plan_for
from researcher.task import load_task
from researcher.toydata import site_split

TASK = Path(__file__).resolve().parents[2] / "examples" / "tasks" / "dp_cnn.py"


def test_metrics_csv_holds_the_declared_epsilon_of_every_round(tmp_path: Path) -> None:
    exp = ExperimentConfig(
        name="dp_out", dataset="toy", task=f"{TASK}:dp_cnn", rounds=2, spare_executions=0,
        privacy=PrivacySettings(target_epsilon=4.0, delta=1e-3), batch_size=8, min_sites=2,
        model=ModelConfig(width=4, depth=2, image_size=16, norm="group"),
    )  # fmt: skip
    task = load_task(exp.task)
    declared = plan_for(exp, 32)
    sites = [InMemorySite(f"s{i}", **site_split(32, 16, 16, seed=i),
                          config=config_with_plan(exp, declared), task=task)
             for i in range(2)]  # fmt: skip

    Coordinator(sites, exp, tmp_path).run(initial_weights(exp.site_config(), task))

    with (tmp_path / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    trained = {(r["site"], int(r["round"])): float(r["epsilon"]) for r in rows
               if r["phase"] == "train"}  # fmt: skip
    expected = {(s, k): declared.epsilon_by_round[k - 1] for s in ("s0", "s1") for k in (1, 2)}
    assert trained == pytest.approx(expected)
    assert (tmp_path / "privacy.png").stat().st_size > 1000
