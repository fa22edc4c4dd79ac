"""What a run leaves in ``--out``: metrics.csv, summary.json, global_model.pt and PNG plots."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

from fedcommon.weights import to_state_dict
from researcher.checkpoint import RunState, unscored_round

ROW_FIELDS = (
    "round",
    "site",
    "phase",
    "status",
    "reason",
    "n_samples",
    "compute_seconds",
    "train_loss",
    "loss",
    "accuracy",
    "auc",
    "auc_bin_error",
    "auc_site_mean",
    "auc_pooled",
    "epsilon",  # DP: cumulative epsilon after this training round (from Opacus' accountant)
)
NOT_PLOTTED = ("auc_bin_error", "auc_pooled")  # bookkeeping of the pooled AUC, not metrics


def write_metrics_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """One row per site call; the columns a task's own metrics add come after the usual."""
    extra = sorted({key for row in rows for key in row} - set(ROW_FIELDS))
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*ROW_FIELDS, *extra], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def summary(state: RunState, experiment: dict[str, Any], planned_rounds: int) -> dict[str, Any]:
    final = state.rounds[-1]["global"] if state.rounds else {}
    skipped: dict[str, list[str]] = {}
    for row in state.rows:
        if row["status"] != "ok":
            skipped.setdefault(row["site"], []).append(f"round {row['round']}: {row['reason']}")
    return {
        "experiment": experiment,
        "fingerprint": state.fingerprint,
        "rounds_planned": planned_rounds,
        "rounds_completed": state.completed_rounds,
        "final_global_metrics": final,
        "sites_used": state.sites_used,
        "sites_skipped": skipped,
        "wall_seconds": round(state.wall_seconds, 3),
        "per_round": [{k: v for k, v in r.items() if k != "global"} for r in state.rounds],
    }


def write_all(out: Path, state: RunState, experiment: dict[str, Any], planned: int) -> None:
    """Write every output file for the rounds completed so far."""
    import torch

    out.mkdir(parents=True, exist_ok=True)
    write_metrics_csv(out / "metrics.csv", state.rows)
    text = json.dumps(summary(state, experiment, planned), indent=2, default=str)
    (out / "summary.json").write_text(text)
    torch.save(to_state_dict(state.weights), out / "global_model.pt")
    finished = state.completed_rounds >= planned and unscored_round(state) is None
    if state.rounds and _plot_due(out, len(state.rows), finished):
        plot_metrics(out / "metrics.png", state.rows)
        plot_timing(out / "round_time.png", state.rounds)
        if any(row.get("epsilon") is not None for row in state.rows):
            plot_privacy(out / "privacy.png", state.rows)


PLOT_EVERY_S = 30.0
_plotted: dict[Path, tuple[float, int]] = {}  # run folder -> (when, rounds) of its last plots


def _plot_due(out: Path, rows: int, finished: bool) -> bool:
    """Plots cost ~1-2 s of CPU each time (measured: 12 s over a 4-round run): draw them when
    the run is finished (its last model evaluated), else at most every PLOT_EVERY_S seconds,
    never twice for the same rows."""
    when, drawn = _plotted.get(out, (float("-inf"), -1))
    now = time.monotonic()
    due = drawn != rows and (finished or now - when >= PLOT_EVERY_S)
    if due:
        _plotted[out] = (now, rows)
    return due


def plot_metrics(path: Path, rows: list[dict[str, Any]]) -> None:
    """Each validation metric per round (loss, accuracy and AUC for the built-in CNN; a
    task's own metrics otherwise): the global model and each site."""
    from matplotlib.figure import Figure

    evals = [r for r in rows if r["phase"] == "evaluate" and r["status"] == "ok"]
    names = {key for row in evals for key in row} - {*ROW_FIELDS[:8], *NOT_PLOTTED}
    usual = ("loss", "accuracy", "auc")
    metrics = [m for m in usual if m in names] + sorted(names - set(usual)) or ["loss"]
    fig = Figure(figsize=(4.4 * len(metrics), 3.8))
    axes = fig.subplots(1, len(metrics), squeeze=False)
    for axis, metric in zip(axes[0], metrics, strict=True):
        for site in sorted({r["site"] for r in evals}, key=lambda s: (s != "global", s)):
            points = [(r["round"], r[metric]) for r in evals if r["site"] == site and metric in r]
            if not points:
                continue
            style = {"linewidth": 2.5, "color": "black"} if site == "global" else {"alpha": 0.7}
            axis.plot(*zip(*points, strict=True), marker="o", label=site, **style)
        axis.set(title=f"validation {metric}", xlabel="round")
        axis.grid(alpha=0.3)
    if evals:  # before the first evaluation there is nothing to label
        axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def plot_timing(path: Path, rounds: list[dict[str, Any]]) -> None:
    """Per-round wall time split into the slowest site's compute and platform overhead."""
    from matplotlib.figure import Figure

    index = [r["round"] for r in rounds]
    compute = [r["site_compute_s"] for r in rounds]
    overhead = [r["overhead_s"] for r in rounds]
    fig = Figure(figsize=(6, 3.8))
    axis = fig.add_subplot()
    axis.bar(index, compute, label="slowest site compute")
    axis.bar(index, overhead, bottom=compute, label="platform overhead")
    axis.set(title="time per round", xlabel="round", ylabel="seconds")
    axis.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def plot_privacy(path: Path, rows: list[dict[str, Any]]) -> None:
    """Epsilon spent per site after each training round (DP runs)."""
    from matplotlib.figure import Figure

    trained = [r for r in rows if r["phase"] == "train" and r.get("epsilon") is not None]
    fig = Figure(figsize=(6, 3.8))
    axis = fig.add_subplot()
    for site in sorted({r["site"] for r in trained}):
        points = [(r["round"], r["epsilon"]) for r in trained if r["site"] == site]
        axis.plot(*zip(*points, strict=True), marker="o", label=site)
    axis.set(title="privacy spent (epsilon)", xlabel="round", ylabel="epsilon")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
