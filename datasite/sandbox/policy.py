"""The egress policy: what a call's output may contain before the site releases it.

With a declared ``OutputSchema`` the output is a dict whose keys are declared fields:
``weights`` (exactly the keys, shapes and dtype of a weights argument of the same call, or of
the declared shapes), ``metrics`` (a small dict of finite floats), ``int`` and ``float``
scalars, within a byte budget. Without a schema the output may hold only finite scalars,
short strings, small dicts of finite scalars and weight dicts whose keys, shapes and dtypes
equal a weights argument of the same call (so a plain training function still works).

Everything else is refused with a ``Rule`` (what the researcher sees) and a detail (local log):
extra keys, long strings, lists, arrays shaped like an asset or with one row per sample,
non-finite values, too many values, over budget. Pure functions, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from datasite.sandbox.verdict import Refusal, Rule

MAX_STRING = 64
MAX_SCALARS = 32
MAX_METRICS = 32
MAX_KEY = 64
NO_SCHEMA_SLACK_BYTES = 64 * 1024
MIN_ASSET_ROWS = 16  # below this, one row per sample is no signal (tiny test sites)
SCALAR_BYTES = 8
HISTOGRAM_CELLS = 8192  # (classes, 2, bins) score counts: 32 classes x 2 x 128 bins


class WeightsSpec(BaseModel):
    """Weights equal in keys/shapes/dtype to argument ``like_argument``, or to ``shapes``."""

    model_config = ConfigDict(frozen=True)

    like_argument: str | None = None
    shapes: dict[str, tuple[int, ...]] | None = None
    dtype: str = "float32"


class FieldSpec(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: Literal["weights", "metrics", "int", "float", "histogram"]
    weights: WeightsSpec | None = None
    max_keys: int = MAX_METRICS


class OutputSchema(BaseModel):
    """What a request declares its function returns (shown to the admin, checked per call)."""

    model_config = ConfigDict(frozen=True)

    fields: dict[str, FieldSpec]
    byte_budget: int
    required: tuple[str, ...] = ()


@dataclass(frozen=True)
class Context:
    """What the checks compare against: the call's own arguments and the bound assets."""

    arguments: Mapping[str, Any] = field(default_factory=dict)
    asset_shapes: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    def weight_arguments(self) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.arguments.items() if is_weights(v)}


def is_weights(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and bool(value)
        and all(isinstance(k, str) and isinstance(v, np.ndarray) for k, v in value.items())
    )


def _refuse(rule: Rule, detail: str) -> Refusal:
    return Refusal(rule=rule, detail=detail)


def _scalar(key: str, value: Any) -> Refusal | None:
    """None for a finite (or NaN: an undefined metric) number, else why not."""
    if isinstance(value, bool):
        return None
    if not isinstance(value, int | float):
        return _refuse(Rule.NOT_A_NUMBER, f"{key} is a {type(value).__name__}")
    if isinstance(value, float) and math.isinf(value):
        return _refuse(Rule.NON_FINITE, f"{key} is {value}")
    return None


def _array(key: str, value: Any, ctx: Context) -> Refusal:
    """Why a bare array (outside a weights field) is refused: the most specific rule."""
    shape = tuple(np.shape(value))
    for name, asset in ctx.asset_shapes.items():
        if shape == tuple(asset) and math.prod(asset) >= MIN_ASSET_ROWS:
            return _refuse(Rule.ASSET_SHAPED, f"{key} {shape} has the shape of asset {name}")
    for name, asset in ctx.asset_shapes.items():
        if shape and asset and asset[0] >= MIN_ASSET_ROWS and shape[0] == asset[0]:
            return _refuse(Rule.PER_SAMPLE_ARRAY, f"{key} {shape}: one row per sample of {name}")
    return _refuse(Rule.UNEXPECTED_ARRAY, f"{key} is an array {shape} outside any weights field")


def _list(key: str, value: list[Any], ctx: Context) -> Refusal:
    rows = {asset[0] for asset in ctx.asset_shapes.values() if asset}
    if len(value) in rows and len(value) >= MIN_ASSET_ROWS:
        return _refuse(Rule.PER_SAMPLE_LIST, f"{key} lists {len(value)} values: one per sample")
    return _refuse(Rule.LIST_OUTPUT, f"{key} is a list of {len(value)} values")


Layout = Mapping[str, tuple[tuple[int, ...], str]]


def layout(weights: Mapping[str, Any]) -> dict[str, tuple[tuple[int, ...], str]]:
    """``{name: (shape, dtype)}`` of a weights dict."""
    return {name: (tuple(np.shape(a)), str(a.dtype)) for name, a in weights.items()}


def _weights(key: str, value: Any, reference: Layout, ctx: Context) -> Refusal | None:
    """None when ``value`` has exactly the keys, shapes and dtypes of ``reference``."""
    if not is_weights(value):
        return _refuse(Rule.WEIGHTS_MISMATCH, f"{key} is not a dict of arrays")
    if set(value) != set(reference):
        extra, missing = sorted(set(value) - set(reference)), sorted(set(reference) - set(value))
        return _refuse(Rule.WEIGHTS_MISMATCH, f"{key}: extra {extra[:5]}, missing {missing[:5]}")
    for name, array in value.items():
        ref_shape, ref_dtype = reference[name]
        if array.shape != ref_shape or str(array.dtype) != ref_dtype:
            return _refuse(Rule.WEIGHTS_MISMATCH, f"{key}.{name} is {array.dtype}{array.shape}, "
                           f"expected {ref_dtype}{ref_shape}")  # fmt: skip
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            return _refuse(Rule.NON_FINITE, f"{key}.{name} holds NaN or infinite values")
        for asset_name, asset in ctx.asset_shapes.items():
            # 1-d weights often match a sample count by chance (64 channels, 64 labels); a
            # parameter shaped like a whole image asset does not. Copies: see copycheck.
            if array.ndim >= 2 and array.shape == tuple(asset):
                return _refuse(Rule.ASSET_SHAPED, f"{key}.{name} has the shape of {asset_name}")
    return None


