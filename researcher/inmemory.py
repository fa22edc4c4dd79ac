"""Sites that run a site task in this process on arrays held in memory.

The same task function that is shipped to hospitals runs here (by default the built-in CNN,
``examples/tasks/cnn.py``), so the unit tests and the quality benchmark exercise the real
training code without any server.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

from fedcommon.weights import Array, Weights
from researcher.site import Reply
from researcher.task import SiteTask, load_task


@dataclass
class InMemorySite:
    """A site whose data are plain arrays: (images, labels) and (val_images, val_labels)."""

    name: str
    images: Array
    labels: Array
    val_images: Array
    val_labels: Array
    config: dict[str, Any]
    task: SiteTask | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. metadata / val_metadata

    def _call(self, weights: Weights, task: str, round_index: int) -> Reply:
        site_task = self.task or load_task()
        data = {"images": self.images, "labels": self.labels, "val_images": self.val_images,
                "val_labels": self.val_labels, **self.extra}  # fmt: skip
        started = time.perf_counter()
        raw = site_task.fn(data, weights, task, round_index, self.config)
        return Reply.from_plain({**raw, "compute_seconds": time.perf_counter() - started})

    def train(self, weights: Weights, round_index: int, evaluate_first: bool = False) -> Reply:
        if not evaluate_first:
            return self._call(weights, "train", round_index)
        started = time.perf_counter()  # one call, as a site's fused call is timed
        scored = self._call(weights, "evaluate", round_index - 1)
        trained = self._call(weights, "train", round_index)
        return replace(trained, compute_seconds=time.perf_counter() - started, evaluation=scored)

    def evaluate(self, weights: Weights, round_index: int) -> Reply:
        return self._call(weights, "evaluate", round_index)


def initial_weights(config: dict[str, Any], task: SiteTask | None = None) -> Weights:
    """The seeded initial global model, built by the task itself (``init``: no data used)."""
    raw = (task or load_task()).fn({}, {}, "init", 0, config)
    weights: Weights = raw["weights"]
    return weights
