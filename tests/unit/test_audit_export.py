"""Exports a compliance officer hands on: escaped HTML packet, CSV, and what-left summaries."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest

from datasite.audit.export import to_csv, to_html
from datasite.audit.log import AuditLog, verify_dir
from datasite.errors import ConfigError
from datasite.review.egress import asset_shaped, summarize
from datasite.siteclient import user_credentials

HOSTILE_CODE = "def f(images):\n    return '<script>alert(1)</script>'\n"


def sample_log(tmp_path: Path) -> AuditLog:
    log = AuditLog(tmp_path)
    log.append(
        "submitted",
        "ada@uni.example",
        {"request_id": "r1", "function": "f", "code": HOSTILE_CODE, "code_hash": "ab" * 32},
    )
    log.append("denied", "admin@h.example", {"request_id": "r1", "reason": "<b>no</b> & never"})
    log.append(
        "executed",
        "ada@uni.example",
        {"request_id": "r1", "outcome": "success", "output": summarize({"w": np.zeros(3)})},
    )
    return log


def test_html_packet_escapes_code_and_reasons(tmp_path: Path) -> None:
    log = sample_log(tmp_path)

    html = to_html(log.records(), "st-olav", verify_dir(tmp_path))

    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;no&lt;/b&gt; &amp; never" in html
    assert "chain intact" in html and "w [3] float64 24 B" in html


def test_csv_has_one_row_per_record(tmp_path: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(to_csv(sample_log(tmp_path).records()))))

    assert [r["event"] for r in rows] == ["submitted", "denied", "executed"]
    assert rows[1]["reason"] == "<b>no</b> & never" and rows[2]["outcome"] == "success"


def test_summary_describes_without_values_and_hashes_content() -> None:
    out = summarize({"weights": {"w": np.ones((2, 3), np.float32)}, "n_samples": 8})

    assert out["keys"] == ["weights", "n_samples"]
    assert out["items"][0] == {
        "key": "weights.w",
        "type": "ndarray",
        "shape": [2, 3],
        "dtype": "float32",
        "bytes": 24,
    }
    assert (
        out["sha256"]
        != summarize({"weights": {"w": np.zeros((2, 3), np.float32)}, "n_samples": 8})["sha256"]
    )


def test_per_sample_outputs_are_called_asset_shaped() -> None:
    out = summarize({"preds": np.zeros(20), "w": np.zeros(64)})

    warnings = asset_shaped(out, {"xr/images": [20, 1, 8, 8]})

    assert len(warnings) == 1 and warnings[0].startswith("preds [20] has one row per sample")


def test_compliance_uses_own_credentials_else_admin() -> None:
    own = user_credentials(
        {"DATASITE_USER_EMAIL": "audit@h.example", "DATASITE_USER_PASSWORD": "pw-of-auditor"}
    )
    admin = user_credentials(
        {
            "DATASITE_ADMIN_EMAIL": "admin@h.example",
            "DATASITE_ADMIN_PASSWORD": "correct-horse-battery-9",
        }
    )

    assert own.email == "audit@h.example" and admin.email == "admin@h.example"
    with pytest.raises(ConfigError, match="DATASITE_USER_PASSWORD is not"):
        user_credentials({"DATASITE_USER_EMAIL": "audit@h.example"})
