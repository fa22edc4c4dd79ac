"""Researcher-owned call arguments are checked before the worker starts.

Allowed: numbers, ``None``, short printable strings, dicts of them (a configuration, at most
``MAX_DEPTH`` deep, short lists of numbers or strings inside), and weights: dicts of float
arrays, whose shapes must match the declared schema when it names them. Refused: bytes,
objects of any other type (pickled payloads arrive as bytes or objects), arrays outside a
weights dict, non-float arrays, long strings, oversized values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from datasite.sandbox.policy import OutputSchema, is_weights
from datasite.sandbox.verdict import Refusal, Rule

MAX_STRING = 256
MAX_LIST = 64
MAX_DEPTH = 4
MAX_ITEMS = 1000
MAX_WEIGHT_BYTES = 2 * 1024**3


def _refuse(rule: Rule, detail: str) -> Refusal:
    return Refusal(rule=rule, detail=detail)


def _leaf(name: str, value: Any) -> Refusal | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        finite = not isinstance(value, float) or math.isfinite(value)
        return None if finite else _refuse(Rule.ARGUMENT_TYPE, f"{name} is not finite")
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            return _refuse(Rule.ARGUMENT_TOO_LARGE, f"{name}: string of {len(value)} chars")
        if not value.isprintable():
            return _refuse(Rule.ARGUMENT_TYPE, f"{name}: string with unprintable characters")
        return None
    return _refuse(Rule.ARGUMENT_TYPE, f"{name} is a {type(value).__name__}")


def _plain(name: str, value: Any, depth: int, budget: list[int]) -> Refusal | None:
    budget[0] -= 1
    if budget[0] < 0 or depth > MAX_DEPTH:
        return _refuse(Rule.ARGUMENT_TOO_LARGE, f"{name} is too large or nested too deeply")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return _refuse(Rule.ARGUMENT_TYPE, f"{name} has a {type(key).__name__} key")
            refusal = _plain(f"{name}.{key}", item, depth + 1, budget)
            if refusal:
                return refusal
        return None
    if isinstance(value, list | tuple):
        if len(value) > MAX_LIST:
            return _refuse(Rule.ARGUMENT_TOO_LARGE, f"{name} lists {len(value)} values")
        return next(filter(None, (_leaf(f"{name}[{i}]", v) for i, v in enumerate(value))), None)
    return _leaf(name, value)


def _weights(name: str, value: dict[str, Any], schema: OutputSchema | None) -> Refusal | None:
    total = 0
    for key, array in value.items():
        if array.dtype.kind != "f":
            return _refuse(Rule.ARGUMENT_TYPE, f"{name}.{key} has dtype {array.dtype}")
        total += int(array.nbytes)
    if total > MAX_WEIGHT_BYTES:
        return _refuse(Rule.ARGUMENT_TOO_LARGE, f"{name}: {total} bytes of weights")
    declared = _declared_shapes(schema)
    if declared is not None and any(
        key not in declared or tuple(a.shape) != declared[key] for key, a in value.items()
    ):
        return _refuse(Rule.ARGUMENT_SHAPE, f"{name} does not match the declared weights")
    return None


def _declared_shapes(schema: OutputSchema | None) -> dict[str, tuple[int, ...]] | None:
    if schema is None:
        return None
    for spec in schema.fields.values():
        if spec.kind == "weights" and spec.weights and spec.weights.shapes is not None:
            return {k: tuple(v) for k, v in spec.weights.shapes.items()}
    return None


def check_arguments(
    arguments: Mapping[str, Any], schema: OutputSchema | None = None
) -> Refusal | None:
    """None when every researcher-owned argument may go to the worker; else why not."""
    for name, value in arguments.items():
        if isinstance(value, np.ndarray):
            return _refuse(Rule.ARGUMENT_TYPE, f"{name} is a bare array (send a dict of arrays)")
        refusal = (
            _weights(name, value, schema)
            if is_weights(value)
            else _plain(name, value, 0, [MAX_ITEMS])
        )
        if refusal:
            return refusal
    return None
