"""Shared pieces of the federated-quality benchmarks (fl_quality, fl_sweep): generated
hospital exports read by the real ingestion pipeline, and the real site function and
coordinator over in-memory sites.

Three sites per setting are written by ``datasite.synth`` (real DICOM files + labels.csv,
cached under out/bench-fl/ and reused) and ingested at 64 px. IID: the "balanced" preset at
prevalence 0.5 everywhere, different seeds. Non-IID: three vendors (fuji-cr / ge-dx /
philips-dx) with prevalence 0.2 / 0.5 / 0.8. Every method is scored on the pooled validation
data of the three sites: each site's validation split (20% of its patients) plus, with
``test_n`` > 0, a held-out export of ``test_n`` more files per site (same preset, another seed,
never trained on): 240 validation images put one standard error of an accuracy near 0.8 at
0.026, too coarse for a 0.97 ratio target.
"""

from __future__ import annotations

import csv
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from researcher.config import ExperimentConfig, ModelConfig
from researcher.coordinator import Coordinator
from researcher.inmemory import InMemorySite, initial_weights
from researcher.task import load_task

CACHE = Path("out/bench-fl")
federated_step = load_task().fn  # the built-in CNN task (examples/tasks/cnn.py)
KEY = b"fl-quality-benchmark-key-0123456789"
ROWS, SIZE, VAL_FRACTION = 256, 64, 0.2
HELD_OUT_SEED = 10_000  # a site's held-out export uses its seed + this (other patients, images)
SIZE_DEFAULT = SIZE
# The benchmark's model and training settings (the product's defaults are chosen from the
# sweep in benchmarks/fl_sweep.py; these are what both benchmarks start from).
MODEL: dict[str, Any] = {"width": 8, "depth": 4, "pool_grid": 2}
# 30 rounds x 2 local epochs with a cosine lr: FedAvg reached 0.972 (IID) / 0.985 (non-IID)
# of centralised accuracy at 60 epochs each, where 10 rounds (20 epochs) gave 0.876 / 0.873
# (benchmarks/fl_quality.py and fl_sweep.py, 16-core run in the closing note of issue 14).
DEFAULTS: dict[str, Any] = {"lr": 2e-3, "lr_schedule": "cosine", "batch_size": 32,
                            "local_epochs": 2, "rounds": 30}  # fmt: skip
# setting -> one (preset, prevalence, seed) per site
SETTINGS: dict[str, tuple[tuple[str, float, int], ...]] = {
    "iid": (("balanced", 0.5, 101), ("balanced", 0.5, 102), ("balanced", 0.5, 103)),
    "noniid": (("fuji-cr", 0.2, 201), ("ge-dx", 0.5, 202), ("philips-dx", 0.8, 203)),
    # The demo's three hospitals (demo/steps.py HOSPITALS, presets' own prevalence).
    "demo": (("fuji-cr", 0.3, 1), ("ge-dx", 0.5, 2), ("agfa-cr", 0.5, 3)),
}
Data = dict[str, Any]  # images, labels, val_images, val_labels


def experiment(algorithm: str = "fedavg", **overrides: Any) -> ExperimentConfig:
    """The benchmark's experiment: the product's defaults unless ``DEFAULTS`` or
    ``overrides`` say otherwise (3 sites must all train every round)."""
    settings: dict[str, Any] = {**DEFAULTS, "algorithm": algorithm, "min_sites": 3, **overrides}
    model = ModelConfig(**{"image_size": SIZE, **MODEL, **settings.pop("model", {})})
    return ExperimentConfig(name="quality", dataset="synthetic", model=model, **settings)


def identity(setting: str, index: int) -> tuple[str, bytes]:
    """The site name written into the export and the pseudonym key of its ingestion. The
    "demo" setting uses the demo's own (``demo/steps.py``): the key decides the patient-level
    train / validation split, so this is what makes the in-memory run train and score on the
    very splits the demo's datasites hold."""
    if setting != "demo":
        return f"{setting}{index}", KEY
    from demo.steps import HOSPITALS, demo_key

    name = HOSPITALS[index].name
    return name, bytes.fromhex(demo_key(name))


