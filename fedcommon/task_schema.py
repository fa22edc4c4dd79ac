"""The site-task contract both sides share: what a task may return, and the declared output
schema a request carries so the site can enforce it.

A **site task** is one self-contained function
``task(data, weights, task, round_index, config) -> dict`` (see README, "Bring your own
model"). Its reply is a plain dict: ``weights`` (``{name: float32 ndarray}``, for ``init`` and
``train``), ``n_samples`` (int) and ``metrics`` (``{name: float}``); an ``evaluate`` reply may
add ``score_histograms``: per-class score counts, shape ``(classes, 2, bins)``, from which the
coordinator computes the AUC of the pooled validation data (:mod:`fedcommon.metrics`).

The researcher's local contract check derives an :class:`OutputSchema` from the task's
``init`` weights and the metric names its ``train`` / ``evaluate`` calls returned. The schema
is bound into the submitted syft function as the constant named :data:`SCHEMA_ARGUMENT`
(value: ``OutputSchema.model_dump(mode="json")``), so a site's egress policy can read it from
the request and refuse any reply that does not match (:meth:`OutputSchema.problems`).
Never imports syft or torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from fedcommon.weights import ReplyKey

SCHEMA_ARGUMENT = "output_schema"  # the sy.Constant of the submitted function holding it
WEIGHT_DTYPE_NAME = "float32"
METRIC_BYTES = 64  # budget per metric (name + float) on top of the weights' bytes
FIXED_BYTES = 1024  # n_samples, compute_seconds and dict overhead


class TaskStep(StrEnum):
    """The ``task`` argument of a site task."""

    INIT = "init"
    TRAIN = "train"
    EVALUATE = "evaluate"


# The ``task`` value of a fused call: the site function's wrapper evaluates the weights it
# received (the previous round's model), then trains on them, and returns the training reply
# plus ``eval_n_samples`` / ``eval_metrics`` / ``score_histograms``. One call per round
# instead of two; the researcher's task only ever sees the three steps above.
EVALUATE_THEN_TRAIN = "evaluate_then_train"
# Steps that never train: a site's privacy ledger charges every other call as training.
NON_TRAINING_STEPS = (TaskStep.INIT.value, TaskStep.EVALUATE.value)


class TensorSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    shape: tuple[int, ...]
    dtype: str = WEIGHT_DTYPE_NAME


class OutputSchema(BaseModel):
    """What one call of the task may send out of a site."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    weights: dict[str, TensorSpec]
    metrics: tuple[str, ...] = ()
    max_bytes: int = Field(ge=0)

    @classmethod
    def derive(cls, weights: Mapping[str, Any], metrics: set[str]) -> OutputSchema:
        """The schema of a task whose ``init`` returned ``weights`` and whose calls returned
        the metric names ``metrics``; the byte budget is the weights' size plus a little."""
        specs = {
            name: TensorSpec(shape=tuple(np.shape(a)), dtype=str(np.asarray(a).dtype))
            for name, a in weights.items()
        }
        weight_bytes = sum(int(np.asarray(a).nbytes) for a in weights.values())
        budget = weight_bytes + METRIC_BYTES * len(metrics) + FIXED_BYTES
        return cls(weights=specs, metrics=tuple(sorted(metrics)), max_bytes=budget)

    def problems(self, reply: Mapping[str, Any]) -> list[str]:
        """Every way ``reply`` departs from this schema (empty when it conforms)."""
        step = "train" if "weights" in reply else "evaluate"
        found = reply_problems(reply, step)
        weights = reply.get("weights")
        if isinstance(weights, Mapping):
            found += self._weight_problems(weights)
        named = {*dict(reply.get("metrics") or {}), *dict(reply.get(ReplyKey.EVAL_METRICS) or {})}
        extra = sorted(named - set(self.metrics))
        if extra:
            found.append(f"metrics {extra} are not declared (declared: {list(self.metrics)})")
        size = sum(int(getattr(a, "nbytes", 0)) for a in dict(weights or {}).values())
        if size > self.max_bytes:
            found.append(f"weights take {size} bytes, over the budget of {self.max_bytes}")
        return found

    def _weight_problems(self, weights: Mapping[str, Any]) -> list[str]:
        found = [f"weight {k!r} is not declared" for k in sorted(set(weights) - set(self.weights))]
        found += [f"weight {k!r} is missing" for k in sorted(set(self.weights) - set(weights))]
        for name, spec in self.weights.items():
            array = weights.get(name)
            if isinstance(array, np.ndarray) and array.shape != spec.shape:
                found.append(f"weight {name!r} has shape {array.shape}, declared {spec.shape}")
        return found


