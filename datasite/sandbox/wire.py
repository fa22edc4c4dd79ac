"""Values <-> bytes for the sandbox: JSON for structure, ``.npy`` for arrays. Never pickle.

A frame is ``MAGIC | u32 header length | header JSON | blob bytes...``. The header holds
``meta`` (a plain JSON dict), ``value`` (a tagged tree) and ``blobs`` (their lengths). Nodes
are two-element lists ``[tag, payload]``:

``n`` None, ``b`` bool, ``i`` int, ``f`` float, ``s`` str, ``a`` array (blob index),
``l`` list, ``d`` dict (list of ``[str key, node]``), ``t`` table (pandas JSON, inputs only).

Decoding is strict: bounded total size, depth, node count and string length; arrays are
read with ``allow_pickle=False`` and must have a plain numeric or bool dtype. This module
imports only the standard library and numpy: it runs inside the sandbox too.
"""

from __future__ import annotations

import io
import json
import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

MAGIC = b"FLSB1\n"
_HEADER = struct.Struct("<I")
_LENGTH = struct.Struct("<Q")
ARRAY_KINDS = frozenset("biuf")  # bool, signed, unsigned, float


class WireError(ValueError):
    """Bytes that are not a well-formed frame, or a value that cannot be framed."""


@dataclass(frozen=True)
class Bounds:
    """What a decoder accepts. Defaults suit a call's reply; inputs use larger ones."""

    max_bytes: int = 64 * 1024 * 1024
    max_header: int = 4 * 1024 * 1024
    max_depth: int = 8
    max_nodes: int = 20_000
    max_string: int = 4096
    allow_tables: bool = False


def _plain(value: Any) -> Any:
    """torch tensors -> numpy arrays, numpy scalars -> Python scalars; others unchanged."""
    if type(value).__module__.startswith("torch") and hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    if isinstance(value, np.generic):
        return value.item()
    return value


class _Encoder:
    def __init__(self) -> None:
        self.blobs: list[bytes] = []

    def node(self, value: Any, depth: int = 0) -> list[Any]:
        if depth > 16:
            raise WireError("value nested too deeply")
        value = _plain(value)
        if value is None or isinstance(value, bool):
            return ["n", None] if value is None else ["b", value]
        if isinstance(value, int):
            return ["i", value]
        if isinstance(value, float):
            return ["f", value if math.isfinite(value) else repr(value)]
        if isinstance(value, str):
            return ["s", value]
        if isinstance(value, np.ndarray):
            return ["a", self.array(value)]
        if isinstance(value, dict):
            if not all(isinstance(k, str) for k in value):
                raise WireError("dict keys must be strings")
            return ["d", [[k, self.node(v, depth + 1)] for k, v in value.items()]]
        if isinstance(value, list | tuple):
            return ["l", [self.node(v, depth + 1) for v in value]]
        if hasattr(value, "to_json") and hasattr(value, "columns"):
            return ["t", value.to_json(orient="split")]
        raise WireError(f"unsupported type {type(value).__name__}")

    def array(self, value: npt.NDArray[Any]) -> int:
        if value.dtype.kind not in ARRAY_KINDS:
            raise WireError(f"unsupported array dtype {value.dtype}")
        buffer = io.BytesIO()
        np.save(buffer, value, allow_pickle=False)  # keeps 0-d arrays 0-d
        self.blobs.append(buffer.getvalue())
        return len(self.blobs) - 1


def encode(value: Any, meta: dict[str, Any] | None = None) -> bytes:
    """One frame holding ``value`` and ``meta``. Raises WireError for unsupported values."""
    encoder = _Encoder()
    tree = encoder.node(value)
    header = {"meta": meta or {}, "value": tree, "blobs": [len(b) for b in encoder.blobs]}
    head = json.dumps(header, allow_nan=False, separators=(",", ":")).encode()
    return b"".join([MAGIC, _HEADER.pack(len(head)), head, *encoder.blobs])


class _Decoder:
    def __init__(self, blobs: list[memoryview], bounds: Bounds) -> None:
        self.blobs = blobs
        self.used: set[int] = set()
        self.bounds = bounds
        self.nodes = 0

    def node(self, node: Any, depth: int = 0) -> Any:
        self.nodes += 1
        if self.nodes > self.bounds.max_nodes or depth > self.bounds.max_depth:
            raise WireError("value has too many parts or is nested too deeply")
        if not (isinstance(node, list) and len(node) == 2 and isinstance(node[0], str)):
            raise WireError("malformed node")
        tag, payload = node
        decode = _DECODERS.get(tag)
        if decode is None:
            raise WireError(f"unknown node tag {tag!r}")
        return decode(self, payload, depth)

    def array(self, index: Any) -> npt.NDArray[Any]:
        if not isinstance(index, int) or not 0 <= index < len(self.blobs) or index in self.used:
            raise WireError("bad array reference")
        self.used.add(index)
        try:
            array = np.load(io.BytesIO(self.blobs[index]), allow_pickle=False)
        except (ValueError, OSError, EOFError) as err:
            raise WireError(f"unreadable array: {err}") from None
        if not isinstance(array, np.ndarray) or array.dtype.kind not in ARRAY_KINDS:
            raise WireError("array of an unsupported dtype")
        return array


