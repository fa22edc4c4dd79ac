"""FedAvg vs centralised vs each site alone on generated hospital exports, IID and non-IID.

Three sites per setting are written by ``datasite.synth`` (real DICOM files + labels.csv,
cached under out/bench-fl/ and reused) and read by the real ingestion pipeline
(``datasite.ingest.pipeline.process``: decode, window, resize to 64 px, split by patient).
IID: the "balanced" preset at prevalence 0.5 everywhere, different seeds. Non-IID: three
vendors (fuji-cr / ge-dx / philips-dx) with prevalence 0.2 / 0.5 / 0.8. Every method gets
the same total epochs (rounds x local epochs) and is scored on the pooled validation splits
of the three sites. The site function and the coordinator are the real ones, over in-memory
sites (no server, no upload). A PNG of accuracy / AUC per method goes to out/bench-fl/.

    .venv/bin/python -m benchmarks.fl_quality
"""

from __future__ import annotations

import csv
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from datasite.ingest.labels import read_labels
from datasite.ingest.pipeline import IngestOptions, process
from datasite.synth import SynthConfig, generate_site, preset
from researcher.config import ExperimentConfig, ModelConfig
from researcher.coordinator import Coordinator
from researcher.inmemory import InMemorySite, initial_weights
from researcher.task import load_task

federated_step = load_task().fn  # the built-in CNN task (examples/tasks/cnn.py)

CACHE = Path("out/bench-fl")
KEY = b"fl-quality-benchmark-key-0123456789"
ROWS, SIZE, N_PER_SITE, VAL_FRACTION = 256, 64, 400, 0.2
ROUNDS, LOCAL_EPOCHS, LR, BATCH = 10, 2, 5e-4, 32
WIDTH, DEPTH, FEDPROX_MU = 8, 4, 0.01
# setting -> one (preset, prevalence, seed) per site
SETTINGS: dict[str, tuple[tuple[str, float, int], ...]] = {
    "iid": (("balanced", 0.5, 101), ("balanced", 0.5, 102), ("balanced", 0.5, 103)),
    "noniid": (("fuji-cr", 0.2, 201), ("ge-dx", 0.5, 202), ("philips-dx", 0.8, 203)),
}
Data = dict[str, Any]  # images, labels, val_images, val_labels
Scores = dict[str, dict[str, float]]  # method -> {"accuracy", "auc"}


def experiment(algorithm: str = "fedavg", mu: float = 0.0, **overrides: Any) -> ExperimentConfig:
    settings: dict[str, Any] = {"rounds": ROUNDS, "local_epochs": LOCAL_EPOCHS, "lr": LR}
    settings.update(batch_size=BATCH, algorithm=algorithm, mu=mu, min_sites=3, **overrides)
    model = ModelConfig(width=WIDTH, depth=DEPTH, image_size=SIZE)
    return ExperimentConfig(name="quality", dataset="synthetic", model=model, **settings)


def cached_export(setting: str, index: int, shift: str, prevalence: float, seed: int) -> Path:
    """The site's DICOM export under out/bench-fl/, generated once per configuration."""
    out = CACHE / f"{setting}-site{index}-{shift}-p{prevalence}-s{seed}-n{N_PER_SITE}-r{ROWS}"
    labels = out / "labels.csv"
    if labels.exists():
        with labels.open(newline="") as handle:
            if sum(1 for _ in csv.reader(handle)) == N_PER_SITE + 1:
                return out
    started = time.perf_counter()
    shifted = preset(shift, prevalence=prevalence)
    generate_site(SynthConfig(out, f"{setting}{index}", N_PER_SITE, seed, shifted, rows=ROWS))
    print(f"generated {out} in {time.perf_counter() - started:.1f}s")
    return out


def ingest(source: Path) -> Data:
    """Private train / val arrays exactly as a site's ingestion would upload them."""
    options = IngestOptions(size=SIZE, val_fraction=VAL_FRACTION, mock_seed=0)
    result = process(source, read_labels(source / "labels.csv"), KEY, options)
    if result.val is None:
        raise RuntimeError(f"{source}: ingestion produced no validation split")
    return {
        "images": result.train.images,
        "labels": result.train.labels,
        "val_images": result.val.images,
        "val_labels": result.val.labels,
    }


def load_setting(setting: str) -> list[Data]:
    return [
        ingest(cached_export(setting, index, *site)) for index, site in enumerate(SETTINGS[setting])
    ]


def pooled(parts: list[Data]) -> Data:
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def scores(metrics: dict[str, float]) -> dict[str, float]:
    return {"accuracy": float(metrics["accuracy"]), "auc": float(metrics["auc"])}


