"""The demo's closing table (demo/report.py) read from the coordinator's metrics.csv files:
per-site FedAvg vs site-alone AUC, the gain, the pooled global AUC and the verdict."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from demo.report import global_auc_line, results_table
from researcher.outputs import write_metrics_csv


def evaluation(round_index: int, site: str, auc: float, **extra: object) -> dict[str, object]:
    return {"round": round_index, "site": site, "phase": "evaluate", "status": "ok",
            "n_samples": 80, "accuracy": 0.7, "auc": auc, **extra}  # fmt: skip


def write_runs(tmp_path: Path, alone_auc: dict[str, float]) -> tuple[Path, dict[str, Path]]:
    fedavg = tmp_path / "fedavg"
    fedavg.mkdir()
    rows = [evaluation(1, "a", 0.5), evaluation(1, "b", 0.5)]  # an earlier round: ignored
    rows += [evaluation(2, "a", 0.80), evaluation(2, "b", 0.70)]
    rows.append(evaluation(2, "global", 0.76, auc_bin_error=0.002))
    write_metrics_csv(fedavg / "metrics.csv", rows)
    alone_dirs = {}
    for site, auc in alone_auc.items():
        alone_dirs[site] = tmp_path / f"alone-{site}"
        alone_dirs[site].mkdir()
        write_metrics_csv(alone_dirs[site] / "metrics.csv", [evaluation(2, site, auc)])
    return fedavg, alone_dirs


def rendered(fedavg: Path, alone_dirs: dict[str, Path]) -> str:
    console = Console(width=80, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(results_table(fedavg, alone_dirs))
    return console.export_text()


def test_table_shows_each_sites_gain_the_pooled_auc_and_the_verdict(tmp_path: Path) -> None:
    fedavg, alone_dirs = write_runs(tmp_path, {"a": 0.75, "b": 0.72})

    text = rendered(fedavg, alone_dirs)

    assert "+0.050" in text and "-0.020" in text
    pooled_row = next(line for line in text.splitlines() if "all sites pooled" in line)
    assert "0.760" in pooled_row  # the bound may wrap onto the next line at 80 columns
    assert "FedAvg beats 1 of 2 hospitals alone on AUC" in text
    assert global_auc_line(fedavg) == "FedAvg global AUC (all sites pooled): 0.760 ±0.002"


def test_verdict_counts_every_hospital_when_federation_wins_everywhere(tmp_path: Path) -> None:
    fedavg, alone_dirs = write_runs(tmp_path, {"a": 0.60, "b": 0.65})

    assert "FedAvg beats 2 of 2 hospitals alone on AUC" in rendered(fedavg, alone_dirs)