def cached_export(
    setting: str, index: int, shift: str, prevalence: float, seed: int, n: int
) -> Path:
    """The site's DICOM export under out/bench-fl/, generated once per configuration."""
    name, _ = identity(setting, index)
    tag = f"-{name}" if setting == "demo" else ""  # the demo's exports carry its names
    out = CACHE / f"{setting}-site{index}-{shift}-p{prevalence}-s{seed}-n{n}-r{ROWS}{tag}"
    labels = out / "labels.csv"
    if labels.exists():
        with labels.open(newline="") as handle:
            if sum(1 for _ in csv.reader(handle)) == n + 1:
                return out
    from datasite.synth import SynthConfig, generate_site, preset

    started = time.perf_counter()
    shifted = preset(shift, prevalence=prevalence)
    generate_site(SynthConfig(out, name, n, seed, shifted, rows=ROWS))
    print(f"generated {out} in {time.perf_counter() - started:.1f}s")
    return out


def ingest(source: Path, key: bytes = KEY, val_fraction: float = VAL_FRACTION) -> Data:
    """Private train / val arrays exactly as a site's ingestion would upload them, cached
    as ``arrays-<size>px[-v<fraction>].npz`` beside the export (reused on a machine without
    pydicom). With ``val_fraction`` 0 every file is in "images" / "labels"."""
    tag = "" if val_fraction == VAL_FRACTION else f"-v{val_fraction}"
    cached = source / f"arrays-{SIZE}px{tag}.npz"
    if cached.exists():
        with np.load(cached) as arrays:
            return {key: arrays[key] for key in arrays.files}
    from datasite.ingest.labels import read_labels
    from datasite.ingest.pipeline import IngestOptions, process

    options = IngestOptions(size=SIZE, val_fraction=val_fraction, mock_seed=0)
    result = process(source, read_labels(source / "labels.csv"), key, options)
    data = {"images": result.train.images, "labels": result.train.labels}
    if val_fraction > 0:
        if result.val is None:
            raise RuntimeError(f"{source}: ingestion produced no validation split")
        data |= {"val_images": result.val.images, "val_labels": result.val.labels}
    np.savez(cached, **data)
    return data


def load_setting(setting: str, n: int, test_n: int = 0) -> list[Data]:
    """The three sites' ingested arrays of ``setting`` with ``n`` DICOM files each; with
    ``test_n`` > 0 each site's validation data also hold its held-out export's images."""
    parts = []
    for index, (shift, prevalence, seed) in enumerate(SETTINGS[setting]):
        key = identity(setting, index)[1]
        part = ingest(cached_export(setting, index, shift, prevalence, seed, n), key)
        if test_n > 0:
            source = cached_export(setting, index, shift, prevalence, seed + HELD_OUT_SEED, test_n)
            held = ingest(source, key, val_fraction=0.0)
            part["val_images"] = np.concatenate([part["val_images"], held["images"]])
            part["val_labels"] = np.concatenate([part["val_labels"], held["labels"]])
        parts.append(part)
    return parts


def pooled(parts: list[Data]) -> Data:
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def scores(metrics: dict[str, float]) -> dict[str, float]:
    return {"accuracy": float(metrics["accuracy"]), "auc": float(metrics["auc"])}


def federated(parts: list[Data], exp: ExperimentConfig) -> list[dict[str, float]]:
    """The real coordinator over in-memory sites: the global metrics after every round
    (accuracy pooled over the sites' validation splits, AUC from the pooled histograms)."""
    sites = [InMemorySite(f"s{i}", **p, config=exp.site_config()) for i, p in enumerate(parts)]
    with tempfile.TemporaryDirectory() as out:
        coordinator = Coordinator(sites, exp, Path(out))
        coordinator.run(initial_weights(exp.site_config()))
        with (Path(out) / "metrics.csv").open(newline="") as handle:
            rows = [r for r in csv.DictReader(handle) if r["site"] == "global"]
    return [scores({k: float(r[k]) for k in ("accuracy", "auc")}) for r in rows]


def alone(train: Data, val: Data, exp: ExperimentConfig, epochs: int, chunk: int = 0) -> Data:
    """One process trains on ``train`` for ``epochs`` and is scored on ``val``. With
    ``chunk`` > 0 the optimiser restarts every ``chunk`` epochs, as it does at a site every
    round (its state is not kept between calls)."""
    chunk = chunk or epochs
    cfg = {**exp.site_config(), "local_epochs": chunk, "rounds": epochs // chunk}
    data = {"images": train["images"], "labels": train["labels"]}
    data |= {"val_images": val["val_images"], "val_labels": val["val_labels"]}
    weights: dict[str, Any] = {}
    for index in range(epochs // chunk):
        step = federated_step(data, weights, "train", index + 1, cfg)
        weights = step["weights"]
    metrics = federated_step(data, weights, "evaluate", 1, cfg)
    return scores(metrics["metrics"])
