"""The round loop over in-memory sites: outputs, skipped sites, min_sites, deadlines, resume."""

from __future__ import annotations

import csv
import json
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fedcommon.weights import Weights
from researcher import checkpoint
from researcher.config import ExperimentConfig, ModelConfig
from researcher.coordinator import Coordinator
from researcher.errors import TrainingError
from researcher.inmemory import InMemorySite, initial_weights
from researcher.site import Reply
from researcher.toydata import site_split

SIZE = 16


def experiment(**overrides: Any) -> ExperimentConfig:
    settings: dict[str, Any] = {"rounds": 3, "lr": 0.01, "batch_size": 16, "local_epochs": 2}
    settings.update(overrides)
    model = ModelConfig(width=8, depth=2, image_size=SIZE)
    return ExperimentConfig(name="unit", dataset="toy", model=model, **settings)


def make_sites(exp: ExperimentConfig, n: int = 3, broken: int = 0) -> list[InMemorySite]:
    sites = []
    for index in range(n):
        data = site_split(48, 24, SIZE, seed=index)
        if index < broken:  # a site whose labels do not fit the model: training really fails
            data["labels"] = data["labels"] + 5
        sites.append(InMemorySite(f"site{index}", **data, config=exp.site_config()))
    return sites


def run(sites: list, exp: ExperimentConfig, out: Path, progress: Any = None) -> dict[str, Any]:
    return Coordinator(sites, exp, out, progress).run(initial_weights(exp.site_config()))


def read_rows(out: Path) -> list[dict[str, str]]:
    with (out / "metrics.csv").open() as handle:
        return list(csv.DictReader(handle))


class StopAfter:
    """A progress listener that interrupts the run after a round, like Ctrl-C would."""

    def __init__(self, round_index: int) -> None:
        self.round_index = round_index

    def start(self, rounds: int, sites: Any, first_round: int) -> None: ...
    def site_done(self, round_index: int, site: str, phase: str, status: str) -> None: ...

    def round_done(self, round_index: int, record: dict[str, Any]) -> None:
        if round_index == self.round_index:
            raise KeyboardInterrupt


class HangingSite:
    """A transport that never answers (a hung datasite)."""

    def __init__(self, name: str, release: threading.Event) -> None:
        self.name, self.release = name, release

    def train(self, weights: Weights, round_index: int, evaluate_first: bool = False) -> Reply:
        self.release.wait()
        raise RuntimeError("released")

    evaluate = train


def test_three_sites_train_and_write_every_output(tmp_path: Path) -> None:
    exp = experiment()

    summary = run(make_sites(exp), exp, tmp_path)

    assert summary["rounds_completed"] == 3
    assert summary["sites_used"] == ["site0", "site1", "site2"]
    assert summary["final_global_metrics"]["accuracy"] > 0.6
    final = summary["final_global_metrics"]  # pooled AUC from the sites' score histograms
    assert 0.0 <= final["auc_bin_error"] < 0.02 and 0.5 < final["auc"] <= 1.0
    for name in ("metrics.csv", "summary.json", "global_model.pt", "metrics.png", "round_time.png"):
        assert (tmp_path / name).stat().st_size > 0
    timing = json.loads((tmp_path / "summary.json").read_text())["per_round"][0]
    assert timing["wall_s"] == pytest.approx(
        timing["site_compute_s"] + timing["overhead_s"], abs=1e-3
    )


def test_failing_site_is_skipped_and_recorded(tmp_path: Path) -> None:
    exp = experiment(rounds=2)

    summary = run(make_sites(exp, broken=1), exp, tmp_path)

    assert summary["sites_used"] == ["site1", "site2"]
    failed = [r for r in read_rows(tmp_path) if r["site"] == "site0" and r["phase"] == "train"]
    assert [r["status"] for r in failed] == ["failed", "failed"]
    assert failed[0]["reason"] == "IndexError in the call"


def test_run_stops_when_fewer_than_min_sites_train(tmp_path: Path) -> None:
    exp = experiment(min_sites=2)

    with pytest.raises(
        TrainingError, match=r"only 1 site\(s\) trained \(\['site2'\]\), fewer than min_sites=2"
    ):
        run(make_sites(exp, broken=2), exp, tmp_path)


def test_site_past_its_deadline_is_skipped(tmp_path: Path) -> None:
    exp = experiment(rounds=2, site_timeout_s=1.0, min_sites=2)
    release = threading.Event()
    sites = [*make_sites(exp, n=2), HangingSite("slow", release)]
    try:
        summary = run(sites, exp, tmp_path)
    finally:
        release.set()

    reasons = [r["reason"] for r in read_rows(tmp_path) if r["site"] == "slow"]
    assert reasons[0] == "no reply within 1 s"
    assert "still busy" in reasons[-1]
    assert summary["rounds_completed"] == 2