def reply_problems(reply: Any, step: str, allow_nan: bool = True) -> list[str]:
    """Every way ``reply`` (what the task returned for ``step``) breaks the contract.
    Metrics must be finite; NaN means "undefined here" (an AUC on a split holding one class,
    as small mock splits often do) and is allowed unless ``allow_nan`` is False. The
    coordinator skips NaN when it averages metrics."""
    if not isinstance(reply, Mapping):
        return [f"the task returned a {type(reply).__name__}, not a dict"]
    found = _count_problems(ReplyKey.N_SAMPLES, reply.get(ReplyKey.N_SAMPLES))
    found += _metric_problems(reply.get("metrics", {}), allow_nan)
    if ReplyKey.EVAL_N_SAMPLES in reply or ReplyKey.EVAL_METRICS in reply:  # a fused call
        found += _count_problems(ReplyKey.EVAL_N_SAMPLES, reply.get(ReplyKey.EVAL_N_SAMPLES))
        found += _metric_problems(reply.get(ReplyKey.EVAL_METRICS, {}), allow_nan)
    if step in (TaskStep.INIT, TaskStep.TRAIN):
        found += weight_problems(reply.get("weights"))
    if ReplyKey.HISTOGRAMS in reply:
        found += histogram_problems(reply[ReplyKey.HISTOGRAMS])
    return found


def _count_problems(key: str, count: Any) -> list[str]:
    if not isinstance(count, int | np.integer) or isinstance(count, bool):
        return [f"'{key}' must be an int, got {type(count).__name__}"]
    return [f"'{key}' is negative ({count})"] if count < 0 else []


def histogram_problems(histograms: Any) -> list[str]:
    """Optional ``score_histograms``: a ``(classes, 2, bins)`` array of finite counts >= 0."""
    if not isinstance(histograms, np.ndarray) or histograms.dtype.kind not in "iuf":
        return [f"'score_histograms' must be a numeric array, got {type(histograms).__name__}"]
    if histograms.ndim != 3 or histograms.shape[1] != 2:
        return [f"'score_histograms' must have shape (classes, 2, bins), got {histograms.shape}"]
    if not np.all(np.isfinite(histograms)) or (histograms < 0).any():
        return ["'score_histograms' must hold finite counts >= 0"]
    return []


def _metric_problems(metrics: Any, allow_nan: bool) -> list[str]:
    if not isinstance(metrics, Mapping):
        return [f"'metrics' must be a dict of floats, got {type(metrics).__name__}"]
    found = []
    for name, value in metrics.items():
        if not isinstance(value, int | float | np.floating | np.integer):
            found.append(f"metric {name!r} is a {type(value).__name__}, not a float")
        elif not math.isfinite(float(value)) and not (allow_nan and math.isnan(float(value))):
            found.append(f"metric {name!r} is not finite ({value})")
    return found


def weight_problems(weights: Any) -> list[str]:
    """``weights`` must be a non-empty ``{str: float32 ndarray}`` of finite values."""
    if not isinstance(weights, Mapping) or not weights:
        return [f"'weights' must be a non-empty dict of arrays, got {type(weights).__name__}"]
    found = []
    for name, array in weights.items():
        if not isinstance(array, np.ndarray):
            found.append(f"weight {name!r} is a {type(array).__name__}, not a numpy array")
        elif array.dtype != np.float32:
            found.append(f"weight {name!r} has dtype {array.dtype}; the contract is float32")
        elif not np.all(np.isfinite(array)):
            found.append(f"weight {name!r} holds NaN or infinite values")
    return found
