"""What leaves the site: keys, types, shapes, dtypes, bytes and a hash of a function's output.

Used by the server-side audit hooks (each execution) and by the dry run (on mock data).
Never records values: only their description and a sha256 over their bytes.
"""

from __future__ import annotations

import hashlib
from typing import Any

MAX_ITEMS = 200  # described leaves per output; the rest are counted, not listed


def _as_array(value: Any) -> Any:
    """A numpy view of torch tensors (CPU, detached); other values unchanged."""
    if type(value).__module__.startswith("torch") and hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return value


def _leaves(value: Any, path: str = "") -> list[tuple[str, Any]]:
    value = _as_array(value)
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _leaves(v, f"{path}.{k}".lstrip("."))]
    if isinstance(value, list | tuple):
        return [leaf for i, v in enumerate(value) for leaf in _leaves(v, f"{path}[{i}]")]
    return [(path or "(result)", value)]


def _describe(key: str, value: Any) -> tuple[dict[str, Any], bytes]:
    """(description, the bytes the hash covers) of one leaf."""
    kind = type(value).__name__
    if hasattr(value, "tobytes") and hasattr(value, "shape") and hasattr(value, "dtype"):
        data = value.tobytes()
        shape, dtype = [int(d) for d in value.shape], str(value.dtype)
        header = f"{dtype}{shape}".encode()
        return {"key": key, "type": kind, "shape": shape, "dtype": dtype, "bytes": len(data)}, (
            header + data
        )
    if hasattr(value, "to_json") and hasattr(value, "shape"):  # pandas DataFrame / Series
        data = value.to_json(orient="split").encode()
        shape = [int(d) for d in value.shape]
        return {
            "key": key,
            "type": kind,
            "shape": shape,
            "dtype": "table",
            "bytes": len(data),
        }, data
    data = bytes(value) if isinstance(value, bytes | bytearray) else repr(value).encode()
    return {"key": key, "type": kind, "shape": [], "dtype": kind, "bytes": len(data)}, data


def summarize(value: Any) -> dict[str, Any]:
    """``{keys, items: [{key, type, shape, dtype, bytes}], total_bytes, sha256, truncated}``."""
    digest = hashlib.sha256()
    items: list[dict[str, Any]] = []
    total = 0
    leaves = _leaves(value)
    for key, leaf in leaves:
        item, data = _describe(key, leaf)
        digest.update(key.encode() + b"\0" + data)
        total += item["bytes"]
        if len(items) < MAX_ITEMS:
            items.append(item)
    top = list(value.keys()) if isinstance(value, dict) else []
    return {
        "keys": [str(k) for k in top],
        "items": items,
        "leaves": len(leaves),
        "truncated": len(leaves) > MAX_ITEMS,
        "total_bytes": total,
        "sha256": digest.hexdigest(),
    }


def asset_shaped(summary: dict[str, Any], asset_shapes: dict[str, list[int]]) -> list[str]:
    """Warnings for output arrays shaped like an asset (same shape, or one row per sample)."""
    warnings = []
    for item in summary.get("items", []):
        shape = item.get("shape") or []
        for name, asset_shape in asset_shapes.items():
            if not shape or not asset_shape:
                continue
            if shape == asset_shape:
                warnings.append(f"{item['key']} has the exact shape of asset {name} {shape}")
            elif asset_shape[0] > 1 and shape[0] == asset_shape[0]:
                warnings.append(
                    f"{item['key']} {shape} has one row per sample of asset {name} "
                    f"({asset_shape[0]} rows): per-sample output"
                )
    return warnings
