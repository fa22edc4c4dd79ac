"""Why a site call failed is a code (CallFailure); the coordinator decides on the code alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fedcommon.weights import Weights
from researcher.config import ExperimentConfig, ModelConfig
from researcher.coordinator import Coordinator
from researcher.errors import CallFailure, SiteCallError
from researcher.inmemory import InMemorySite, initial_weights
from researcher.site import Reply
from researcher.syftio.code import classify
from researcher.toydata import site_split


class SyftLikeError(Exception):
    def __init__(self, public_message: str) -> None:
        super().__init__(public_message)
        self.public_message = public_message


@pytest.mark.parametrize(
    ("message", "code", "reason"),
    [
        pytest.param(
            "Code status on server 'x' is 'UserCodeStatus.DENIED'. Reason: not this quarter.",
            CallFailure.DENIED, "denied by the site admin: not this quarter", id="denied",
        ),
        pytest.param(
            "Execution denied: Output policy is not valid", CallFailure.USED_UP,
            "approved executions used up (6 of 6)", id="used-up",
        ),
        pytest.param(
            "Your code is waiting for approval", CallFailure.PENDING,
            "pending approval by the site admin", id="pending",
        ),
        pytest.param(
            "Exception encountered while running fl_x, please contact the Server Admin",
            CallFailure.FAILED_AT_SITE, "the function failed at the site (see its log)",
            id="failed-at-site",
        ),
        pytest.param(
            "Request 1a2b3c4d has spent its privacy share: remaining epsilon 0.1",
            CallFailure.PRIVACY_SPENT, "refused by the site's privacy budget (used up): Request "
            "1a2b3c4d has spent its privacy share: remaining epsilon 0.1", id="privacy-spent",
        ),
        pytest.param(
            "boom\nserver_trace: secret stack", CallFailure.OTHER, "call failed: boom", id="other"
        ),
    ],
)  # fmt: skip
def test_syft_messages_become_codes(message: str, code: CallFailure, reason: str) -> None:
    assert classify(SyftLikeError(message), budget=6) == (code, reason)


class RefusingSite:
    """Trains like a real in-memory site, but every call is refused with ``code``."""

    def __init__(self, inner: InMemorySite, code: CallFailure) -> None:
        self.name, self.inner, self.code, self.calls = inner.name, inner, code, 0

    def train(self, weights: Weights, round_index: int, evaluate_first: bool = False) -> Reply:
        self.calls += 1
        raise SiteCallError(self.name, "the admin said so", self.code)

    def evaluate(self, weights: Weights, round_index: int) -> Reply:
        return self.inner.evaluate(weights, round_index)


@pytest.mark.parametrize(
    ("code", "calls"),
    [(CallFailure.DENIED, 1), (CallFailure.PRIVACY_SPENT, 1), (CallFailure.PENDING, 3)],
    ids=["denied", "privacy-spent", "pending"],
)
def test_only_a_permanent_code_drops_the_site(
    tmp_path: Path, code: CallFailure, calls: int
) -> None:
    settings: dict[str, Any] = {"rounds": 3, "lr": 0.01, "batch_size": 16, "local_epochs": 1}
    exp = ExperimentConfig(
        name="unit", dataset="toy", model=ModelConfig(width=4, depth=1, image_size=16),
        min_sites=1, **settings,
    )  # fmt: skip
    sites = [InMemorySite(f"s{i}", **site_split(32, 16, 16, seed=i), config=exp.site_config())
             for i in range(2)]  # fmt: skip
    refusing = RefusingSite(sites[1], code)

    Coordinator([sites[0], refusing], exp, tmp_path).run(initial_weights(exp.site_config()))

    assert refusing.calls == calls


class _Code:
    def __init__(self, failure: BaseException | None) -> None:
        self.failure = failure

    def __getattr__(self, name: str) -> Any:
        if self.failure is not None:
            raise self.failure
        return lambda **kwargs: None


@pytest.mark.parametrize(
    ("failure", "found"),
    [
        pytest.param(None, True, id="approved"),
        pytest.param(AttributeError("no such function"), False, id="not-submitted"),
        pytest.param(ConnectionError("site went away"), False, id="site-failed"),
    ],
)
def test_looking_up_the_function_before_the_rounds_never_stops_a_run(
    failure: BaseException | None, found: bool
) -> None:
    """train looks each site's function up before round 1; a site that fails there is met
    again by its round's call and skipped for that round, so the look-up must not raise."""
    from types import SimpleNamespace

    from researcher.syftio.code import look_up

    client = SimpleNamespace(code=_Code(failure))
    exp = ExperimentConfig(name="x", dataset="d", model=ModelConfig(width=8, depth=2))
    assert look_up(client, exp, None) is found


def test_the_site_is_asked_how_it_takes_calls_before_the_rounds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """look_up (before round 1) asks the site once whether it takes inline arguments (an HTTP
    request, ~0.1 s); the rounds' calls reuse that answer instead of paying it in round 1."""
    from types import SimpleNamespace

    from researcher.syftio import code
    from researcher.syftio.site import SyftSite

    asked: list[object] = []
    calls: list[bool] = []
    monkeypatch.setattr(code, "takes_inline_arguments", lambda c: asked.append(c) or True)
    monkeypatch.setattr(code, "call", lambda *args, **kw: calls.append(args[5]) or {"n_samples": 3})
    exp = ExperimentConfig(name="x", dataset="d", model=ModelConfig(width=8, depth=2))
    site = SyftSite("a", SimpleNamespace(code=_Code(None)), {}, exp)
    assert site.look_up() is True and len(asked) == 1
    weights = initial_weights(exp.site_config())
    for round_index in range(2):
        assert site.train(weights, round_index).n_samples == 3
    assert len(asked) == 1 and calls == [True, True]  # inline, and not asked again
