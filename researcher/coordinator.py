"""The round loop: send the model to every site at once, aggregate what comes back, evaluate,
checkpoint. What each site receives and how replies become the next model is
``researcher.strategy`` (FedAvg, FedAvgM, FedAdam, FedBN); the math is in
``researcher.aggregate``; sites are behind ``researcher.site.Site``.

Each call runs in its own daemon thread with a deadline of ``site_timeout_s`` (syft's
blocking calls never time out, and a daemon thread cannot keep the program alive at exit).
A site that fails or misses its deadline is skipped for the round and recorded; a site that
is denied or has used up its approval is dropped for the rest of the run; a site still busy
with a timed-out call is skipped until it returns. The run stops when fewer than
``min_sites`` sites (default: a majority) train successfully in a round.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import wait as wait_all
from pathlib import Path
from typing import Any, Protocol

from fedcommon.weights import Weights, WeightsError
from researcher import aggregate, checkpoint, outputs
from researcher.checkpoint import RunState
from researcher.config import ExperimentConfig
from researcher.errors import CallFailure, SiteCallError, TrainingError
from researcher.site import Reply, Site
from researcher.strategy import Strategy

log = logging.getLogger(__name__)


class Progress(Protocol):
    def start(self, rounds: int, sites: Sequence[str], first_round: int) -> None: ...
    def site_done(self, round_index: int, site: str, phase: str, status: str) -> None: ...
    def round_done(self, round_index: int, record: dict[str, Any]) -> None: ...


class _Quiet:
    def start(self, rounds: int, sites: Sequence[str], first_round: int) -> None: ...
    def site_done(self, round_index: int, site: str, phase: str, status: str) -> None: ...
    def round_done(self, round_index: int, record: dict[str, Any]) -> None: ...


def _in_thread(call: Callable[[], Reply]) -> Future[Reply]:
    future: Future[Reply] = Future()

    def work() -> None:
        try:
            future.set_result(call())
        except BaseException as err:  # noqa: BLE001 - every failure becomes the site's reason
            future.set_exception(err)

    threading.Thread(target=work, daemon=True).start()
    return future


def failure(err: BaseException) -> tuple[CallFailure, str]:
    """The failure code and a one-line reason for a failed call (no remote traceback)."""
    if isinstance(err, SiteCallError):
        return err.code, err.reason
    if isinstance(err, WeightsError):
        return CallFailure.INVALID_REPLY, f"invalid reply: {err.message}"
    return CallFailure.OTHER, f"{type(err).__name__} in the call"


class Coordinator:
    """Runs ``experiment.rounds`` rounds over ``sites``, checkpointing into ``out``."""

    def __init__(
        self,
        sites: Sequence[Site],
        experiment: ExperimentConfig,
        out: Path,
        progress: Progress | None = None,
    ) -> None:
        self.sites = {site.name: site for site in sites}
        self.experiment = experiment
        self.out = Path(out)
        self.progress = progress or _Quiet()
        self.dropped: dict[str, str] = {}
        self.busy: dict[str, Future[Reply]] = {}
        self.strategy = Strategy(experiment.server_settings())

    def run(self, initial: Weights) -> dict[str, Any]:
        """Train (or resume) to the planned number of rounds; returns the summary dict."""
        exp = self.experiment
        state = checkpoint.start_or_resume(self.out, exp.fingerprint(), initial)
        if state.completed_rounds:
            log.info("resuming %s after round %d", exp.name, state.completed_rounds)
        self.progress.start(exp.rounds, list(self.sites), state.completed_rounds + 1)
        for round_index in range(state.completed_rounds + 1, exp.rounds + 1):
            started = time.perf_counter()
            record = self._round(state, round_index)
            state.wall_seconds += time.perf_counter() - started
            checkpoint.save(self.out, state)
            outputs.write_all(self.out, state, exp.model_dump(), exp.rounds)
            self.progress.round_done(round_index, record)
        outputs.write_all(self.out, state, exp.model_dump(), exp.rounds)
        return outputs.summary(state, exp.model_dump(), exp.rounds)

    def _round(self, state: RunState, round_index: int) -> dict[str, Any]:
        started = time.perf_counter()
        trained = self._phase(state, round_index, "train")
        required = self.experiment.required_sites(len(self.sites))
        if len(trained) < required:
            raise TrainingError(
                f"Round {round_index}: only {len(trained)} site(s) trained ({sorted(trained)}), "
                f"fewer than min_sites={required}. Skipped sites and reasons "
                f"are in {self.out / 'metrics.csv'}; fix them (researcher status) and rerun "
                "the same command to resume."
            )
        self.strategy.aggregate(state, trained)
        train_wall = time.perf_counter() - started
        evaluated = self._phase(state, round_index, "evaluate")
        wall = time.perf_counter() - started
        compute = _slowest(trained) + _slowest(evaluated)
        global_metrics = aggregate.pooled_metrics(
            [(r.metrics, r.n_samples, r.histograms) for r in evaluated.values()]
        )
        spent = [r.metrics["epsilon"] for r in trained.values() if "epsilon" in r.metrics]
        if spent:  # DP: the guarantee is per site; the global row shows the largest
            global_metrics = {**global_metrics, "epsilon": max(spent)}
        state.rows.append(_row(round_index, "global", "evaluate", "ok", "", global_metrics))
        state.sites_used = sorted(set(state.sites_used) | set(trained))
        state.completed_rounds = round_index
        record = {
            "round": round_index,
            "sites_trained": sorted(trained),
            "wall_s": round(wall, 4),
            "train_wall_s": round(train_wall, 4),
            "site_compute_s": round(compute, 4),
            "overhead_s": round(wall - compute, 4),
            "global": global_metrics,
        }
        state.rounds.append(record)
        return record

    def _phase(self, state: RunState, round_index: int, phase: str) -> dict[str, Reply]:
        """Call every available site concurrently; record each outcome in ``state.rows``."""
        futures: dict[str, Future[Reply]] = {}
        for name, site in self.sites.items():
            reason = self._unavailable(name)
            if reason:
                state.rows.append(_row(round_index, name, phase, "skipped", reason, {}))
                self.progress.site_done(round_index, name, phase, "skipped")
                continue
            call = site.train if phase == "train" else site.evaluate
            weights = self.strategy.weights_for(state, name)
            futures[name] = _in_thread(lambda c=call, w=weights: c(w, round_index))  # type: ignore[misc]
        wait_all(futures.values(), timeout=self.experiment.site_timeout_s)
        replies: dict[str, Reply] = {}
        for name, future in futures.items():
            reply = self._collect(state, round_index, phase, name, future)
            if reply is not None:
                replies[name] = reply
        return replies

    def _collect(
        self, state: RunState, round_index: int, phase: str, name: str, future: Future[Reply]
    ) -> Reply | None:
        if not future.done():
            self.busy[name] = future
            reason = f"no reply within {self.experiment.site_timeout_s:g} s"
            self._failed(state, round_index, phase, name, (CallFailure.TIMEOUT, reason))
            return None
        error = future.exception()
        if error is not None:
            self._failed(state, round_index, phase, name, failure(error))
            return None
        reply = future.result()
        try:
            if phase == "train":
                aggregate.check_consistent(aggregate.require(reply.weights), state.weights)
        except WeightsError as err:
            self._failed(state, round_index, phase, name, failure(err))
            return None
        row = _row(round_index, name, phase, "ok", "", reply.metrics)
        row.update(n_samples=reply.n_samples, compute_seconds=round(reply.compute_seconds, 4))
        state.rows.append(row)
        self.progress.site_done(round_index, name, phase, "ok")
        return reply

    def _failed(
        self, state: RunState, round_index: int, phase: str, name: str,
        why: tuple[CallFailure, str],
    ) -> None:  # fmt: skip
        code, reason = why
        log.warning("round %d %s at %s skipped (%s): %s", round_index, phase, name, code, reason)
        if code.permanent:
            self.dropped[name] = reason
        state.rows.append(_row(round_index, name, phase, "failed", reason, {}))
        self.progress.site_done(round_index, name, phase, "failed")
        return None

    def _unavailable(self, name: str) -> str:
        if name in self.dropped:
            return f"dropped for this run ({self.dropped[name]})"
        pending = self.busy.get(name)
        if pending is not None and not pending.done():
            return "still busy with a call that missed its deadline"
        self.busy.pop(name, None)
        return ""


def _slowest(replies: dict[str, Reply]) -> float:
    return max((reply.compute_seconds for reply in replies.values()), default=0.0)


def _row(
    round_index: int, site: str, phase: str, status: str, reason: str, metrics: dict[str, float]
) -> dict[str, Any]:
    return {"round": round_index, "site": site, "phase": phase, "status": status,
            "reason": reason, **metrics}  # fmt: skip
