"""The egress policy: which outputs leave the site and which are refused, with which rule."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from datasite.sandbox.policy import Context, FieldSpec, OutputSchema, WeightsSpec, check_output
from datasite.sandbox.verdict import Rule

WEIGHTS = {"conv.weight": np.ones((8, 1, 3, 3), np.float32), "fc.bias": np.zeros(2, np.float32)}
ASSETS = {"images": (40, 1, 16, 16), "labels": (40,)}
CTX = Context(arguments={"weights": WEIGHTS, "task": "train"}, asset_shapes=ASSETS)
SCHEMA = OutputSchema(
    fields={
        "weights": FieldSpec(kind="weights", weights=WeightsSpec(like_argument="weights")),
        "n_samples": FieldSpec(kind="int"),
        "compute_seconds": FieldSpec(kind="float"),
        "metrics": FieldSpec(kind="metrics", max_keys=4),
    },
    byte_budget=4096,
)


def trained(**extra: Any) -> dict[str, Any]:
    new = {k: v + 0.5 for k, v in WEIGHTS.items()}
    return {
        "weights": new,
        "n_samples": 40,
        "compute_seconds": 1.5,
        "metrics": {"train_loss": 0.3},
        **extra,
    }


@pytest.mark.parametrize("schema", [None, SCHEMA], ids=["no-schema", "schema"])
def test_ordinary_training_and_evaluation_replies_leave(schema: OutputSchema | None) -> None:
    evaluation = {
        "n_samples": 40,
        "compute_seconds": 0.1,
        "metrics": {"loss": 0.5, "accuracy": 0.8, "auc": float("nan")},
    }

    assert check_output(trained(), schema, CTX) is None
    assert check_output(evaluation, schema, CTX) is None
    assert check_output({"counts": {"0": 12, "1": 28}}, None, CTX) is None


@pytest.mark.parametrize(
    ("output", "rule"),
    [
        pytest.param(np.zeros(3), Rule.NOT_A_DICT, id="not-a-dict"),
        pytest.param(trained(leak=np.zeros((40, 1, 16, 16))), Rule.ASSET_SHAPED, id="raw-images"),
        pytest.param(trained(leak=np.zeros(40, np.int64)), Rule.ASSET_SHAPED, id="raw-labels"),
        pytest.param(trained(leak=np.zeros((40, 3))), Rule.PER_SAMPLE_ARRAY, id="row-per-sample"),
        pytest.param(trained(leak=np.zeros(5)), Rule.UNEXPECTED_ARRAY, id="small-array"),
        pytest.param(trained(leak=list(range(40))), Rule.PER_SAMPLE_LIST, id="per-sample-list"),
        pytest.param(trained(leak=[1, 2]), Rule.LIST_OUTPUT, id="list"),
        pytest.param(trained(leak="x" * 65), Rule.STRING_TOO_LONG, id="long-string"),
        pytest.param(trained(leak=float("inf")), Rule.NON_FINITE, id="infinite"),
        pytest.param(
            trained(leak={f"k{i}": 1.0 for i in range(40)}), Rule.TOO_MANY_VALUES, id="many-scalars"
        ),
        pytest.param(
            {"weights": {"conv.weight": np.zeros((8, 1, 3, 3), np.float32)}},
            Rule.WEIGHTS_MISMATCH,
            id="weights-missing-key",
        ),
        pytest.param(
            {"weights": {**WEIGHTS, "fc.bias": np.zeros(3, np.float32)}},
            Rule.WEIGHTS_MISMATCH,
            id="weights-other-shape",
        ),
        pytest.param(
            {"weights": {**WEIGHTS, "fc.bias": np.zeros(2, np.float64)}},
            Rule.WEIGHTS_MISMATCH,
            id="weights-other-dtype",
        ),
        pytest.param(
            {"weights": {**WEIGHTS, "fc.bias": np.array([np.nan, 0], np.float32)}},
            Rule.NON_FINITE,
            id="weights-nan",
        ),
    ],
)
def test_no_schema_refusals(output: Any, rule: Rule) -> None:
    refusal = check_output(output, None, CTX)

    assert refusal is not None and refusal.rule is rule, refusal


def test_weights_need_a_weights_argument_without_a_schema() -> None:
    refusal = check_output(trained(), None, Context(arguments={"weights": {}}))

    assert refusal is not None and refusal.rule is Rule.WEIGHTS_MISMATCH


def test_weights_shaped_like_an_asset_are_refused_even_when_an_argument_matches() -> None:
    sneaky = {"w": np.zeros((40, 1, 16, 16), np.float32)}
    ctx = Context(arguments={"weights": sneaky}, asset_shapes=ASSETS)

    refusal = check_output({"weights": sneaky}, None, ctx)

    assert refusal is not None and refusal.rule is Rule.ASSET_SHAPED


@pytest.mark.parametrize(
    ("output", "rule"),
    [
        pytest.param(trained(extra=1.0), Rule.EXTRA_KEY, id="extra-key"),
        pytest.param({**trained(), "n_samples": 4.5}, Rule.NOT_A_NUMBER, id="float-count"),
        pytest.param(
            {**trained(), "metrics": {f"m{i}": 1.0 for i in range(5)}},
            Rule.TOO_MANY_VALUES,
            id="too-many-metrics",
        ),
        pytest.param(
            {**trained(), "metrics": {"loss": "high"}}, Rule.NOT_A_NUMBER, id="string-metric"
        ),
    ],
)
def test_schema_refusals(output: Any, rule: Rule) -> None:
    refusal = check_output(output, SCHEMA, CTX)

    assert refusal is not None and refusal.rule is rule, refusal


def test_schema_byte_budget_and_declared_shapes() -> None:
    declared = OutputSchema(
        fields={
            "weights": FieldSpec(
                kind="weights", weights=WeightsSpec(shapes={k: v.shape for k, v in WEIGHTS.items()})
            )
        },
        byte_budget=100,
    )

    over = check_output({"weights": WEIGHTS}, declared, CTX)
    fits = check_output({"weights": WEIGHTS}, declared.model_copy(update={"byte_budget": 400}), CTX)

    assert over is not None and over.rule is Rule.OVER_BUDGET
    assert fits is None
