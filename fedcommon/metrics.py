"""Pooled AUC from per-site score histograms: no per-sample score leaves a site.

Each site bins its softmax scores into ``bins`` equal-width bins on [0, 1], per class and
per truth (positive = the sample's label is that class, negative = any other label), and
returns the counts: an array of shape ``(n_classes, 2, bins)`` (index 0 negatives, 1
positives). Counts add across sites, so the sum is the histogram of the pooled validation
data, and the AUC computed from it is the pooled AUC up to ties inside a bin.

Binning error: a positive and a negative in the same bin count as half a correct pair (their
order is unknown). The exact pooled AUC therefore lies in ``[lower, upper]`` returned by
:func:`auc_bounds`, and the estimate (the midpoint) is off by at most half that width;
:func:`auc_from_histograms` reports the half-width as the error bound.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from fedcommon.errors import PlatformError

Histogram = npt.NDArray[np.float64]
DEFAULT_BINS = 100


class HistogramError(PlatformError):
    """Score histograms that cannot be merged (different shapes, negative counts)."""


def score_histograms(scores: npt.ArrayLike, labels: npt.ArrayLike, bins: int) -> Histogram:
    """The ``(n_classes, 2, bins)`` counts for ``scores`` (N x C probabilities) and labels.

    The site function computes the same inline (it cannot import this module); this is the
    reference the unit tests compare it against.
    """
    probs, truth = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    index = np.clip((probs * bins).astype(np.int64), 0, bins - 1)
    out = np.zeros((probs.shape[1], 2, bins), dtype=np.float64)
    for k in range(probs.shape[1]):
        positive = truth == k
        out[k, 1] = np.bincount(index[positive, k], minlength=bins)
        out[k, 0] = np.bincount(index[~positive, k], minlength=bins)
    return out


def merge(histograms: Sequence[npt.ArrayLike]) -> Histogram:
    """The pooled histogram: the element-wise sum of every site's counts.

    Raises:
        HistogramError: no histograms, differing shapes or negative counts.
    """
    arrays = [np.asarray(h, dtype=np.float64) for h in histograms]
    if not arrays:
        raise HistogramError("No score histograms to merge: no site evaluated.")
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1 or arrays[0].ndim != 3 or arrays[0].shape[1] != 2:
        raise HistogramError(
            f"Score histograms must all be (classes, 2, bins) of one shape, got {sorted(shapes)}."
        )
    if any((a < 0).any() for a in arrays):
        raise HistogramError("Score histograms hold negative counts.")
    total: Histogram = np.sum(arrays, axis=0)
    return total


def _class_bounds(negatives: Histogram, positives: Histogram) -> tuple[float, float] | None:
    n_neg, n_pos = negatives.sum(), positives.sum()
    if n_neg == 0 or n_pos == 0:
        return None
    below = np.cumsum(negatives) - negatives  # negatives in strictly lower bins
    surely = float((positives * below).sum())
    tied = float((positives * negatives).sum())
    pairs = float(n_pos * n_neg)
    return surely / pairs, (surely + tied) / pairs


def auc_bounds(histogram: npt.ArrayLike) -> tuple[float, float]:
    """Lower and upper bound of the exact AUC of the binned data (one-vs-rest macro mean;
    class 1 only for two classes, as the site function scores it). NaN when undefined."""
    hist = np.asarray(histogram, dtype=np.float64)
    classes = [1] if hist.shape[0] == 2 else range(hist.shape[0])
    found = [b for k in classes if (b := _class_bounds(hist[k, 0], hist[k, 1])) is not None]
    if not found:
        return float("nan"), float("nan")
    return float(np.mean([lo for lo, _ in found])), float(np.mean([hi for _, hi in found]))


def auc_from_histograms(histogram: npt.ArrayLike) -> tuple[float, float]:
    """``(auc, error_bound)``: ties inside a bin count half, so the exact AUC is within
    ``error_bound`` of ``auc``."""
    lower, upper = auc_bounds(histogram)
    return (lower + upper) / 2.0, (upper - lower) / 2.0
