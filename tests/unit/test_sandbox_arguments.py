"""Researcher-owned call arguments: plain values and float weights only, nothing pickled."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest

from datasite.sandbox.arguments import check_arguments
from datasite.sandbox.policy import FieldSpec, OutputSchema, WeightsSpec
from datasite.sandbox.verdict import Rule

WEIGHTS = {"fc.weight": np.zeros((2, 4), np.float32), "fc.bias": np.zeros(2, np.float32)}
CONFIG = {"model": {"width": 8, "norm": "batch"}, "lr": 0.01, "seed": 3, "mu": None}


def test_a_training_call_is_accepted() -> None:
    args = {"weights": WEIGHTS, "task": "train", "round_index": 2, "config": CONFIG}

    assert check_arguments(args) is None
    assert check_arguments({**args, "weights": {}}) is None


class Payload:
    def __reduce__(self) -> Any:
        return (print, ("owned",))


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        pytest.param(pickle.dumps(Payload()), Rule.ARGUMENT_TYPE, id="pickle-bytes"),
        pytest.param(bytearray(b"x"), Rule.ARGUMENT_TYPE, id="bytearray"),
        pytest.param(Payload(), Rule.ARGUMENT_TYPE, id="object"),
        pytest.param({"w": Payload()}, Rule.ARGUMENT_TYPE, id="object-in-dict"),
        pytest.param(np.zeros(3), Rule.ARGUMENT_TYPE, id="bare-array"),
        pytest.param({"w": np.array([object()])}, Rule.ARGUMENT_TYPE, id="object-array"),
        pytest.param({"w": np.zeros(3, np.int64)}, Rule.ARGUMENT_TYPE, id="int-weights"),
        pytest.param("x" * 300, Rule.ARGUMENT_TOO_LARGE, id="long-string"),
        pytest.param("\x80\x04\x95", Rule.ARGUMENT_TYPE, id="unprintable-string"),
        pytest.param(float("nan"), Rule.ARGUMENT_TYPE, id="nan"),
        pytest.param(list(range(100)), Rule.ARGUMENT_TOO_LARGE, id="long-list"),
        pytest.param({"a": {"b": {"c": {"d": {"e": {}}}}}}, Rule.ARGUMENT_TOO_LARGE, id="deep"),
    ],
)
def test_refused_arguments(value: Any, rule: Rule) -> None:
    refusal = check_arguments({"task": "train", "extra": value})

    assert refusal is not None and refusal.rule is rule, refusal
    assert "extra" in refusal.detail


def test_weights_must_match_declared_shapes() -> None:
    schema = OutputSchema(
        fields={
            "weights": FieldSpec(
                kind="weights", weights=WeightsSpec(shapes={"fc.weight": (2, 4), "fc.bias": (2,)})
            )
        },
        byte_budget=1000,
    )
    other = {**WEIGHTS, "fc.bias": np.zeros(3, np.float32)}

    assert check_arguments({"weights": WEIGHTS}, schema) is None
    refusal = check_arguments({"weights": other}, schema)
    assert refusal is not None and refusal.rule is Rule.ARGUMENT_SHAPE
