"""The round loop: send the model to every site at once, aggregate what comes back,
checkpoint. One call per site and round: each call first evaluates the model it received
(the previous round's, so its global metrics arrive with the next round) and then trains on
it; after the last round one evaluate call scores the final model. What each site receives
and how replies become the next model is ``researcher.strategy`` (FedAvg, FedAvgM, FedAdam,
FedBN); the math is in ``researcher.aggregate``; sites are behind ``researcher.site.Site``.

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
from functools import partial
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
            self._timed(state, lambda r=round_index: self._round(state, r))  # type: ignore[misc]
        if checkpoint.unscored_round(state) is not None:  # the final model (or a resumed run's)
            self._timed(state, lambda: self._final_evaluation(state))
        outputs.write_all(self.out, state, exp.model_dump(), exp.rounds)
        return outputs.summary(state, exp.model_dump(), exp.rounds)

    def _timed(self, state: RunState, step: Callable[[], None]) -> None:
        started = time.perf_counter()
        step()
        state.wall_seconds += time.perf_counter() - started
        checkpoint.save(self.out, state)
        outputs.write_all(self.out, state, self.experiment.model_dump(), self.experiment.rounds)

    def _round(self, state: RunState, round_index: int) -> None:
        """One call per site: evaluate the previous round's model there (when it has not been
        evaluated yet), then train on it; aggregate what came back."""
        started = time.perf_counter()
        previous = checkpoint.unscored_round(state)
        trained = self._phase(state, round_index, "train", evaluate_first=previous is not None)
        if previous is not None:
            scored = {n: r.evaluation for n, r in trained.items() if r.evaluation is not None}
            self._record_evaluations(state, previous["round"], scored)
            self._evaluated(state, previous, scored)
        required = self.experiment.required_sites(len(self.sites))
        if len(trained) < required:
            raise TrainingError(
                f"Round {round_index}: only {len(trained)} site(s) trained ({sorted(trained)}), "
                f"fewer than min_sites={required}. Skipped sites and reasons "
                f"are in {self.out / 'metrics.csv'}; fix them (researcher status) and rerun "
                "the same command to resume."
            )
        self.strategy.aggregate(state, trained)
        wall, compute = time.perf_counter() - started, _slowest(trained)
        spent = [r.metrics["epsilon"] for r in trained.values() if "epsilon" in r.metrics]
        state.sites_used = sorted(set(state.sites_used) | set(trained))
        state.completed_rounds = round_index
        state.rounds.append({
            "round": round_index,
            "sites_trained": sorted(trained),
            "wall_s": round(wall, 4),
            "train_wall_s": round(wall, 4),
            "site_compute_s": round(compute, 4),
            "overhead_s": round(wall - compute, 4),
            "global": {},  # filled when this round's model is evaluated (next round's call)
            **({"epsilon": max(spent)} if spent else {}),
        })  # fmt: skip

    def _final_evaluation(self, state: RunState) -> None:
        """An evaluate call per site for the last round's model; its time counts in that
        round's wall and compute."""
        record = state.rounds[-1]
        started = time.perf_counter()
        evaluated = self._phase(state, record["round"], "evaluate")
        wall = time.perf_counter() - started
        record["wall_s"] = round(record["wall_s"] + wall, 4)
        record["site_compute_s"] = round(record["site_compute_s"] + _slowest(evaluated), 4)
        record["overhead_s"] = round(record["wall_s"] - record["site_compute_s"], 4)
        self._evaluated(state, record, evaluated)

    def _evaluated(
        self, state: RunState, record: dict[str, Any], replies: dict[str, Reply]
    ) -> None:
        """The global metrics of ``record``'s model from the sites' evaluations."""
        if not replies:
            return
        global_metrics = aggregate.pooled_metrics(
            [(r.metrics, r.n_samples, r.histograms) for r in replies.values()]
        )
        if "epsilon" in record:  # DP: the guarantee is per site; the global row shows the largest
            global_metrics = {**global_metrics, "epsilon": record["epsilon"]}
        state.rows.append(_row(record["round"], "global", "evaluate", "ok", "", global_metrics))
        record["global"], record["evaluated"] = global_metrics, True
        self.progress.round_done(record["round"], record)

    def _record_evaluations(
        self, state: RunState, round_index: int, scored: dict[str, Reply]
    ) -> None:
        for name, reply in scored.items():
            row = _row(round_index, name, "evaluate", "ok", "", reply.metrics)
            row.update(n_samples=reply.n_samples, compute_seconds=0.0)  # timed with training
            state.rows.append(row)

    def _phase(
        self, state: RunState, round_index: int, phase: str, evaluate_first: bool = False
    ) -> dict[str, Reply]:
        """Call every available site concurrently; record each outcome in ``state.rows``."""
        futures: dict[str, Future[Reply]] = {}
        for name, site in self.sites.items():
            reason = self._unavailable(name)
            if reason:
                state.rows.append(_row(round_index, name, phase, "skipped", reason, {}))
                self.progress.site_done(round_index, name, phase, "skipped")
                continue
            weights = self.strategy.weights_for(state, name)
            if phase == "train":
                call = partial(site.train, weights, round_index, evaluate_first=evaluate_first)
            else:
                call = partial(site.evaluate, weights, round_index)
            futures[name] = _in_thread(call)
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
