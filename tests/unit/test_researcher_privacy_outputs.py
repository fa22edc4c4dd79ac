"""A DP run writes the epsilon spent after each round to metrics.csv and privacy.png."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fedcommon.privacy import PrivacySettings
from researcher.config import ExperimentConfig, ModelConfig
from researcher.coordinator import Coordinator
from researcher.privacy import config_with_plan, plan_for
from researcher.site import Reply
from researcher.tasks import initial_weights, load_task, site_function
from researcher.toydata import site_split

TASK = Path(__file__).resolve().parents[2] / "examples" / "tasks" / "dp_cnn.py"


@dataclass
class DpSite:
    name: str
    data: dict[str, Any]
    config: dict[str, Any]
    step: Any

    def train(self, weights: Any, round_index: int) -> Reply:
        return Reply.from_plain(self.step(**self.data, weights=weights, task="train",
                                          round_index=round_index, config=self.config))  # fmt: skip

    def evaluate(self, weights: Any, round_index: int) -> Reply:
        return Reply.from_plain(self.step(**self.data, weights=weights, task="evaluate",
                                          round_index=round_index, config=self.config))  # fmt: skip


def test_metrics_csv_holds_the_declared_epsilon_of_every_round(tmp_path: Path) -> None:
    exp = ExperimentConfig(
        name="dp_out", dataset="toy", task=f"{TASK}:dp_cnn", rounds=2, spare_executions=0,
        privacy=PrivacySettings(target_epsilon=4.0, delta=1e-3), batch_size=8, min_sites=2,
        model=ModelConfig(width=4, depth=2, image_size=16, norm="group"),
    )  # fmt: skip
    step = site_function(load_task(exp.task or ""))
    declared = plan_for(exp, 32)
    sites = [DpSite(f"s{i}", site_split(32, 16, 16, seed=i), config_with_plan(exp, declared), step)
             for i in range(2)]  # fmt: skip

    Coordinator(sites, exp, tmp_path).run(initial_weights(step, exp.site_config()))

    with (tmp_path / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    trained = {(r["site"], int(r["round"])): float(r["epsilon"]) for r in rows
               if r["phase"] == "train"}  # fmt: skip
    expected = {(s, k): declared.epsilon_by_round[k - 1] for s in ("s0", "s1") for k in (1, 2)}
    assert trained == pytest.approx(expected)
    assert (tmp_path / "privacy.png").stat().st_size > 1000
