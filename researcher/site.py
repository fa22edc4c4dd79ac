"""How the coordinator talks to one site: a small protocol with a syft implementation
(``researcher.syftio.SyftSite``) and an in-memory twin (``researcher.inmemory.InMemorySite``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from fedcommon.weights import Array, ReplyKey, Weights, WeightsError


@dataclass(frozen=True)
class Reply:
    """What one site call returned: plain data only."""

    n_samples: int
    compute_seconds: float
    metrics: dict[str, float] = field(default_factory=dict)
    weights: Weights | None = None
    histograms: Array | None = None
    # A fused call's evaluation of the weights it received (before training on them).
    evaluation: Reply | None = None

    @classmethod
    def from_plain(cls, raw: Mapping[str, Any]) -> Reply:
        """Parse the dict a site function returns (keys in :class:`ReplyKey`)."""
        if not isinstance(raw, Mapping) or ReplyKey.N_SAMPLES not in raw:
            raise WeightsError(
                f"A site reply must be a dict with {list(ReplyKey)}, got {raw!r:.80}."
            )
        weights = raw.get(ReplyKey.WEIGHTS)
        histograms = raw.get(ReplyKey.HISTOGRAMS)
        scored = None if histograms is None else np.asarray(histograms, dtype=np.float64)
        evaluation = None
        if ReplyKey.EVAL_N_SAMPLES in raw:  # a fused call: the histograms are its evaluation's
            evaluation = cls(
                n_samples=int(raw[ReplyKey.EVAL_N_SAMPLES]),
                compute_seconds=0.0,
                metrics=_floats(raw.get(ReplyKey.EVAL_METRICS)),
                histograms=scored,
            )
            scored = None
        return cls(
            n_samples=int(raw[ReplyKey.N_SAMPLES]),
            compute_seconds=float(raw.get(ReplyKey.COMPUTE_SECONDS, 0.0)),
            metrics=_floats(raw.get(ReplyKey.METRICS)),
            weights=dict(weights) if weights is not None else None,
            histograms=scored,
            evaluation=evaluation,
        )


def _floats(metrics: Any) -> dict[str, float]:
    return {k: float(v) for k, v in dict(metrics or {}).items()}


class Site(Protocol):
    """One datasite, as the coordinator sees it. Both calls block; the coordinator applies
    its own deadline. Failures raise :class:`researcher.errors.SiteCallError` with a short
    reason (or any exception, which the coordinator reduces to its type name).
    ``train(..., evaluate_first=True)`` is one fused call: the reply's ``evaluation`` scores
    the weights sent, before the site trained on them."""

    @property
    def name(self) -> str: ...

    def train(self, weights: Weights, round_index: int, evaluate_first: bool = False) -> Reply: ...

    def evaluate(self, weights: Weights, round_index: int) -> Reply: ...
