"""Federated averaging as pure functions: no I/O, no syft, no torch.

The coordinator checks every reply against the global model, then averages the weights with
each site's sample count as its weight (McMahan et al. 2017). FedProx changes only the local
objective at the sites, so it aggregates the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from fedcommon import metrics as pooled
from fedcommon.weights import WEIGHT_DTYPE, Array, Weights, WeightsError, validate


def weighted_average(updates: Sequence[tuple[Mapping[str, Array], int]]) -> Weights:
    """Sample-weighted mean of ``(weights, n_samples)`` pairs, computed in float64.

    Raises:
        WeightsError: no updates, a negative count, a zero total count, or updates whose keys,
            shapes or dtypes disagree.
    """
    if not updates:
        raise WeightsError("No site updates to average: every site failed or was skipped.")
    counts = [n for _, n in updates]
    if any(n < 0 for n in counts):
        raise WeightsError(f"Sample counts must be >= 0, got {counts}.")
    total = sum(counts)
    if total == 0:
        raise WeightsError(
            f"The sites reported {counts} training samples in total 0: nothing to average. "
            "Check that each site's training split is not empty."
        )
    reference = updates[0][0]
    for weights, _ in updates:
        check_consistent(weights, reference)
    averaged: Weights = {}
    for name in reference:
        acc = np.zeros(np.shape(reference[name]), dtype=np.float64)
        for weights, n in updates:
            acc += np.asarray(weights[name], dtype=np.float64) * (n / total)
        averaged[name] = acc.astype(WEIGHT_DTYPE)
    return averaged


def check_consistent(weights: Mapping[str, Array], reference: Mapping[str, Array]) -> None:
    """Same keys, shapes and float32 dtype as ``reference`` (the global model)."""
    validate(weights, reference={k: np.asarray(v) for k, v in reference.items()})


def weighted_metrics(results: Sequence[tuple[Mapping[str, float], int]]) -> dict[str, float]:
    """Per-metric mean weighted by sample count, skipping NaN values (e.g. an AUC a site
    could not compute because its validation split holds one class)."""
    names = sorted({name for metrics, _ in results for name in metrics})
    merged: dict[str, float] = {}
    for name in names:
        pairs = [
            (float(metrics[name]), n)
            for metrics, n in results
            if name in metrics and not math.isnan(float(metrics[name])) and n > 0
        ]
        total = sum(n for _, n in pairs)
        merged[name] = sum(v * n for v, n in pairs) / total if total else float("nan")
    return merged


def pooled_metrics(
    results: Sequence[tuple[Mapping[str, float], int, Array | None]],
) -> dict[str, float]:
    """Global evaluation metrics. ``auc`` is the AUC of the pooled validation data computed
    from the sites' score histograms (``auc_bin_error`` bounds its binning error) when every
    site sent one; ``auc_site_mean`` is the sample-weighted mean of the per-site AUCs."""
    merged = weighted_metrics([(metrics, n) for metrics, n, _ in results])
    if "auc" in merged:
        merged["auc_site_mean"] = merged["auc"]
    histograms = [h for _, _, h in results if h is not None]
    if histograms and len(histograms) == len(results):
        merged["auc"], merged["auc_bin_error"] = pooled.auc_from_histograms(
            pooled.merge(histograms)
        )
    return merged


def require(weights: object) -> Weights:
    """The weights of a reply, or a WeightsError when the reply has none."""
    if not isinstance(weights, dict):
        raise WeightsError(f"A training reply must hold a weights dict, got {type(weights)}.")
    return weights