def _metrics(key: str, value: Any, max_keys: int) -> Refusal | None:
    if not isinstance(value, dict) or len(value) > max_keys:
        return _refuse(Rule.TOO_MANY_VALUES, f"{key} is not a dict of at most {max_keys} numbers")
    for name, item in value.items():
        if len(name) > MAX_KEY:
            return _refuse(Rule.STRING_TOO_LONG, f"{key} has a key of {len(name)} characters")
        refusal = _scalar(f"{key}.{name}", item)
        if refusal:
            return refusal
    return None


def _size(value: Any) -> int:
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, dict):
        return sum(len(k) + _size(v) for k, v in value.items())
    if isinstance(value, str):
        return len(value.encode())
    return SCALAR_BYTES


def _count_scalars(value: Any) -> int:
    if isinstance(value, dict):
        return sum(_count_scalars(v) for v in value.values())
    return 0 if isinstance(value, np.ndarray) else 1


def _totals(output: dict[str, Any], budget: int) -> Refusal | None:
    if _count_scalars(output) > MAX_SCALARS:
        return _refuse(Rule.TOO_MANY_VALUES, f"more than {MAX_SCALARS} scalar values")
    size = _size(output)
    if size > budget:
        return _refuse(Rule.OVER_BUDGET, f"{size} bytes over the budget of {budget}")
    return None


def _free_value(key: str, value: Any, ctx: Context) -> Refusal | None:
    """No-schema rule for one top-level value."""
    if value is None:
        return None
    if isinstance(value, str):
        too_long = len(value) > MAX_STRING
        return _refuse(Rule.STRING_TOO_LONG, f"{key}: {len(value)} chars") if too_long else None
    if isinstance(value, np.ndarray):
        return _array(key, value, ctx)
    if isinstance(value, list | tuple):
        return _list(key, list(value), ctx)
    if is_weights(value):
        refs = [layout(ref) for ref in ctx.weight_arguments().values()]
        found = [_weights(key, value, ref, ctx) for ref in refs]
        if any(r is None for r in found):
            return None
        first = next((r for r in found if r is not None), None)
        return first or _refuse(Rule.WEIGHTS_MISMATCH, f"{key}: no weights argument to match")
    if isinstance(value, dict):
        return _metrics(key, value, MAX_METRICS)
    return _scalar(key, value)


def _histogram(key: str, value: Any) -> Refusal | None:
    """Per-class score counts ``(classes, 2, bins)``: non-negative whole numbers, bounded."""
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "iuf":
        return _refuse(Rule.NOT_A_NUMBER, f"{key} is not a numeric array")
    if value.ndim != 3 or value.shape[1] != 2 or value.size > HISTOGRAM_CELLS:
        return _refuse(Rule.UNEXPECTED_ARRAY, f"{key} has shape {value.shape}")
    counts = value.astype(np.float64)
    if not np.isfinite(counts).all() or (counts < 0).any() or (counts != np.round(counts)).any():
        return _refuse(Rule.NOT_A_NUMBER, f"{key} holds values that are not counts")
    return None


def _declared_value(key: str, value: Any, spec: FieldSpec, ctx: Context) -> Refusal | None:
    if spec.kind == "histogram":
        return _histogram(key, value)
    if spec.kind == "metrics":
        return _metrics(key, value, spec.max_keys)
    if spec.kind in ("int", "float"):
        if spec.kind == "int" and (not isinstance(value, int) or isinstance(value, bool)):
            return _refuse(Rule.NOT_A_NUMBER, f"{key} must be an int")
        return _scalar(key, value)
    wspec = spec.weights or WeightsSpec()
    if wspec.like_argument is not None:
        reference: Any = ctx.arguments.get(wspec.like_argument)
        if not is_weights(reference):
            return _refuse(Rule.WEIGHTS_MISMATCH, f"{key}: argument {wspec.like_argument} empty")
        return _weights(key, value, layout(reference), ctx)
    shapes = {name: (tuple(shape), wspec.dtype) for name, shape in (wspec.shapes or {}).items()}
    return _weights(key, value, shapes, ctx)


def _declared_keys(output: dict[str, Any], schema: OutputSchema) -> Refusal | None:
    extra = sorted(set(output) - set(schema.fields))
    if extra:
        return _refuse(Rule.EXTRA_KEY, f"undeclared keys {[k[:MAX_KEY] for k in extra[:5]]}")
    missing = sorted(set(schema.required) - set(output))
    if missing:
        return _refuse(Rule.MISSING_KEY, f"missing declared keys {missing}")
    return None


def check_output(output: Any, schema: OutputSchema | None, ctx: Context) -> Refusal | None:
    """None when the output may leave the site; else the first rule it breaks."""
    if not isinstance(output, dict):
        return _refuse(Rule.NOT_A_DICT, f"the output is a {type(output).__name__}")
    if schema is None:
        budget = sum(_size(w) for w in ctx.weight_arguments().values()) + NO_SCHEMA_SLACK_BYTES
        checks = (_free_value(k, v, ctx) for k, v in output.items())
    else:
        budget = schema.byte_budget
        refusal = _declared_keys(output, schema)
        if refusal:
            return refusal
        checks = (_declared_value(k, v, schema.fields[k], ctx) for k, v in output.items())
    return next(filter(None, checks), None) or _totals(output, budget)