def _typed(kind: type | tuple[type, ...], name: str) -> Any:
    def decode(_dec: _Decoder, payload: Any, _depth: int) -> Any:
        if not isinstance(payload, kind) or (kind is int and isinstance(payload, bool)):
            raise WireError(f"malformed {name} node")
        return payload

    return decode


def _string(dec: _Decoder, payload: Any, _depth: int) -> str:
    if not isinstance(payload, str) or len(payload) > dec.bounds.max_string:
        raise WireError("string too long or malformed")
    return payload


def _float(_dec: _Decoder, payload: Any, _depth: int) -> float:
    if payload in ("nan", "inf", "-inf"):
        return float(payload)
    if isinstance(payload, int | float) and not isinstance(payload, bool):
        return float(payload)
    raise WireError("malformed float node")


def _list(dec: _Decoder, payload: Any, depth: int) -> list[Any]:
    if not isinstance(payload, list):
        raise WireError("malformed list node")
    return [dec.node(item, depth + 1) for item in payload]


def _dict(dec: _Decoder, payload: Any, depth: int) -> dict[str, Any]:
    if not isinstance(payload, list):
        raise WireError("malformed dict node")
    out: dict[str, Any] = {}
    for pair in payload:
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
            raise WireError("malformed dict entry")
        if len(pair[0]) > 256 or pair[0] in out:
            raise WireError("dict key too long or repeated")
        out[pair[0]] = dec.node(pair[1], depth + 1)
    return out


def _table(dec: _Decoder, payload: Any, _depth: int) -> Any:
    if not dec.bounds.allow_tables or not isinstance(payload, str):
        raise WireError("tables are not accepted here")
    import pandas as pd

    return pd.read_json(io.StringIO(payload), orient="split")


_DECODERS = {
    "n": lambda _dec, payload, _depth: None,
    "b": _typed(bool, "bool"),
    "i": _typed(int, "int"),
    "f": _float,
    "s": _string,
    "a": lambda dec, payload, _depth: dec.array(payload),
    "l": _list,
    "d": _dict,
    "t": _table,
}


def decode(data: bytes | memoryview, bounds: Bounds | None = None) -> tuple[dict[str, Any], Any]:
    """``(meta, value)`` of one frame. Raises WireError on anything unexpected."""
    bounds = bounds or Bounds()
    view = memoryview(data)
    if len(view) > bounds.max_bytes:
        raise WireError(f"frame of {len(view)} bytes exceeds the limit of {bounds.max_bytes}")
    start = len(MAGIC) + _HEADER.size
    if len(view) < start or bytes(view[: len(MAGIC)]) != MAGIC:
        raise WireError("not a sandbox frame")
    (head_len,) = _HEADER.unpack(view[len(MAGIC) : start])
    if head_len > bounds.max_header or start + head_len > len(view):
        raise WireError("frame header too long or truncated")
    try:
        header = json.loads(bytes(view[start : start + head_len]))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise WireError("frame header is not JSON") from None
    if not (isinstance(header, dict) and isinstance(header.get("meta"), dict)):
        raise WireError("frame header lacks meta")
    blobs = _split_blobs(view[start + head_len :], header.get("blobs"))
    decoder = _Decoder(blobs, bounds)
    value = decoder.node(header.get("value"))
    if len(decoder.used) != len(blobs):
        raise WireError("frame carries unreferenced data")
    return header["meta"], value


def _split_blobs(rest: memoryview, lengths: Any) -> list[memoryview]:
    if not isinstance(lengths, list) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in lengths
    ):
        raise WireError("malformed blob table")
    if sum(lengths) != len(rest):
        raise WireError("blob lengths do not match the frame")
    blobs, offset = [], 0
    for length in lengths:
        blobs.append(rest[offset : offset + length])
        offset += length
    return blobs


def write_frame(stream: Any, frame: bytes) -> None:
    """Send one frame over a byte stream, prefixed with its length."""
    stream.write(_LENGTH.pack(len(frame)))
    stream.write(frame)
    stream.flush()


def read_frame(stream: Any, max_bytes: int) -> bytes | None:
    """The next frame from a byte stream; None at a clean end of stream."""
    prefix = _read_exact(stream, _LENGTH.size)
    if prefix is None:
        return None
    (length,) = _LENGTH.unpack(prefix)
    if length > max_bytes:
        raise WireError(f"frame of {length} bytes exceeds the limit of {max_bytes}")
    data = _read_exact(stream, length)
    if data is None:
        raise WireError("stream ended inside a frame")
    return data


def _read_exact(stream: Any, size: int) -> bytes | None:
    chunks, remaining = [], size
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            if remaining == size:
                return None
            raise WireError("stream ended inside a frame")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
