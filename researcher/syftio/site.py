"""A datasite reached through syft, as a :class:`researcher.site.Site`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fedcommon.task_schema import EVALUATE_THEN_TRAIN
from fedcommon.weights import Weights
from researcher.config import ExperimentConfig
from researcher.errors import CallFailure, SiteCallError
from researcher.site import Reply
from researcher.syftio import code
from researcher.task import SiteTask, load_task


@dataclass
class SyftSite:
    """Calls the approved site function of ``experiment`` at one datasite."""

    name: str
    client: Any
    assets: Mapping[str, Any]
    experiment: ExperimentConfig
    task: SiteTask | None = field(default=None)
    inline: bool | None = field(default=None)  # the site stores a call's arguments itself

    def __post_init__(self) -> None:
        if self.task is None:
            self.task = load_task(self.experiment.task)

    def look_up(self) -> bool:
        """Find the approved function before the first call (see :func:`code.look_up`), and
        ask the site how it takes calls (``/site/health``): neither is paid in round 1."""
        if self.inline is None:
            self.inline = code.takes_inline_arguments(self.client)
        return code.look_up(self.client, self.experiment, self.task)

    def _call(self, weights: Weights, task: str, round_index: int) -> Reply:
        if self.inline is None:
            self.inline = code.takes_inline_arguments(self.client)
        raw = code.call(
            self.client,
            self.name,
            self.assets,
            self.experiment,
            self.task,
            self.inline,
            weights=weights,
            task=task,
            round_index=round_index,
        )
        if not isinstance(raw, Mapping):
            raise SiteCallError(
                self.name,
                f"unexpected reply of type {type(raw).__name__}",
                CallFailure.INVALID_REPLY,
            )
        return Reply.from_plain(raw)

    def train(self, weights: Weights, round_index: int, evaluate_first: bool = False) -> Reply:
        return self._call(weights, EVALUATE_THEN_TRAIN if evaluate_first else "train", round_index)

    def evaluate(self, weights: Weights, round_index: int) -> Reply:
        return self._call(weights, "evaluate", round_index)
