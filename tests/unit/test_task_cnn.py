"""The built-in CNN task (examples/tasks/cnn.py) run locally: training learns, FedProx pulls
towards the global model, evaluation metrics are right, and the source is self-contained."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from researcher.config import ExperimentConfig, ModelConfig
from researcher.inmemory import initial_weights
from researcher.task import load_task
from researcher.toydata import site_split

CNN = load_task()

SIZE = 16


def config(**overrides: object) -> dict:
    settings: dict = {"lr": 0.01, "batch_size": 16, "local_epochs": 2, **overrides}
    model = ModelConfig(width=8, depth=2, image_size=SIZE)
    exp = ExperimentConfig(name="unit", dataset="toy", model=model, **settings)
    return exp.site_config()


def step(data: dict, weights: dict, task: str, cfg: dict, round_index: int = 1) -> dict:
    return CNN.fn(data, weights, task, round_index, cfg)


BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


def drift(before: dict, after: dict) -> float:
    """Squared distance over trainable parameters (the FedProx term does not touch the
    batch-norm running statistics, which follow the data)."""
    return float(
        sum(np.sum((after[k] - before[k]) ** 2) for k in before if not k.endswith(BUFFERS))
    )


def test_training_returns_plain_float32_weights_and_learns() -> None:
    data, cfg = site_split(80, 40, SIZE, seed=1), config(local_epochs=15, lr=0.003)
    start = initial_weights(cfg)

    trained = step(data, start, "train", cfg)
    before, after = (
        step(data, start, "evaluate", cfg),
        step(data, trained["weights"], "evaluate", cfg),
    )

    assert trained["n_samples"] == 80 and isinstance(trained["n_samples"], int)
    assert all(
        v.dtype == np.float32 and isinstance(v, np.ndarray) for v in trained["weights"].values()
    )
    assert after["metrics"]["loss"] < before["metrics"]["loss"]
    assert after["metrics"]["accuracy"] > 0.7


def test_fedprox_term_keeps_weights_closer_to_the_global_model() -> None:
    data = site_split(64, 16, SIZE, seed=2)
    start = initial_weights(config())

    plain = step(data, start, "train", config(algorithm="fedavg"))["weights"]
    prox = step(data, start, "train", config(algorithm="fedprox", mu=5.0))["weights"]

    assert drift(start, prox) < 0.8 * drift(start, plain)


def test_fedprox_with_mu_zero_equals_fedavg() -> None:
    data = site_split(32, 8, SIZE, seed=3)
    start = initial_weights(config())

    plain = step(data, start, "train", config(algorithm="fedavg"))["weights"]
    prox = step(data, start, "train", config(algorithm="fedprox", mu=0.0))["weights"]

    assert drift(plain, prox) == pytest.approx(0.0)


def test_auc_and_accuracy_of_a_perfect_model_are_one() -> None:
    data, cfg = site_split(96, 60, SIZE, seed=4), config(local_epochs=25)

    trained = step(data, initial_weights(cfg), "train", cfg)
    metrics = step(data, trained["weights"], "evaluate", cfg)["metrics"]

    assert metrics["auc"] >= metrics["accuracy"] - 0.1
    assert 0.9 <= metrics["auc"] <= 1.0


def test_wrong_image_size_fails_with_the_shape() -> None:
    data = site_split(8, 4, SIZE * 2, seed=5)

    with pytest.raises(ValueError, match=f"N x 1 x {SIZE} x {SIZE}"):
        step(data, {}, "train", config())


def test_source_is_self_contained_for_the_site() -> None:
    source = inspect.getsource(CNN.fn)
    namespace: dict = {}
    exec(compile(source, "<site>", "exec"), namespace)  # no module globals, as at the site
    data = site_split(16, 8, SIZE, seed=6)

    reply = namespace["cnn_task"](data, {}, "evaluate", 0, config())

    assert set(reply) == {"n_samples", "metrics", "score_histograms"}


def test_cosine_schedule_makes_the_last_round_take_small_steps() -> None:
    # The same weights and data: the run's last round (lr near 0) moves the model far less
    # than its first; with a constant lr both rounds move it about as much.
    data, start = site_split(48, 8, SIZE, seed=7), initial_weights(config())
    cosine, constant = (
        config(lr_schedule="cosine", rounds=4),
        config(lr_schedule="constant", rounds=4),
    )

    def moved(cfg: dict, round_index: int) -> float:
        return drift(start, step(data, start, "train", cfg, round_index)["weights"])

    assert moved(cosine, 4) < 0.25 * moved(cosine, 1)
    assert moved(constant, 4) > 0.5 * moved(constant, 1)