def federated(parts: list[Data], exp: ExperimentConfig) -> dict[str, float]:
    """The real coordinator over in-memory sites; metrics are sample-weighted over the sites'
    validation splits, i.e. the pooled validation data."""
    sites = [InMemorySite(f"s{i}", **p, config=exp.site_config()) for i, p in enumerate(parts)]
    with tempfile.TemporaryDirectory() as out:
        summary = Coordinator(sites, exp, Path(out)).run(initial_weights(exp.site_config()))
    return scores(summary["final_global_metrics"])


def alone(train: Data, val: Data) -> dict[str, float]:
    """One process trains on ``train`` for all epochs at once; scored on ``val``."""
    cfg = experiment(local_epochs=ROUNDS * LOCAL_EPOCHS, rounds=1).site_config()
    data = {"images": train["images"], "labels": train["labels"]}
    data |= {"val_images": val["val_images"], "val_labels": val["val_labels"]}
    weights = federated_step(data, {}, "train", 1, cfg)["weights"]
    metrics = federated_step(data, weights, "evaluate", 1, cfg)
    return scores(metrics["metrics"])


def describe(setting: str, parts: list[Data]) -> str:
    sites = ", ".join(
        f"{shift} p={prevalence} {len(p['labels'])}+{len(p['val_labels'])} "
        f"({p['labels'].mean():.2f} pos)"
        for (shift, prevalence, _), p in zip(SETTINGS[setting], parts, strict=True)
    )
    return f"data_{setting}: datasite.synth -> ingest pipeline, train+val per site: {sites}"


def ratio(value: float, reference: float) -> str:
    return f"{value / reference:.3f}" if reference > 0 else "nan"


def run_setting(setting: str, parts: list[Data]) -> Scores:
    """Train every method for one setting and print its key=value lines."""
    everything = pooled(parts)
    results: Scores = {"central": alone(everything, everything)}
    results["fedavg"] = federated(parts, experiment())
    if setting == "noniid":
        results["fedprox"] = federated(parts, experiment("fedprox", mu=FEDPROX_MU))
    for index, part in enumerate(parts):
        results[f"local_only_site{index}"] = alone(part, everything)
    for method, got in results.items():
        base, suffix = method, f"_{setting}"
        if method.startswith("local_only_"):
            base, suffix = "local_only", f"_{setting}_{method.removeprefix('local_only_')}"
        print(f"{base}_acc{suffix}={got['accuracy']:.3f}")
        print(f"{base}_auc{suffix}={got['auc']:.3f}")
        if method != "central":
            print(f"{base}_over_central{suffix}="
                  f"{ratio(got['accuracy'], results['central']['accuracy'])}")  # fmt: skip
            print(f"{base}_auc_over_central{suffix}={ratio(got['auc'], results['central']['auc'])}")
    return results


def _plot_order(method: str) -> tuple[int, str]:
    return ["central", "fedavg", "fedprox", method].index(method), method


def plot(all_scores: dict[str, Scores], path: Path) -> None:
    """Grouped bars: accuracy and AUC per method, one group per setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = sorted({m for setting in all_scores.values() for m in setting}, key=_plot_order)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
    width = 0.8 / len(methods)
    for ax, metric in zip(axes, ("accuracy", "auc"), strict=True):
        for offset, method in enumerate(methods):
            values = [all_scores[s].get(method, {}).get(metric, np.nan) for s in all_scores]
            xs = np.arange(len(all_scores)) + offset * width - 0.4 + width / 2
            ax.bar(xs, values, width, label=method)
        ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
        ax.set_xticks(np.arange(len(all_scores)), list(all_scores))
        ax.set_title(f"{metric} on the pooled validation splits")
        ax.set_ylim(0.0, 1.0)
    axes[1].legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.suptitle(f"3 synthetic sites, {SIZE}px, {ROUNDS * LOCAL_EPOCHS} epochs per method")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    started = time.perf_counter()
    data = {setting: load_setting(setting) for setting in SETTINGS}
    epochs = ROUNDS * LOCAL_EPOCHS
    print(f"setup: 3 sites x {N_PER_SITE} DICOM files ({ROWS} rows) per setting, ingested at "
          f"{SIZE}px, val_fraction {VAL_FRACTION}; CNN width {WIDTH} depth {DEPTH} (batch norm, "
          f"max pool), Adam lr {LR}, batch {BATCH}; {ROUNDS} rounds x {LOCAL_EPOCHS} local "
          f"epochs = {epochs} epochs for every method; FedProx mu {FEDPROX_MU}; scored on "
          f"the pooled val splits; data ready in {time.perf_counter() - started:.1f}s")  # fmt: skip
    all_scores: dict[str, Scores] = {}
    for setting, parts in data.items():
        print(describe(setting, parts))
        all_scores[setting] = run_setting(setting, parts)
    png = CACHE / "fl_quality.png"
    plot(all_scores, png)
    print(f"plot={png}")
    print(f"wall_seconds={time.perf_counter() - started:.1f}")


if __name__ == "__main__":
    main()
