"""Federated averaging as pure functions over any state dict: no I/O, no syft, no torch.

The coordinator checks every reply against the global model (same keys, shapes, float32),
then averages each entry with each site's sample count as its weight (McMahan et al. 2017).
FedProx changes only the local objective at the sites, so it aggregates the same way.

Integer buffers: the exchange format is float32 throughout, so a task sends counters such as
BatchNorm's ``num_batches_tracked`` as float32 too. Entries whose name ends in one of
:data:`COUNTER_SUFFIXES` are averaged the same way and then rounded to the nearest whole
number, so they stay counts (a task casts them back with ``.long()`` when loading).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence

import numpy as np

from fedcommon import metrics as pooled
from fedcommon.weights import WEIGHT_DTYPE, Array, Weights, WeightsError, validate

COUNTER_SUFFIXES = ("num_batches_tracked",)
log = logging.getLogger(__name__)


def weighted_average(
    updates: Sequence[tuple[Mapping[str, Array], int]], sites: Sequence[str] | None = None
) -> Weights:
    """Sample-weighted mean of ``(weights, n_samples)`` pairs, computed in float64;
    counters (:data:`COUNTER_SUFFIXES`) rounded to whole numbers.

    Raises:
        WeightsError: no updates, a negative count, a zero total count, or updates whose keys,
            shapes or dtypes disagree (naming the site, from ``sites``, and the key).
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
    names = list(sites) if sites is not None else [f"update {i + 1}" for i in range(len(updates))]
    reference = updates[0][0]
    for (weights, _), site in zip(updates, names, strict=True):
        check_consistent(weights, reference, site=f"{site} (against {names[0]})")
    averaged: Weights = {}
    for name in reference:
        acc = np.zeros(np.shape(reference[name]), dtype=np.float64)
        for weights, n in updates:
            acc += np.asarray(weights[name], dtype=np.float64) * (n / total)
        if name.endswith(COUNTER_SUFFIXES):
            acc = np.asarray(np.round(acc))
        averaged[name] = acc.astype(WEIGHT_DTYPE)
    return averaged


def check_consistent(
    weights: Mapping[str, Array], reference: Mapping[str, Array], site: str = ""
) -> None:
    """Same keys, shapes and float32 dtype as ``reference`` (the global model)."""
    try:
        validate(weights, reference={k: np.asarray(v) for k, v in reference.items()})
    except WeightsError as err:
        if not site:
            raise
        raise WeightsError(f"Site {site}: {err.message}") from None


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
    site sent one; ``auc_site_mean`` is the sample-weighted mean of the per-site AUCs.

    A task that returns no ``score_histograms`` (any task but the built-in CNN, unless it
    adds them), or histograms that do not merge, leaves ``auc`` at the site mean;
    ``auc_pooled`` says which one ``auc`` is (1.0 pooled, 0.0 the site mean)."""
    merged = weighted_metrics([(metrics, n) for metrics, n, _ in results])
    if "auc" not in merged:
        return merged
    merged["auc_site_mean"], merged["auc_pooled"] = merged["auc"], 0.0
    histograms = [h for _, _, h in results if h is not None]
    if not histograms or len(histograms) != len(results):
        return merged
    try:
        merged["auc"], merged["auc_bin_error"] = pooled.auc_from_histograms(
            pooled.merge(histograms)
        )
    except pooled.HistogramError as err:
        log.warning("pooled AUC not computed, auc is the site mean: %s", err.message)
        return merged
    merged["auc_pooled"] = 1.0
    return merged


def require(weights: object) -> Weights:
    """The weights of a reply, or a WeightsError when the reply has none."""
    if not isinstance(weights, dict):
        raise WeightsError(f"A training reply must hold a weights dict, got {type(weights)}.")
    return weights
