"""Server-side strategies: FedAvgM / FedAdam steps, FedBN per-site layers, zero-weight guard."""

from __future__ import annotations

import numpy as np
import pytest

from fedcommon.weights import WeightsError
from researcher.checkpoint import RunState
from researcher.site import Reply
from researcher.strategy import ServerSettings, Strategy, norm_keys, server_step


def model(value: float) -> dict[str, np.ndarray]:
    return {
        "0.weight": np.full((2, 2), value, dtype=np.float32),
        "1.weight": np.full(2, value, dtype=np.float32),
        "1.bias": np.full(2, value, dtype=np.float32),
        "1.running_mean": np.full(2, value, dtype=np.float32),
        "1.running_var": np.full(2, value, dtype=np.float32),
        "1.num_batches_tracked": np.full((), value, dtype=np.float32),
        "4.weight": np.full((2, 2), value, dtype=np.float32),
    }


def reply(value: float, n: int) -> Reply:
    return Reply(n_samples=n, compute_seconds=0.0, weights=model(value))


def test_norm_keys_are_the_layers_with_running_statistics() -> None:
    assert norm_keys(model(0.0)) == {
        "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked"
    }  # fmt: skip


def test_fedavg_returns_the_mean_unchanged() -> None:
    new, moments = server_step(model(0.0), model(1.0), {}, ServerSettings("fedavg"))

    assert new["0.weight"] == pytest.approx(np.ones((2, 2))) and moments == {}


def test_fedavgm_momentum_accumulates_the_averaged_update() -> None:
    settings = ServerSettings("fedavgm", lr=1.0, momentum=0.5)

    first, moments = server_step(model(0.0), model(1.0), {}, settings)
    second, _ = server_step(first, model(2.0), moments, settings)

    assert first["0.weight"][0, 0] == pytest.approx(1.0)
    assert second["0.weight"][0, 0] == pytest.approx(1.0 + 0.5 * 1.0 + 1.0)
    assert second["1.running_mean"][0] == pytest.approx(2.0)  # buffers take the plain mean


def test_fedadam_step_follows_reddi_et_al() -> None:
    settings = ServerSettings("fedadam", lr=0.1, momentum=0.9, beta2=0.99, tau=1e-3)

    new, moments = server_step(model(0.0), model(0.5), {}, settings)

    m, v = 0.1 * 0.5, 0.01 * 0.25
    assert moments["m:0.weight"][0, 0] == pytest.approx(m)
    assert moments["v:0.weight"][0, 0] == pytest.approx(v)
    assert new["0.weight"][0, 0] == pytest.approx(0.1 * m / (np.sqrt(v) + 1e-3), rel=1e-5)
    assert new["1.running_var"][0] == pytest.approx(0.5)


def test_fedbn_keeps_each_sites_norm_layers_and_sends_them_back() -> None:
    state, strategy = RunState("f", 0, model(0.0)), Strategy(ServerSettings(fedbn=True))

    strategy.aggregate(state, {"a": reply(1.0, 10), "b": reply(3.0, 30)})

    for_a, for_b = strategy.weights_for(state, "a"), strategy.weights_for(state, "b")
    assert for_a["0.weight"][0, 0] == for_b["0.weight"][0, 0] == pytest.approx(2.5)
    assert for_a["1.running_mean"][0] == 1.0 and for_b["1.bias"][0] == 3.0
    assert strategy.weights_for(state, "new")["1.weight"][0] == pytest.approx(2.5)


def test_without_fedbn_every_site_gets_the_global_model() -> None:
    state, strategy = RunState("f", 0, model(0.0)), Strategy(ServerSettings(fedbn=False))

    strategy.aggregate(state, {"a": reply(1.0, 10), "b": reply(3.0, 30)})

    assert strategy.weights_for(state, "a")["1.running_mean"][0] == pytest.approx(2.5)


@pytest.mark.parametrize(
    "replies",
    [pytest.param({}, id="no-replies"), pytest.param({"a": reply(1.0, 0)}, id="zero-weight")],
)
def test_nothing_to_aggregate_is_an_error(replies: dict[str, Reply]) -> None:
    state = RunState("f", 0, model(0.0))

    with pytest.raises(WeightsError, match=r"every site failed|nothing to average"):
        Strategy(ServerSettings("fedadam")).aggregate(state, replies)
    assert state.weights["0.weight"][0, 0] == 0.0
