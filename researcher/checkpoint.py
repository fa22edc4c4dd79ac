"""Checkpoint after every round and resume from the last complete one.

``--out`` holds ``checkpoint.json`` (rounds done, history, timings) and the global weights of
the last complete round in ``weights_round_NNN.npz``. The weights file is written first and the
JSON last (each through a temporary file and an atomic rename), so an interruption at any
moment leaves the previous complete round readable.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fedcommon.weights import Weights, validate
from researcher.errors import TrainingError

STATE_FILE = "checkpoint.json"


@dataclass
class RunState:
    """Everything needed to continue a run: weights of the last complete round and history."""

    fingerprint: str
    completed_rounds: int
    weights: Weights
    rows: list[dict[str, Any]] = field(default_factory=list)
    rounds: list[dict[str, Any]] = field(default_factory=list)
    wall_seconds: float = 0.0
    sites_used: list[str] = field(default_factory=list)
    # FedBN: each site's own normalisation layers; FedAvgM/FedAdam: the server's moments.
    site_weights: dict[str, Weights] = field(default_factory=dict)
    server_moments: Weights = field(default_factory=dict)


SEP = "::"  # separates the prefix of per-site layers and server moments in the npz


def _extra_arrays(state: RunState) -> dict[str, Any]:
    arrays = {f"moment{SEP}{k}": v for k, v in state.server_moments.items()}
    for site, weights in state.site_weights.items():
        arrays |= {f"site{SEP}{site}{SEP}{k}": v for k, v in weights.items()}
    return arrays


def _restore_extra(state: RunState, stored: dict[str, Any]) -> None:
    for key, value in stored.items():
        kind, _, rest = key.partition(SEP)
        if kind == "moment":
            state.server_moments[rest] = value
        elif kind == "site":
            site, _, name = rest.partition(SEP)
            state.site_weights.setdefault(site, {})[name] = value


def _atomic_write(path: Path, write: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def save(out: Path, state: RunState) -> None:
    out.mkdir(parents=True, exist_ok=True)
    weights_name = f"weights_round_{state.completed_rounds:03d}.npz"

    def write_weights(tmp: Path) -> None:
        with tmp.open("wb") as handle:
            np.savez(handle, **state.weights, **_extra_arrays(state))

    _atomic_write(out / weights_name, write_weights)
    arrays = ("weights", "site_weights", "server_moments")
    meta = {k: v for k, v in asdict(state).items() if k not in arrays}
    meta["weights_file"] = weights_name
    _atomic_write(out / STATE_FILE, lambda tmp: tmp.write_text(json.dumps(meta, indent=1)))
    for old in out.glob("weights_round_*.npz"):
        if old.name != weights_name:
            old.unlink()


def load(out: Path, fingerprint: str) -> RunState | None:
    """The saved state in ``out``, None when there is none.

    Raises:
        TrainingError: ``out`` holds a run of a different experiment, or a damaged checkpoint.
    """
    path = out / STATE_FILE
    if not path.exists():
        return None
    try:
        meta = json.loads(path.read_text())
        with np.load(out / meta.pop("weights_file")) as archive:
            stored = {name: archive[name] for name in archive.files}
        weights = {k: v for k, v in stored.items() if SEP not in k}
        validate(weights)
    except (OSError, ValueError, KeyError) as err:
        raise TrainingError(
            f"The checkpoint in {out} cannot be read ({type(err).__name__}: {err}). Move the "
            "folder away to start over, or restore it from a backup."
        ) from None
    if meta["fingerprint"] != fingerprint:
        raise TrainingError(
            f"{out} holds a run of a different experiment (fingerprint {meta['fingerprint']}, "
            f"this one is {fingerprint}). Use a new --out folder for a changed experiment."
        )
    state = RunState(weights=weights, **meta)
    _restore_extra(state, stored)
    return state


def start_or_resume(out: Path, fingerprint: str, initial: Weights) -> RunState:
    """Resume from ``out`` when it holds this experiment's checkpoint, else start fresh."""
    state = load(out, fingerprint)
    return state if state is not None else RunState(fingerprint, 0, initial)


def unscored_round(state: RunState) -> dict[str, Any] | None:
    """The last round's record while its model has not been evaluated yet, else None
    (checkpoints of older runs say so by their global metrics)."""
    last = state.rounds[-1] if state.rounds else None
    return last if last is not None and not (last.get("evaluated") or last["global"]) else None
