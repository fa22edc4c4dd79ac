"""FedAvg vs centralised vs each site alone on generated data, IID and non-IID.

Three sites hold synthetic images (a faint blob = class 1). IID: every site has half
positives. Non-IID: label skew, 10 % / 50 % / 90 % positives. Every method gets the same
total local epochs (rounds x local_epochs) and is scored on the pooled validation splits of
all sites. The site function and the coordinator are the real ones, over in-memory sites.

    .venv/bin/python -m benchmarks.fl_quality
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from researcher.config import ExperimentConfig, ModelConfig
from researcher.coordinator import Coordinator
from researcher.inmemory import InMemorySite, initial_weights
from researcher.site_code import federated_step
from researcher.toydata import site_split

SIZE, N_TRAIN, N_VAL, ROUNDS, LOCAL_EPOCHS, CONTRAST = 32, 128, 64, 10, 2, 30.0
SKEWS = {"iid": (0.5, 0.5, 0.5), "noniid": (0.1, 0.5, 0.9)}


def experiment(algorithm: str = "fedavg", mu: float = 0.0, **overrides: Any) -> ExperimentConfig:
    settings: dict[str, Any] = {"rounds": ROUNDS, "local_epochs": LOCAL_EPOCHS, "lr": 0.003}
    settings.update(batch_size=16, algorithm=algorithm, mu=mu, min_sites=3, **overrides)
    model = ModelConfig(width=8, depth=2, image_size=SIZE)
    return ExperimentConfig(name="quality", dataset="synthetic", model=model, **settings)


def make_data(skew: tuple[float, ...]) -> list[dict[str, Any]]:
    return [
        site_split(N_TRAIN, N_VAL, SIZE, seed=7 * i + 1, positive_rate=p, contrast=CONTRAST)
        for i, p in enumerate(skew)
    ]


def pooled(parts: list[dict[str, Any]]) -> dict[str, Any]:
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def federated(parts: list[dict[str, Any]], exp: ExperimentConfig) -> dict[str, float]:
    sites = [InMemorySite(f"s{i}", **p, config=exp.site_config()) for i, p in enumerate(parts)]
    with tempfile.TemporaryDirectory() as out:
        summary = Coordinator(sites, exp, Path(out)).run(initial_weights(exp.site_config()))
    metrics: dict[str, float] = summary["final_global_metrics"]
    return metrics


def alone(train: dict[str, Any], val: dict[str, Any]) -> dict[str, float]:
    """One process trains on ``train`` for all epochs at once; scored on ``val``."""
    cfg = experiment(local_epochs=ROUNDS * LOCAL_EPOCHS, rounds=1).site_config()
    data = {"images": train["images"], "labels": train["labels"]}
    data |= {"val_images": val["val_images"], "val_labels": val["val_labels"]}
    weights = federated_step(**data, weights={}, task="train", round_index=1, config=cfg)["weights"]
    metrics: dict[str, float] = federated_step(
        **data, weights=weights, task="evaluate", round_index=1, config=cfg
    )["metrics"]
    return metrics


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    started = time.perf_counter()
    epochs = ROUNDS * LOCAL_EPOCHS
    print(f"setup: 3 sites x {N_TRAIN} train / {N_VAL} val, {SIZE}px, {ROUNDS} rounds x "
          f"{LOCAL_EPOCHS} local epochs = {epochs} epochs for every method")  # fmt: skip
    for setting, skew in SKEWS.items():
        parts = make_data(skew)
        everything = pooled(parts)
        central = alone(everything, everything)
        fedavg = federated(parts, experiment())
        print(f"central_acc_{setting}={central['accuracy']:.3f}")
        print(f"fedavg_acc_{setting}={fedavg['accuracy']:.3f}")
        print(f"fedavg_over_central_{setting}={fedavg['accuracy'] / central['accuracy']:.3f}")
        print(f"fedavg_auc_over_central_{setting}={fedavg['auc'] / central['auc']:.3f}")
        if setting == "noniid":
            prox = federated(parts, experiment("fedprox", mu=0.01))
            print(f"fedprox_over_central_{setting}={prox['accuracy'] / central['accuracy']:.3f}")
        for index, part in enumerate(parts):
            local = alone(part, everything)
            print(f"local_only_acc_{setting}_site{index}={local['accuracy']:.3f}")
            print(f"local_only_over_central_{setting}_site{index}="
                  f"{local['accuracy'] / central['accuracy']:.3f}")  # fmt: skip
    print(f"wall_seconds={time.perf_counter() - started:.1f}")


if __name__ == "__main__":
    main()
