"""What the site checks before an output leaves: one function for approved calls and dry runs.

A request built by the researcher side declares its output schema
(:class:`fedcommon.task_schema.OutputSchema`, bound as the constant ``output_schema``): weight
names, shapes and dtypes, metric names and a byte budget. :func:`policy_schema` turns it into
the egress policy's terms (``datasite.sandbox.policy``); :func:`check_release` then applies,
in order: the egress policy, the contract's own checks (undeclared metrics, bad counts), the
plausibility of counts (``n_samples`` at most the rows of the bound assets; each class of the
score histograms holding exactly ``n_samples`` counts), and the verbatim-copy check against
the bound private assets. Requests with no declared schema get the policy's no-schema rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from pydantic import ValidationError

from datasite.sandbox.copycheck import find_copy
from datasite.sandbox.policy import (
    HISTOGRAM_CELLS,
    SCALAR_BYTES,
    Context,
    FieldSpec,
    OutputSchema,
    WeightsSpec,
    check_output,
)
from datasite.sandbox.verdict import Refusal, Rule
from fedcommon.task_schema import METRIC_BYTES, SCHEMA_ARGUMENT, WEIGHT_DTYPE_NAME
from fedcommon.task_schema import OutputSchema as Declared
from fedcommon.weights import ReplyKey

HISTOGRAM_BYTES = HISTOGRAM_CELLS * 8


class SchemaError(ValueError):
    """The request's declared output schema is not a valid schema."""


def parse_declared(value: Any) -> Declared | None:
    """The declared schema from the constant's value (None: the request declares none)."""
    if value is None:
        return None
    try:
        return Declared.model_validate(value)
    except ValidationError as err:
        raise SchemaError(f"invalid {SCHEMA_ARGUMENT}: {err.error_count()} problems") from None


def declared_in(arguments: Mapping[str, Any]) -> Declared | None:
    """The declared schema carried in a call's arguments (the dry run's view of a request)."""
    return parse_declared(arguments.get(SCHEMA_ARGUMENT))


def policy_schema(declared: Declared) -> OutputSchema:
    """The declared schema in the egress policy's terms."""
    dtypes = {spec.dtype for spec in declared.weights.values()}
    dtype = dtypes.pop() if len(dtypes) == 1 else WEIGHT_DTYPE_NAME
    shapes = {name: spec.shape for name, spec in declared.weights.items()}
    fields = {
        ReplyKey.WEIGHTS: FieldSpec(
            kind="weights", weights=WeightsSpec(shapes=shapes, dtype=dtype)
        ),
        ReplyKey.N_SAMPLES: FieldSpec(kind="int"),
        ReplyKey.COMPUTE_SECONDS: FieldSpec(kind="float"),
        ReplyKey.METRICS: FieldSpec(kind="metrics", max_keys=len(declared.metrics)),
        ReplyKey.HISTOGRAMS: FieldSpec(kind="histogram"),
        # A fused call's evaluation (fedcommon.task_schema.EVALUATE_THEN_TRAIN).
        ReplyKey.EVAL_N_SAMPLES: FieldSpec(kind="int"),
        ReplyKey.EVAL_METRICS: FieldSpec(kind="metrics", max_keys=len(declared.metrics)),
    }
    evaluation_bytes = METRIC_BYTES * len(declared.metrics) + SCALAR_BYTES
    return OutputSchema(
        fields={str(k): v for k, v in fields.items()},
        byte_budget=declared.max_bytes + HISTOGRAM_BYTES + evaluation_bytes,
        required=(str(ReplyKey.N_SAMPLES),),
    )


def _counts(
    output: Mapping[str, Any], asset_shapes: Mapping[str, tuple[int, ...]]
) -> Refusal | None:
    rows = max((shape[0] for shape in asset_shapes.values() if shape), default=0)
    for key in (ReplyKey.N_SAMPLES, ReplyKey.EVAL_N_SAMPLES):
        count = int(output.get(key, 0))
        if count > rows:
            detail = f"{key} {count} exceeds the {rows} rows of the bound assets"
            return Refusal(Rule.IMPLAUSIBLE_COUNT, detail)
    # The histograms score the evaluated images: a fused call's evaluation, else the call's.
    scored = ReplyKey.EVAL_N_SAMPLES if ReplyKey.EVAL_N_SAMPLES in output else ReplyKey.N_SAMPLES
    n_scored = int(output.get(scored, 0))
    histograms = output.get(ReplyKey.HISTOGRAMS)
    if isinstance(histograms, np.ndarray):
        totals = histograms.astype(np.float64).sum(axis=(1, 2))
        if (totals != n_scored).any():
            detail = f"score histograms count {totals.tolist()[:4]}, not {scored} {n_scored}"
            return Refusal(Rule.IMPLAUSIBLE_COUNT, detail)
    return None


def check_release(
    value: Any, declared: Declared | None, arguments: Mapping[str, Any], private: Mapping[str, Any]
) -> Refusal | None:
    """None when ``value`` may leave the site; else the first rule it breaks."""
    shapes = {name: tuple(np.shape(array)) for name, array in private.items()}
    schema = policy_schema(declared) if declared is not None else None
    refusal = check_output(value, schema, Context(arguments, shapes))
    if refusal is None and declared is not None:
        problems = declared.problems(value)
        if problems:
            refusal = Refusal(Rule.SCHEMA_MISMATCH, "; ".join(problems)[:400])
        else:
            refusal = _counts(value, shapes)
    if refusal is not None:
        return refusal
    # The histograms' counts are bounded above; every other array is searched for copies.
    searched = {k: v for k, v in value.items() if k != ReplyKey.HISTOGRAMS}
    return find_copy(searched, private)
