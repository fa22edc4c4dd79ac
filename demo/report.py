"""The demo's closing table: per-site and global accuracy / AUC, FedAvg vs each site alone.

The global AUC is the AUC of all sites' validation data pooled, computed by the coordinator
from per-site score histograms (± its binning error bound); no per-sample score left a site.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from rich.table import Column, Table


def final_evaluations(run_dir: Path) -> dict[str, dict[str, str]]:
    """The last evaluation row of every site (and "global") in a run's metrics.csv."""
    last: dict[str, dict[str, str]] = {}
    with (run_dir / "metrics.csv").open() as handle:
        for row in csv.DictReader(handle):
            if row["phase"] == "evaluate" and row["status"] == "ok":
                last[row["site"]] = row
    return last


def _fmt(row: dict[str, str] | None, key: str) -> str:
    if not row or not row.get(key):
        return "-"
    return f"{float(row[key]):.3f}"


def _bound(row: dict[str, str] | None) -> str:
    error = (row or {}).get("auc_bin_error")
    return f" ±{float(error):.3f}" if error else ""


def _gain(fedavg: dict[str, str] | None, alone: dict[str, str] | None) -> float | None:
    """FedAvg's AUC minus the site-alone AUC on that site's validation data."""
    if not fedavg or not alone or not fedavg.get("auc") or not alone.get("auc"):
        return None
    return float(fedavg["auc"]) - float(alone["auc"])


def results_table(fedavg_dir: Path, alone_dirs: dict[str, Path]) -> Table:
    fedavg = final_evaluations(fedavg_dir)
    table = Table(
        Column("validation data of", no_wrap=True),
        "FedAvg acc",
        "FedAvg AUC",
        "alone acc",
        "alone AUC",
        "AUC gain",
        "n",
        title="Final round: FedAvg vs each site alone",
    )
    gains: list[float | None] = []
    for site, run_dir in alone_dirs.items():
        alone = final_evaluations(run_dir).get(site) if run_dir.exists() else None
        gains.append(_gain(fedavg.get(site), alone))
        table.add_row(
            site,
            _fmt(fedavg.get(site), "accuracy"),
            _fmt(fedavg.get(site), "auc"),
            _fmt(alone, "accuracy"),
            _fmt(alone, "auc"),
            "-" if gains[-1] is None else f"{gains[-1]:+.3f}",
            (fedavg.get(site) or {}).get("n_samples", "-"),
        )
    glob = fedavg.get("global")
    table.add_row(
        "[bold]all sites pooled",
        _fmt(glob, "accuracy"),
        _fmt(glob, "auc") + _bound(glob),
        "",
        "",
        "",
        glob.get("n_samples", "-") if glob else "-",
    )
    wins = sum(1 for gain in gains if gain is not None and gain > 0)
    table.caption = f"FedAvg beats {wins} of {len(gains)} hospitals alone on AUC"
    return table


def global_auc_line(run_dir: Path) -> str:
    """The pooled global AUC in one line (the table may wrap on a narrow terminal)."""
    glob = final_evaluations(run_dir).get("global")
    return f"FedAvg global AUC (all sites pooled): {_fmt(glob, 'auc')}{_bound(glob)}"


def timing_line(run_dir: Path) -> str:
    summary: dict[str, Any] = json.loads((run_dir / "summary.json").read_text())
    rounds = summary.get("rounds_completed", 0)
    return (
        f"{rounds} rounds over {len(summary.get('sites_used', []))} sites in "
        f"{summary.get('wall_seconds', 0):.0f} s"
    )
