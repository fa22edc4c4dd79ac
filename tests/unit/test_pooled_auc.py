"""Pooled AUC from per-site score histograms vs the exact AUC of the pooled scores."""

from __future__ import annotations

import numpy as np
import pytest

from fedcommon.metrics import (
    DEFAULT_BINS,
    HistogramError,
    auc_bounds,
    auc_from_histograms,
    merge,
    score_histograms,
)
from fedcommon.task_schema import reply_problems
from researcher.aggregate import pooled_metrics
from researcher.config import ExperimentConfig, ModelConfig
from researcher.inmemory import initial_weights
from researcher.task import load_task
from researcher.toydata import site_split


def exact_auc(score: np.ndarray, positive: np.ndarray) -> float:
    pos, neg = score[positive], score[~positive]
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def site_scores(seed: int, n: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
    """Binary softmax outputs of a fair classifier whose scores differ per site."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    logits = rng.normal(labels * 1.5 + shift, 1.0)
    p1 = 1.0 / (1.0 + np.exp(-logits))
    return np.stack([1 - p1, p1], axis=1), labels


def test_pooled_auc_matches_the_exact_auc_within_its_stated_bound() -> None:
    sites = [site_scores(1, 300, -1.0), site_scores(2, 200, 0.0), site_scores(3, 100, 1.5)]
    hists = [score_histograms(scores, labels, DEFAULT_BINS) for scores, labels in sites]
    scores = np.concatenate([s for s, _ in sites])
    labels = np.concatenate([lab for _, lab in sites])

    auc, bound = auc_from_histograms(merge(hists))
    exact = exact_auc(scores[:, 1], labels == 1)
    lower, upper = auc_bounds(merge(hists))

    assert lower <= exact <= upper
    assert abs(auc - exact) <= bound
    # The binning error with 100 bins on 600 samples: well under one AUC point.
    assert bound < 0.01 and abs(auc - exact) < 0.003


def test_pooled_auc_differs_from_the_mean_of_site_aucs() -> None:
    # Each site ranks perfectly inside itself, but site b's scores are all lower: pooling them
    # mixes b's positives below a's negatives, which a mean of per-site AUCs cannot see.
    a = (np.array([[0.4, 0.6], [0.1, 0.9]]), np.array([0, 1]))
    b = (np.array([[0.9, 0.1], [0.7, 0.3]]), np.array([0, 1]))

    auc, _ = auc_from_histograms(merge([score_histograms(*a, 100), score_histograms(*b, 100)]))

    assert auc == pytest.approx(0.75)


def test_site_function_sends_histograms_equal_to_the_reference() -> None:
    model = ModelConfig(width=4, depth=2, image_size=16)
    cfg = ExperimentConfig(name="unit", dataset="toy", model=model).site_config()
    data = site_split(16, 40, 16, seed=4)

    reply = load_task().fn(data, initial_weights(cfg), "evaluate", 1, cfg)

    hist = reply["score_histograms"]
    assert hist.shape == (2, 2, cfg["auc_bins"])
    assert hist[1, 1].sum() == (data["val_labels"] == 1).sum()
    assert hist.sum() == 2 * len(data["val_labels"])
    auc, bound = auc_from_histograms(hist)
    assert abs(auc - reply["metrics"]["auc"]) <= bound + 1e-9


def test_histograms_of_different_shapes_are_refused() -> None:
    with pytest.raises(HistogramError, match="one shape"):
        merge([np.zeros((2, 2, 10)), np.zeros((2, 2, 20))])


def test_a_site_without_histograms_leaves_the_site_mean_and_says_so() -> None:
    positive = site_histogram(seed=1)
    results = [({"auc": 0.9}, 30, positive), ({"auc": 0.6}, 10, None)]

    merged = pooled_metrics(results)

    assert merged["auc"] == pytest.approx(0.825) == merged["auc_site_mean"]
    assert merged["auc_pooled"] == 0.0 and "auc_bin_error" not in merged


def test_every_site_with_histograms_gives_the_pooled_auc() -> None:
    hists = [site_histogram(seed=1), site_histogram(seed=2)]

    merged = pooled_metrics([({"auc": 0.9}, 30, hists[0]), ({"auc": 0.6}, 10, hists[1])])

    assert merged["auc_pooled"] == 1.0
    assert merged["auc"] == pytest.approx(auc_from_histograms(merge(hists))[0])


def test_histograms_that_do_not_merge_fall_back_instead_of_stopping_the_run() -> None:
    results = [({"auc": 0.8}, 5, np.zeros((2, 2, 10))), ({"auc": 0.6}, 5, np.zeros((2, 2, 20)))]

    merged = pooled_metrics(results)

    assert merged["auc"] == pytest.approx(0.7) and merged["auc_pooled"] == 0.0


def test_the_contract_check_names_malformed_histograms() -> None:
    reply = {"n_samples": 4, "metrics": {}, "score_histograms": np.zeros((2, 3, 10))}

    assert reply_problems(reply, "evaluate") == [
        "'score_histograms' must have shape (classes, 2, bins), got (2, 3, 10)"
    ]
    reply["score_histograms"] = -np.ones((2, 2, 10))
    assert reply_problems(reply, "evaluate") == ["'score_histograms' must hold finite counts >= 0"]
    reply["score_histograms"] = np.ones((2, 2, 10))
    assert reply_problems(reply, "evaluate") == []


def site_histogram(seed: int) -> np.ndarray:
    return score_histograms(*site_scores(seed, 60, shift=0.1 * seed), DEFAULT_BINS)
