"""How the coordinator turns site replies into the next model: pure functions plus one
small holder the round loop calls twice (``weights_for`` before a call, ``aggregate`` after).

- FedAvg (McMahan et al. 2017): the sample-weighted mean of the site models.
- FedProx: the same aggregation; its proximal term is applied at the sites.
- FedAvgM and FedAdam (Hsu et al. 2019; Reddi et al. 2021, "Adaptive Federated
  Optimization"): the mean's change ``delta = mean - global`` is a pseudo-gradient fed to a
  server optimiser (heavy-ball momentum, or Adam without bias correction and with ``tau``).
- FedBN (Li et al. 2021): batch-norm layers (weight, bias and running statistics) stay at each
  site; the coordinator keeps every site's own copy and sends each site its own. The global
  model still averages them, as the starting point for a site that has none.

Normalisation statistics (running mean / var, batch counts) are always plainly averaged, never
moved by a server optimiser: they are estimates, not gradients' targets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from fedcommon.weights import WEIGHT_DTYPE, Array, Weights, WeightsError
from researcher.aggregate import require, weighted_average
from researcher.checkpoint import RunState
from researcher.site import Reply

BUFFER_SUFFIXES = ("running_mean", "running_var", "num_batches_tracked")
SERVER_OPTIMISERS = ("fedavgm", "fedadam")


@dataclass(frozen=True)
class ServerSettings:
    """The server-side optimiser; ``algorithm`` "fedavg"/"fedprox" means none."""

    algorithm: str = "fedavg"
    lr: float = 1.0
    momentum: float = 0.9  # FedAvgM's beta, FedAdam's beta1
    beta2: float = 0.99
    tau: float = 1e-3
    fedbn: bool = False


def is_buffer(name: str) -> bool:
    return name.endswith(BUFFER_SUFFIXES)


def norm_keys(weights: Mapping[str, object]) -> set[str]:
    """Every key of a batch-norm layer: the layers (name prefixes) that carry running stats."""
    layers = {name.rsplit(".", 1)[0] for name in weights if name.endswith(".running_mean")}
    return {name for name in weights if name.rsplit(".", 1)[0] in layers}


def personalise(global_weights: Weights, own: Mapping[str, Array] | None) -> Weights:
    """The model a site receives: the global weights with the site's own layers on top."""
    return {**global_weights, **(own or {})}


def server_step(
    current: Weights, mean: Weights, moments: Weights, settings: ServerSettings
) -> tuple[Weights, Weights]:
    """One server-optimiser step from ``current`` towards ``mean``; returns the new global
    weights and the new moments (keys ``m:<name>`` and, for FedAdam, ``v:<name>``).

    FedAvg/FedProx return ``mean`` unchanged. Buffers always take the mean.
    """
    if settings.algorithm not in SERVER_OPTIMISERS:
        return dict(mean), dict(moments)
    new, state = dict(mean), dict(moments)
    for name, value in mean.items():
        if is_buffer(name):
            continue
        delta = value.astype(np.float64) - current[name].astype(np.float64)
        m = settings.momentum * state.get(f"m:{name}", np.zeros_like(delta)) + (
            delta if settings.algorithm == "fedavgm" else (1 - settings.momentum) * delta
        )
        state[f"m:{name}"] = m.astype(WEIGHT_DTYPE)
        step = m
        if settings.algorithm == "fedadam":
            v = settings.beta2 * state.get(f"v:{name}", np.zeros_like(delta))
            v = v + (1 - settings.beta2) * delta**2
            state[f"v:{name}"] = v.astype(WEIGHT_DTYPE)
            step = m / (np.sqrt(v) + settings.tau)
        new[name] = (current[name] + settings.lr * step).astype(WEIGHT_DTYPE)
    return new, state


class Strategy:
    """Binds :class:`ServerSettings` to a run's state (global weights, per-site layers and
    server moments all live in :class:`RunState`, so they are checkpointed)."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings

    def weights_for(self, state: RunState, site: str) -> Weights:
        if not self.settings.fedbn:
            return state.weights
        return personalise(state.weights, state.site_weights.get(site))

    def aggregate(self, state: RunState, trained: Mapping[str, Reply]) -> None:
        """Update ``state`` from this round's training replies.

        Raises:
            WeightsError: no replies, or a zero total sample count (nothing to average).
        """
        if not trained:
            raise WeightsError("No site updates to aggregate: every site failed or was skipped.")
        updates = {name: require(reply.weights) for name, reply in trained.items()}
        mean = weighted_average(
            [(updates[n], trained[n].n_samples) for n in updates], sites=list(updates)
        )
        if self.settings.fedbn:
            own = norm_keys(mean)
            for name, weights in updates.items():
                state.site_weights[name] = {k: weights[k] for k in own}
        state.weights, state.server_moments = server_step(
            state.weights, mean, state.server_moments, self.settings
        )
