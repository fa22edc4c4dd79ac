"""The weight-exchange format both sides agree on.

Model weights travel as ``dict[str, np.ndarray]``: parameter name -> CPU float32 array (syft
0.9.5 cannot send tensors that require grad, nor bfloat16). A site's reply to a training or
evaluation call is a plain dict keyed by :class:`ReplyKey`. torch is imported lazily.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from fedcommon.errors import PlatformError

Array = npt.NDArray[Any]
Weights = dict[str, Array]
WEIGHT_DTYPE = np.float32


class ReplyKey(StrEnum):
    """Keys of the plain dict a site function returns."""

    WEIGHTS = "weights"
    N_SAMPLES = "n_samples"
    COMPUTE_SECONDS = "compute_seconds"
    METRICS = "metrics"
    # Evaluation only: per-class score counts, see fedcommon.metrics (no per-sample scores).
    HISTOGRAMS = "score_histograms"
    # A fused call (fedcommon.task_schema.EVALUATE_THEN_TRAIN): the evaluation of the weights
    # received, before training on them (its histograms are HISTOGRAMS).
    EVAL_N_SAMPLES = "eval_n_samples"
    EVAL_METRICS = "eval_metrics"


class WeightsError(PlatformError):
    """Weights that do not follow the exchange format or do not match the model."""


def from_state_dict(state_dict: Mapping[str, Any]) -> Weights:
    """A torch state dict -> ``{name: float32 ndarray}`` (detached, on CPU, copied)."""
    return {
        name: np.array(tensor.detach().cpu().numpy(), dtype=WEIGHT_DTYPE)
        for name, tensor in state_dict.items()
    }


def to_state_dict(weights: Mapping[str, Array]) -> dict[str, Any]:
    """``{name: ndarray}`` -> a torch state dict of float32 tensors."""
    import torch

    validate(weights)
    return {name: torch.from_numpy(np.array(array)) for name, array in weights.items()}


def validate(weights: Mapping[str, Any], reference: Mapping[str, Array] | None = None) -> None:
    """Check the exchange format, and the keys and shapes against ``reference`` when given.

    Raises:
        WeightsError: naming the offending parameter and what was expected.
    """
    if not isinstance(weights, Mapping) or not weights:
        raise WeightsError(f"Weights must be a non-empty dict of arrays, got {type(weights)}.")
    for name, array in weights.items():
        if not isinstance(array, np.ndarray):
            raise WeightsError(f"Parameter {name!r} is a {type(array).__name__}, not an ndarray.")
        if array.dtype != WEIGHT_DTYPE:
            raise WeightsError(f"Parameter {name!r} has dtype {array.dtype}; expected float32.")
        if not np.all(np.isfinite(array)):
            raise WeightsError(f"Parameter {name!r} holds NaN or infinite values.")
    if reference is None:
        return
    if set(weights) != set(reference):
        missing = sorted(set(reference) - set(weights))
        extra = sorted(set(weights) - set(reference))
        raise WeightsError(f"Weights do not match the model: missing {missing}, extra {extra}.")
    for name, array in weights.items():
        if array.shape != reference[name].shape:
            raise WeightsError(
                f"Parameter {name!r} has shape {array.shape}; the model expects "
                f"{reference[name].shape}."
            )


def n_parameters(weights: Mapping[str, Array]) -> int:
    return int(sum(array.size for array in weights.values()))
