"""Federated averaging math: weighting, guards and consistency checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fedcommon.weights import WeightsError, from_state_dict, to_state_dict, validate
from researcher.aggregate import weighted_average, weighted_metrics


def weights(value: float, shape: tuple[int, ...] = (2, 3)) -> dict[str, np.ndarray]:
    return {
        "conv.weight": np.full(shape, value, dtype=np.float32),
        "fc.bias": np.full(2, value, dtype=np.float32),
    }


def test_average_is_weighted_by_sample_count() -> None:
    merged = weighted_average([(weights(1.0), 30), (weights(4.0), 10)])

    assert merged["conv.weight"] == pytest.approx(np.full((2, 3), 1.75))
    assert merged["fc.bias"].dtype == np.float32


def test_site_with_zero_samples_does_not_count() -> None:
    merged = weighted_average([(weights(2.0), 50), (weights(100.0), 0)])

    assert merged["fc.bias"] == pytest.approx([2.0, 2.0])


@pytest.mark.parametrize(
    ("updates", "message"),
    [
        pytest.param([], "No site updates", id="no-updates"),
        pytest.param([(weights(1.0), 0), (weights(2.0), 0)], "total 0", id="zero-total"),
        pytest.param([(weights(1.0), -3)], "must be >= 0", id="negative-count"),
        pytest.param([(weights(1.0), 5), (weights(1.0, (3, 2)), 5)], "has shape", id="shape"),
        pytest.param(
            [(weights(1.0), 5), ({"conv.weight": np.zeros((2, 3), np.float32)}, 5)],
            "missing \\['fc.bias'\\]",
            id="missing-key",
        ),
        pytest.param(
            [(weights(1.0), 5), ({k: v.astype(np.float64) for k, v in weights(1.0).items()}, 5)],
            "expected float32",
            id="dtype",
        ),
    ],
)
def test_bad_updates_are_refused_with_the_reason(updates: list, message: str) -> None:
    with pytest.raises(WeightsError, match=message):
        weighted_average(updates)


def test_nan_weights_are_refused() -> None:
    bad = weights(1.0)
    bad["fc.bias"][0] = np.nan

    with pytest.raises(WeightsError, match="NaN"):
        validate(bad)


def test_metrics_are_weighted_and_skip_nan() -> None:
    merged = weighted_metrics(
        [({"accuracy": 0.5, "auc": math.nan}, 10), ({"accuracy": 1.0, "auc": 0.8}, 30)]
    )

    assert merged["accuracy"] == pytest.approx(0.875)
    assert merged["auc"] == pytest.approx(0.8)


def test_state_dict_round_trip_is_float32_and_detached() -> None:
    import torch

    model = torch.nn.Linear(3, 2)
    exchanged = from_state_dict(model.state_dict())

    assert all(array.dtype == np.float32 for array in exchanged.values())
    restored = torch.nn.Linear(3, 2)
    restored.load_state_dict(to_state_dict(exchanged))
    assert torch.equal(restored.weight, model.weight)


def test_any_state_dict_averages_and_counters_stay_whole_numbers() -> None:
    north = {"encoder.0.weight": np.full((3, 1, 2, 2), 1.0, np.float32),
             "bn.running_var": np.full(3, 2.0, np.float32),
             "bn.num_batches_tracked": np.array(7.0, np.float32)}  # fmt: skip
    south = {k: v * 2 for k, v in north.items()}
    south["bn.num_batches_tracked"] = np.array(4.0, np.float32)

    merged = weighted_average([(north, 10), (south, 20)], sites=["north", "south"])

    assert merged["encoder.0.weight"] == pytest.approx(np.full((3, 1, 2, 2), 5 / 3))
    assert merged["bn.running_var"] == pytest.approx(np.full(3, 10 / 3))
    assert (
        merged["bn.num_batches_tracked"].shape == ()
        and float(merged["bn.num_batches_tracked"]) == 5.0
    )
    assert all(isinstance(v, np.ndarray) and v.dtype == np.float32 for v in merged.values())


@pytest.mark.parametrize(
    ("south", "message"),
    [
        pytest.param({"fc.bias": np.zeros(2, np.float32),
                      "conv.weight": np.zeros((3, 2), np.float32)},
                     r"Site south \(against north\): Parameter 'conv.weight' has shape \(3, 2\)",
                     id="shape"),
        pytest.param({"fc.bias": np.zeros(2, np.float32)},
                     r"Site south \(against north\): .*missing \['conv.weight'\]", id="key"),
    ],
)  # fmt: skip
def test_mismatched_sites_name_the_site_and_key(south: dict, message: str) -> None:
    with pytest.raises(WeightsError, match=message):
        weighted_average([(weights(1.0), 5), (south, 5)], sites=["north", "south"])
