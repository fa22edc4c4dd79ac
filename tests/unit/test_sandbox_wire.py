"""The sandbox's wire format: plain values round-trip; anything else is refused, no pickle."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest

from datasite.sandbox import wire


def test_plain_values_round_trip() -> None:
    value = {
        "w": {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "count": np.array(4.0)},
        "n": 3,
        "f": 0.5,
        "nan": float("nan"),
        "s": "ok",
        "l": [1, None, True],
    }

    meta, back = wire.decode(wire.encode(value, {"ok": True}))

    assert meta == {"ok": True}
    assert back["w"]["a"].dtype == np.float32 and back["w"]["a"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert back["w"]["count"].shape == ()  # 0-d arrays (BatchNorm counters) keep their shape
    assert back["n"] == 3 and back["s"] == "ok" and back["l"] == [1, None, True]
    assert np.isnan(back["nan"])


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(object(), id="object"),
        pytest.param(b"bytes", id="bytes"),
        pytest.param(np.array([object()]), id="object-array"),
        pytest.param({1: 2}, id="int-key"),
    ],
)
def test_unsupported_values_are_not_encoded(value: object) -> None:
    with pytest.raises(wire.WireError):
        wire.encode(value)


def frame(header: dict[str, object], *blobs: bytes) -> bytes:
    head = json.dumps(header).encode()
    return wire.MAGIC + struct.pack("<I", len(head)) + head + b"".join(blobs)


def pickled_array() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "match"),
    [
        pytest.param(b"garbage", "not a sandbox frame", id="garbage"),
        pytest.param(
            frame(
                {"meta": {}, "value": ["a", 0], "blobs": [len(pickled_array())]}, pickled_array()
            ),
            "unreadable array",
            id="pickled-npy",
        ),
        pytest.param(
            frame({"meta": {}, "value": ["x", 1], "blobs": []}),
            "unknown node tag",
            id="unknown-tag",
        ),
        pytest.param(
            frame({"meta": {}, "value": ["s", "x" * 5000], "blobs": []}), "string", id="long-string"
        ),
        pytest.param(
            frame({"meta": {}, "value": ["t", "{}"], "blobs": []}), "tables", id="table-in-reply"
        ),
        pytest.param(
            frame({"meta": {}, "value": ["n", None], "blobs": [3]}, b"abc"),
            "unreferenced",
            id="hidden-blob",
        ),
        pytest.param(
            frame({"meta": {}, "value": ["l", [["l", [["l", []]]]] * 1], "blobs": []}),
            None,
            id="ok-nesting",
        ),
    ],
)
def test_strict_decoding(data: bytes, match: str | None) -> None:
    if match is None:
        assert wire.decode(data)[1] == [[[]]]
        return
    with pytest.raises(wire.WireError, match=match):
        wire.decode(data)


def test_size_and_depth_bounds() -> None:
    deep: object = 1
    for _ in range(12):
        deep = [deep]

    with pytest.raises(wire.WireError, match="exceeds"):
        wire.decode(wire.encode(np.zeros(1000)), wire.Bounds(max_bytes=1000))
    with pytest.raises(wire.WireError, match="nested"):
        wire.decode(wire.encode(deep))
