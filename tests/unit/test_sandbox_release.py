"""The release check on the replies of the project's real site task (the built-in CNN), and on
hostile variants of them: what an approved training or evaluation call may send out."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from datasite.sandbox.release import SchemaError, check_release, declared_in, policy_schema
from fedcommon.task_schema import EVALUATE_THEN_TRAIN, SCHEMA_ARGUMENT, OutputSchema
from researcher.config import ExperimentConfig, ModelConfig
from researcher.task import load_task, site_function

RNG = np.random.default_rng(3)
PRIVATE = {
    "images": RNG.integers(0, 256, size=(40, 1, 32, 32), dtype=np.uint8),
    "labels": RNG.integers(0, 2, size=40).astype(np.int64),
    "val_images": RNG.integers(0, 256, size=(24, 1, 32, 32), dtype=np.uint8),
    "val_labels": RNG.integers(0, 2, size=24).astype(np.int64),
}


@pytest.fixture(scope="module")
def replies() -> dict[str, Any]:
    """init / train / evaluate replies of examples/tasks/cnn.py and the schema they declare."""
    model = ModelConfig(width=4, depth=2, image_size=32)
    config = ExperimentConfig(name="t", dataset="d", local_epochs=1, model=model).site_config()
    task = load_task("")
    init = task.fn({}, {}, "init", 0, config)
    train = task.fn(PRIVATE, init["weights"], "train", 1, config)
    evaluate = task.fn(PRIVATE, train["weights"], "evaluate", 1, config)
    schema = OutputSchema.derive(init["weights"], set(train["metrics"]) | set(evaluate["metrics"]))
    return {"init": init, "train": train, "evaluate": evaluate, "schema": schema}


def arguments(replies: dict[str, Any]) -> dict[str, Any]:
    schema = replies["schema"].model_dump(mode="json")
    return {"weights": replies["init"]["weights"], "task": "train", SCHEMA_ARGUMENT: schema}


@pytest.mark.parametrize("step", ["init", "train", "evaluate"])
def test_the_real_tasks_replies_are_released(replies: dict[str, Any], step: str) -> None:
    reply = {**replies[step], "compute_seconds": 1.5}
    declared = declared_in(arguments(replies))

    assert check_release(reply, declared, arguments(replies), PRIVATE) is None


def test_evaluation_sends_score_histograms_that_count_every_validation_image(
    replies: dict[str, Any],
) -> None:
    histograms = replies["evaluate"]["score_histograms"]
    assert histograms.sum(axis=(1, 2)).tolist() == [24.0, 24.0]


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        pytest.param({"n_samples": 10**6}, "implausible_count", id="n-samples-above-the-rows"),
        pytest.param({"extra": 1.0}, "extra_key", id="undeclared-key"),
        pytest.param({"metrics": {"pixel": 3.0}}, "schema_mismatch", id="undeclared-metric"),
        pytest.param(
            {"score_histograms": np.ones((2, 2, 100))},
            "implausible_count",
            id="histograms-not-counting-the-samples",
        ),
        pytest.param(
            {"score_histograms": np.full((2, 2, 100), 0.5)},
            "not_a_number",
            id="histograms-not-counts",
        ),
        pytest.param(
            {"score_histograms": PRIVATE["val_images"][:2, 0, :2].astype(float)},
            "implausible_count",
            id="pixels-as-histograms",
        ),
    ],
)
def test_changed_evaluation_replies_are_refused(
    replies: dict[str, Any], change: dict[str, Any], rule: str
) -> None:
    reply = {**replies["evaluate"], **change}

    refusal = check_release(reply, declared_in(arguments(replies)), arguments(replies), PRIVATE)

    assert refusal is not None and refusal.rule == rule, refusal


@pytest.fixture(scope="module")
def fused(replies: dict[str, Any]) -> dict[str, Any]:
    """What the real site function (the researcher's wrapper) returns for a fused call."""
    model = ModelConfig(width=4, depth=2, image_size=32)
    config = ExperimentConfig(name="t", dataset="d", local_epochs=1, model=model).site_config()
    function = site_function(load_task(""), "fl_t", list(PRIVATE))
    reply: dict[str, Any] = function(
        **PRIVATE, weights=replies["train"]["weights"], task=EVALUATE_THEN_TRAIN,
        round_index=2, config=config, output_schema=None,
    )  # fmt: skip
    return reply


def test_a_fused_call_returns_the_evaluation_with_the_training_and_is_released(
    replies: dict[str, Any], fused: dict[str, Any]
) -> None:
    declared = declared_in(arguments(replies))

    assert (fused["n_samples"], fused["eval_n_samples"]) == (40, 24)
    assert set(fused["eval_metrics"]) == set(replies["evaluate"]["metrics"])
    assert fused["score_histograms"].sum(axis=(1, 2)).tolist() == [24.0, 24.0]
    assert check_release(fused, declared, arguments(replies), PRIVATE) is None


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        pytest.param({"eval_n_samples": 10**6}, "implausible_count", id="eval-count-above-rows"),
        pytest.param({"eval_metrics": {"pixel": 3.0}}, "schema_mismatch", id="undeclared-metric"),
        pytest.param({"eval_n_samples": 40}, "implausible_count", id="histograms-not-counting"),
        pytest.param({"eval_n_samples": "24"}, "not_a_number", id="count-not-an-int"),
    ],
)
def test_changed_fused_replies_are_refused(
    replies: dict[str, Any], fused: dict[str, Any], change: dict[str, Any], rule: str
) -> None:
    reply = {**fused, **change}

    refusal = check_release(reply, declared_in(arguments(replies)), arguments(replies), PRIVATE)

    assert refusal is not None and refusal.rule == rule, refusal


def test_private_pixels_inside_trained_weights_are_refused(replies: dict[str, Any]) -> None:
    weights = dict(replies["train"]["weights"])
    name = max(weights, key=lambda k: weights[k].size)
    flat = weights[name].ravel().copy()
    flat[:200] = PRIVATE["images"].ravel()[1000:1200] / 255.0
    weights[name] = flat.reshape(weights[name].shape).astype(np.float32)
    reply = {**replies["train"], "weights": weights}

    refusal = check_release(reply, declared_in(arguments(replies)), arguments(replies), PRIVATE)

    assert refusal is not None and refusal.rule == "private_values_copied"


def test_the_declared_budget_covers_weights_metrics_and_histograms(
    replies: dict[str, Any],
) -> None:
    schema = policy_schema(replies["schema"])
    weights = sum(a.nbytes for a in replies["init"]["weights"].values())
    assert weights < schema.byte_budget < weights + 128 * 1024


@pytest.mark.parametrize(
    "value",
    [
        pytest.param({"weights": 3, "max_bytes": 10}, id="weights-not-a-table"),
        pytest.param({"weights": {}, "max_bytes": -1}, id="negative-budget"),
        pytest.param({"weights": {}, "max_bytes": 10, "anything": 1}, id="unknown-field"),
        pytest.param("all of it", id="not-a-schema"),
    ],
)
def test_a_malformed_declared_schema_is_an_error_not_no_schema(value: Any) -> None:
    """A request whose ``output_schema`` constant does not parse must not fall back to the
    no-schema rule: the site refuses its calls (schema_mismatch) and the admin sees why."""
    with pytest.raises(SchemaError, match=r"invalid output_schema: \d+ problems"):
        declared_in({SCHEMA_ARGUMENT: value})
    assert declared_in({}) is None  # no constant at all: the no-schema rule
