"""Sites that run the site function in this process on arrays held in memory.

The same ``federated_step`` that is shipped to hospitals runs here, so the unit tests and the
quality benchmark exercise the real training code without any server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fedcommon.weights import Array, Weights
from researcher.site import Reply
from researcher.site_code import federated_step


@dataclass
class InMemorySite:
    """A site whose data are plain arrays: (images, labels) and (val_images, val_labels)."""

    name: str
    images: Array
    labels: Array
    val_images: Array
    val_labels: Array
    config: dict[str, Any]

    def _call(self, weights: Weights, task: str, round_index: int) -> Reply:
        raw = federated_step(
            images=self.images,
            labels=self.labels,
            val_images=self.val_images,
            val_labels=self.val_labels,
            weights=weights,
            task=task,
            round_index=round_index,
            config=self.config,
        )
        return Reply.from_plain(raw)

    def train(self, weights: Weights, round_index: int) -> Reply:
        return self._call(weights, "train", round_index)

    def evaluate(self, weights: Weights, round_index: int) -> Reply:
        return self._call(weights, "evaluate", round_index)


def initial_weights(config: dict[str, Any]) -> Weights:
    """The seeded initial global model, built by the site function itself (no data used)."""
    empty = np.zeros((0,), dtype=np.uint8)
    raw = federated_step(empty, empty, empty, empty, {}, "init", 0, config)
    weights: Weights = raw["weights"]
    return weights
