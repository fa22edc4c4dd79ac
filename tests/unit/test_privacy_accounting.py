"""The declared privacy cost is what Opacus' accountant reports for the same training."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from opacus.accountants import create_accountant

from fedcommon.privacy import PrivacyError, PrivacySettings, check_plan, plan
from researcher.toydata import site_split

TASK_FILE = Path(__file__).resolve().parents[2] / "examples" / "tasks" / "dp_cnn.py"


def dp_cnn() -> Any:
    spec = importlib.util.spec_from_file_location("dp_cnn_task", TASK_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dp_cnn


def config(privacy: dict[str, Any] | None, norm: str = "group") -> dict[str, Any]:
    model = {"width": 4, "depth": 2, "num_classes": 2, "image_size": 16, "norm": norm}
    out: dict[str, Any] = {"model": model, "optimizer": "sgd", "lr": 0.05, "batch_size": 8,
                           "local_epochs": 1, "seed": 0}  # fmt: skip
    return {**out, "privacy": privacy} if privacy else out


@pytest.mark.parametrize("accountant", ["rdp", "prv"])
def test_declared_epsilon_equals_the_accountant_after_the_same_steps(accountant: str) -> None:
    settings = PrivacySettings(target_epsilon=3.0, delta=1e-3, accountant=accountant)  # type: ignore[arg-type]

    declared = plan(settings, n=40, batch_size=8, local_epochs=2, rounds=3)

    stepped = create_accountant(mechanism=accountant)
    for _ in range(declared.steps_per_round * declared.rounds):
        stepped.step(noise_multiplier=declared.noise_multiplier, sample_rate=declared.sample_rate)
    assert declared.epsilon == pytest.approx(stepped.get_epsilon(delta=1e-3), rel=1e-6)
    assert 2.9 <= declared.epsilon <= 3.0  # the target is reached, not exceeded
    assert declared.steps_per_round == 2 * 5 and declared.sample_rate == pytest.approx(1 / 5)


def test_the_task_spends_exactly_the_declared_epsilon_per_round() -> None:
    data = site_split(40, 20, 16, seed=1)
    declared = plan(PrivacySettings(target_epsilon=4.0, delta=1e-3), 40, 8, 1, 2)
    task, cfg = dp_cnn(), config(declared.model_dump())
    weights = task(data, {}, "init", 0, cfg)["weights"]

    reported = []
    for round_index in (1, 2):
        out = task(data, weights, "train", round_index, cfg)
        weights = out["weights"]
        assert out["metrics"]["dp_steps"] == declared.steps_per_round
        reported.append(out["metrics"]["epsilon"])

    assert reported == pytest.approx(list(declared.epsilon_by_round), rel=1e-9)
    assert set(weights) == set(task(data, {}, "init", 0, cfg)["weights"])


def test_a_batch_norm_model_is_refused_before_it_trains_with_dp() -> None:
    data = site_split(16, 8, 16, seed=2)
    declared = plan(PrivacySettings(target_epsilon=8.0, delta=1e-3), 16, 8, 1, 1)

    with pytest.raises(ValueError, match="not DP-compatible: BatchNorm"):
        dp_cnn()(data, {}, "train", 1, config(declared.model_dump(), norm="batch"))


def test_the_site_recomputes_a_declared_plan_and_rejects_a_forged_one() -> None:
    declared = plan(PrivacySettings(target_epsilon=2.0, delta=1e-3), 40, 8, 1, 2)
    check_plan(declared, n=40)
    forged = declared.model_copy(update={"epsilon_by_round": (0.1, 0.2), "epsilon": 0.2})

    with pytest.raises(PrivacyError, match="does not match the accountant"):
        check_plan(forged, n=40)
    with pytest.raises(PrivacyError, match="do not fit this site's 400 training samples"):
        check_plan(declared, n=400)