def test_rerun_resumes_after_interruption_and_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    exp = experiment()
    with pytest.raises(KeyboardInterrupt):
        run(make_sites(exp), exp, tmp_path / "resumed", StopAfter(2))
    assert (
        json.loads((tmp_path / "resumed" / "checkpoint.json").read_text())["completed_rounds"] == 2
    )

    resumed = run(make_sites(exp), exp, tmp_path / "resumed")
    straight = run(make_sites(exp), exp, tmp_path / "straight")

    trains = [r for r in read_rows(tmp_path / "resumed") if r["phase"] == "train"]
    assert [r["round"] for r in trains] == ["1"] * 3 + ["2"] * 3 + ["3"] * 3
    assert resumed["final_global_metrics"] == pytest.approx(straight["final_global_metrics"])


def test_finished_run_is_not_trained_again(tmp_path: Path) -> None:
    exp = experiment(rounds=1)
    first = run(make_sites(exp), exp, tmp_path)

    again = run([], exp, tmp_path)  # no site is called: every round is already done

    assert again["final_global_metrics"] == first["final_global_metrics"]


def test_changed_experiment_refuses_the_old_folder(tmp_path: Path) -> None:
    run(make_sites(experiment(rounds=1)), experiment(rounds=1), tmp_path)
    changed = experiment(rounds=1, lr=0.5)

    with pytest.raises(TrainingError, match="holds a run of a different experiment"):
        run(make_sites(changed), changed, tmp_path)


def test_checkpoint_keeps_only_the_last_weights(tmp_path: Path) -> None:
    exp = experiment(rounds=2)
    run(make_sites(exp), exp, tmp_path)

    files = sorted(p.name for p in tmp_path.glob("weights_round_*.npz"))

    assert files == ["weights_round_002.npz"]
    with np.load(tmp_path / files[0]) as archive:
        assert all(archive[name].dtype == np.float32 for name in archive.files)


def test_fedbn_sites_keep_their_own_batch_norm_statistics(tmp_path: Path) -> None:
    exp = experiment(rounds=1)
    sites = make_sites(exp)
    coordinator = Coordinator(sites, exp, tmp_path)

    coordinator.run(initial_weights(exp.site_config()))

    state = checkpoint.load(tmp_path, exp.fingerprint())
    assert state is not None and sorted(state.site_weights) == ["site0", "site1", "site2"]
    means = [state.site_weights[s]["1.running_mean"] for s in ("site0", "site1", "site2")]
    assert not np.allclose(means[0], means[1])
    sent = coordinator.strategy.weights_for(state, "site1")["1.running_mean"]
    assert np.array_equal(sent, means[1])


class NoHistograms:
    """A site whose task returns no score histograms (any task but the built-in CNN)."""

    def __init__(self, site: InMemorySite) -> None:
        self.site, self.name = site, site.name

    def train(self, weights: Weights, round_index: int, evaluate_first: bool = False) -> Reply:
        reply = self.site.train(weights, round_index, evaluate_first)
        if reply.evaluation is None:
            return reply
        return replace(reply, evaluation=replace(reply.evaluation, histograms=None))

    def evaluate(self, weights: Weights, round_index: int) -> Reply:
        return replace(self.site.evaluate(weights, round_index), histograms=None)


def test_a_task_without_histograms_trains_and_reports_the_site_mean_auc(tmp_path: Path) -> None:
    exp = experiment(rounds=1)

    final = run([NoHistograms(s) for s in make_sites(exp)], exp, tmp_path)["final_global_metrics"]

    assert final["auc_pooled"] == 0.0 and "auc_bin_error" not in final
    assert final["auc"] == final["auc_site_mean"]
    assert read_rows(tmp_path)[-1]["auc_pooled"] == "0.0"


class Counting:
    """An in-memory site that records every call it receives."""

    def __init__(self, site: InMemorySite) -> None:
        self.site, self.name, self.calls = site, site.name, list[str]()

    def train(self, weights: Weights, round_index: int, evaluate_first: bool = False) -> Reply:
        self.calls.append(f"{'evaluate+' if evaluate_first else ''}train {round_index}")
        return self.site.train(weights, round_index, evaluate_first)

    def evaluate(self, weights: Weights, round_index: int) -> Reply:
        self.calls.append(f"evaluate {round_index}")
        return self.site.evaluate(weights, round_index)


def test_each_round_is_one_call_per_site_that_first_evaluates_the_previous_model(
    tmp_path: Path,
) -> None:
    exp = experiment()
    sites = [Counting(site) for site in make_sites(exp)]

    summary = run(sites, exp, tmp_path)

    expected = ["train 1", "evaluate+train 2", "evaluate+train 3", "evaluate 3"]
    assert all(site.calls == expected for site in sites)
    evaluations = [(r["round"], r["site"]) for r in read_rows(tmp_path) if r["phase"] == "evaluate"]
    for round_index in ("1", "2", "3"):  # every round's model is scored at every site
        scored = {name for r, name in evaluations if r == round_index}
        assert scored == {"global", *(site.name for site in sites)}
    per_round = json.loads((tmp_path / "summary.json").read_text())["per_round"]
    assert all(r["round"] == i for i, r in enumerate(per_round, start=1))
    assert summary["final_global_metrics"]["accuracy"] > 0.6
