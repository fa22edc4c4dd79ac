"""Differential privacy both sides agree on: the experiment's privacy settings and the cost a
request declares at one site, computed by Opacus' accountant (never by hand).

The researcher turns ``[privacy]`` (target epsilon over ALL approved training rounds) into a
:class:`PrivacyPlan` per site, from that site's training-set size: the Poisson sample rate
and the steps Opacus will take, the noise multiplier that reaches the target, and the epsilon
after each round. The plan travels inside the request's constant ``config`` (key
``"privacy"``), so the admin sees it and the caller cannot change it; the site recomputes it
with the same accountant (:func:`check_plan`) before it trusts the declared cost.

Composition across requests is sequential: a dataset's ledger adds epsilons (and deltas).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from fedcommon.errors import PlatformError

CONFIG_KEY = "privacy"  # where the plan sits in the site function's constant config
Accountant = Literal["rdp", "prv"]
TOLERANCE = 1e-6  # relative: a declared epsilon must match the site's own recomputation


class PrivacyError(PlatformError):
    """A privacy setting or a declared privacy cost is unusable."""

    exit_code = 9


class PrivacySettings(BaseModel):
    """The experiment's ``[privacy]`` table."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    target_epsilon: float = Field(gt=0, le=100)
    delta: float | None = Field(default=None, gt=0, lt=1)  # None: 1/n at each site
    max_grad_norm: float = Field(default=1.0, gt=0)
    accountant: Accountant = "rdp"


class PrivacyPlan(BaseModel):
    """What one request declares at one site (plain data: it travels as a syft Constant)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    accountant: Accountant
    noise_multiplier: float = Field(gt=0)
    max_grad_norm: float = Field(gt=0)
    batch_size: int = Field(ge=1)  # the DataLoader's batch size; Poisson rate 1/len(loader)
    sample_rate: float = Field(gt=0, le=1)
    steps_per_round: int = Field(ge=1)
    rounds: int = Field(ge=1)
    delta: float = Field(gt=0, lt=1)
    epsilon: float = Field(ge=0)  # after all ``rounds`` training rounds
    epsilon_by_round: tuple[float, ...]  # cumulative, after round 1..rounds

    def spend_for_round(self, index: int) -> float:
        """The epsilon that training round ``index`` (1-based) adds."""
        previous = self.epsilon_by_round[index - 2] if index > 1 else 0.0
        return self.epsilon_by_round[index - 1] - previous


def epsilon_after(
    noise_multiplier: float, sample_rate: float, steps: int, delta: float, accountant: Accountant
) -> float:
    """Opacus' epsilon for ``steps`` noisy steps at ``sample_rate`` (delta fixed)."""
    import warnings

    from opacus.accountants import create_accountant

    if steps == 0:
        return 0.0
    acct = create_accountant(mechanism=accountant)
    acct.history = [(noise_multiplier, sample_rate, steps)]
    with warnings.catch_warnings():  # "optimal order is the largest alpha": still a valid bound
        warnings.simplefilter("ignore", UserWarning)
        return float(acct.get_epsilon(delta=delta))


def loader_shape(n: int, batch_size: int) -> tuple[float, int]:
    """(sample_rate, batches per epoch) as Opacus derives them from a DataLoader of ``n``."""
    if n < 1:
        raise PrivacyError("The training split is empty: there is nothing to train with DP.")
    batches = math.ceil(n / min(batch_size, n))
    return 1.0 / batches, batches


def plan(
    settings: PrivacySettings, n: int, batch_size: int, local_epochs: int, rounds: int
) -> PrivacyPlan:
    """The noise that reaches ``settings.target_epsilon`` after ``rounds`` rounds at a site
    with ``n`` training samples, and the epsilon declared for each round."""
    import warnings

    from opacus.accountants.utils import get_noise_multiplier

    sample_rate, batches = loader_shape(n, batch_size)
    steps_per_round = batches * local_epochs
    delta = settings.delta if settings.delta is not None else 1.0 / n
    try:
        with warnings.catch_warnings():  # "optimal order is the largest alpha": still a bound
            warnings.simplefilter("ignore", UserWarning)
            noise = float(
                get_noise_multiplier(
                    target_epsilon=settings.target_epsilon,
                    target_delta=delta,
                    sample_rate=sample_rate,
                    steps=steps_per_round * rounds,
                    accountant=settings.accountant,
                )
            )
    except ValueError as err:
        raise PrivacyError(
            f"No noise level reaches epsilon {settings.target_epsilon} with delta {delta:.3g} "
            f"over {rounds} rounds at n={n} ({err}). Raise target_epsilon or delta, or train "
            "fewer rounds."
        ) from None
    shape = (min(batch_size, n), sample_rate, steps_per_round)
    return _with_schedule(settings, noise, shape, rounds, delta)


def _with_schedule(
    settings: PrivacySettings, noise: float, shape: tuple[int, float, int], rounds: int,
    delta: float,
) -> PrivacyPlan:  # fmt: skip
    batch_size, sample_rate, steps_per_round = shape
    by_round = tuple(
        epsilon_after(noise, sample_rate, steps_per_round * k, delta, settings.accountant)
        for k in range(1, rounds + 1)
    )
    return PrivacyPlan(
        accountant=settings.accountant,
        noise_multiplier=noise,
        max_grad_norm=settings.max_grad_norm,
        batch_size=batch_size,
        sample_rate=sample_rate,
        steps_per_round=steps_per_round,
        rounds=rounds,
        delta=delta,
        epsilon=by_round[-1],
        epsilon_by_round=by_round,
    )


def check_plan(plan: PrivacyPlan, n: int) -> None:
    """Recompute the plan for a site with ``n`` training samples: the sample rate and steps
    Opacus will use, and every declared epsilon with the accountant.

    Raises:
        PrivacyError: naming what differs from the site's own computation.
    """
    sample_rate, batches = loader_shape(n, plan.batch_size)
    if abs(sample_rate - plan.sample_rate) > 1e-12 or plan.steps_per_round % batches:
        raise PrivacyError(
            f"The plan's sample rate {plan.sample_rate:.6g} / {plan.steps_per_round} steps per "
            f"round do not fit this site's {n} training samples at batch size "
            f"{plan.batch_size} (sample rate {sample_rate:.6g}, {batches} batches per epoch)."
        )
    if len(plan.epsilon_by_round) != plan.rounds:
        raise PrivacyError(
            f"The plan declares {len(plan.epsilon_by_round)} per-round epsilons for "
            f"{plan.rounds} rounds."
        )
    for k, declared in enumerate(plan.epsilon_by_round, start=1):
        steps = plan.steps_per_round * k
        actual = epsilon_after(
            plan.noise_multiplier, plan.sample_rate, steps, plan.delta, plan.accountant
        )
        if abs(actual - declared) > TOLERANCE * max(1.0, actual):
            raise PrivacyError(
                f"Declared epsilon {declared:.6g} after round {k} does not match the "
                f"accountant's {actual:.6g} for these settings."
            )
    if abs(plan.epsilon - plan.epsilon_by_round[-1]) > TOLERANCE * max(1.0, plan.epsilon):
        raise PrivacyError("The declared total epsilon is not the epsilon after the last round.")
