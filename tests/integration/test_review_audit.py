"""Admin review and the compliance audit trail, on one real datasite over HTTP."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from datasite.syftio.client import add_user, admin_login, login, upload_dataset
from fedcommon.roles import Role
from tests.conftest import ADMIN, RESEARCHER_PASSWORD, SiteFactory, run_cli

pytestmark = pytest.mark.integration
ADA = "ada@uni.example"
AUDITOR = "audit@hospital.example"
AS_AUDITOR = {"DATASITE_USER_EMAIL": AUDITOR, "DATASITE_USER_PASSWORD": RESEARCHER_PASSWORD}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Any:
    factory = SiteFactory(tmp_path_factory.mktemp("review"))
    site = factory.start("review")
    try:
        admin = admin_login(site.url, ADMIN)
        add_user(admin, ADA, "Ada", RESEARCHER_PASSWORD, Role.RESEARCHER)
        add_user(admin, AUDITOR, "Audit", RESEARCHER_PASSWORD, Role.COMPLIANCE)
        images = np.arange(8 * 16, dtype=np.uint8).reshape(8, 1, 4, 4)
        labels = np.arange(8, dtype=np.int64) % 2
        upload_dataset(
            admin,
            "xr",
            "tiny",
            {"images": (images, np.zeros_like(images)), "labels": (labels, np.zeros_like(labels))},
        )
        yield site
    finally:
        factory.stop_all()


@pytest.fixture(scope="module")
def ds(site: Any) -> Any:
    return login(site.url, ADA, RESEARCHER_PASSWORD)


def audit_records(site: Any) -> list[dict[str, Any]]:
    response = httpx.get(f"{site.url}/site/audit/records", auth=(AUDITOR, RESEARCHER_PASSWORD))
    response.raise_for_status()
    return list(response.json()["records"])


def request_id_of(function: str, site: Any) -> str:
    result = run_cli("requests", "list", "--url", site.url, "--format", "json", env=AS_AUDITOR)
    assert result.returncode == 0, result.stderr
    return next(r["request_id"] for r in json.loads(result.stdout) if r["function"] == function)


def submit_training(ds: Any, limit: int = 3) -> None:
    import syft as sy
    from syft.service.policy.policy import OutputPolicyExecuteCount

    assets = ds.datasets["xr"].assets

    @sy.syft_function(
        input_policy=sy.MixedInputPolicy(
            client=ds, images=assets["images"], labels=assets["labels"], weights=dict
        ),
        output_policy=OutputPolicyExecuteCount(limit=limit),
    )
    def train_v1(images, labels, weights):  # type: ignore[no-untyped-def]
        import numpy as np

        x = images.reshape(len(images), -1).astype(np.float32) / 255.0
        w = np.asarray(weights["w"], dtype=np.float32)
        w = w - 0.1 * x.T @ (x @ w - labels.astype(np.float32)) / len(x)
        return {"weights": {"w": w}, "n_samples": len(x), "metrics": {"loss": float(w.sum())}}

    ds.code.request_code_execution(train_v1)


def run_training(ds: Any, weights: dict[str, Any]) -> str:
    assets = ds.datasets["xr"].assets
    try:
        ds.code.train_v1(images=assets["images"], labels=assets["labels"], weights=weights).get()
        return "ran"
    except Exception as err:  # noqa: BLE001 - the refusal text is what we look at
        return f"refused: {err}"


def test_review_approve_and_executions_are_audited(site: Any, ds: Any, tmp_path: Path) -> None:
    submit_training(ds)
    rid = request_id_of("train_v1", site)
    samples = tmp_path / "samples.json"
    samples.write_text(json.dumps({"weights": {"w": [0.0] * 16}}))

    shown = run_cli(
        "requests",
        "show",
        "--url",
        site.url,
        rid[:8],
        "--dry-run",
        "--sample-args",
        str(samples),
        "--format",
        "json",
    )
    approved = run_cli("requests", "approve", "--url", site.url, rid[:8])
    outcomes = [run_training(ds, {"w": np.zeros(16, np.float32)}), run_training(ds, {})]

    assert shown.returncode == 0, shown.stderr
    facts = json.loads(shown.stdout)
    assert facts["risk"]["worst"] == "low" and facts["policies"]["execution_limit"] == 3
    assert facts["bindings"]["images"]["asset"] == "xr/images"
    dry = facts["dry_run"]
    assert dry["ok"] and [i["key"] for i in dry["output"]["items"]] == [
        "weights.w",
        "n_samples",
        "metrics.loss",
    ]
    assert dry["output"]["items"][0]["shape"] == [16]
    assert approved.returncode == 0, approved.stderr
    assert outcomes[0] == "ran" and outcomes[1].startswith("refused")
    mine = [r for r in audit_records(site) if r["details"].get("request_id") == rid]
    assert [r["event"] for r in mine] == [
        "submitted",
        "reviewed",
        "approved",
        "executed",
        "executed",
    ]
    assert mine[0]["actor"] == ADA and mine[2]["actor"] == ADMIN.email
    ok, failed = mine[3]["details"], mine[4]["details"]
    assert ok["outcome"] == "success" and failed["outcome"] == "failure"
    assert ok["output"]["items"][0] == {
        "key": "weights.w",
        "type": "ndarray",
        "shape": [16],
        "dtype": "float32",
        "bytes": 64,
    }
    assert ok["inputs"]["images"]["asset"] == "xr/images" and len(ok["output"]["sha256"]) == 64


def submit_peek(ds: Any) -> None:
    import syft as sy

    images = ds.datasets["xr"].assets["images"]

    @sy.syft_function_single_use(images=images)
    def peek(images):  # type: ignore[no-untyped-def]
        note = "<script>alert('x')</script>"  # attacker-controlled text in the packet
        return {"pixels": images[:4].tolist(), "note": note}

    ds.code.request_code_execution(peek)


def test_hostile_request_is_flagged_and_deny_reason_reaches_researcher(site: Any, ds: Any) -> None:
    submit_peek(ds)
    rid = request_id_of("peek", site)

    shown = run_cli("requests", "show", "--url", site.url, rid, "--format", "json")
    denied = run_cli("requests", "deny", "--url", site.url, rid,
                     "--reason", "returns raw images")  # fmt: skip
    images = ds.datasets["xr"].assets["images"]

    facts = json.loads(shown.stdout)
    assert facts["risk"]["worst"] == "high"
    assert any(f["category"] == "egress" for f in facts["risk"]["findings"])
    assert denied.returncode == 0, denied.stderr
    with pytest.raises(Exception, match="returns raw images"):
        ds.code.peek(images=images)
    listed = run_cli("requests", "list", "--url", site.url, "--status", "denied",
                     "--format", "json")  # fmt: skip
    assert [r["deny_reason"] for r in json.loads(listed.stdout)] == ["returns raw images"]


def test_revoke_stops_further_executions(site: Any, ds: Any) -> None:
    rid = request_id_of("train_v1", site)

    revoked = run_cli("requests", "revoke", "--url", site.url, rid, "--reason", "study ended")
    outcome = run_training(ds, {"w": np.zeros(16, np.float32)})

    assert revoked.returncode == 0, revoked.stderr
    assert outcome.startswith("refused") and "study ended" in outcome
    events = [r["event"] for r in audit_records(site) if r["details"].get("request_id") == rid]
    assert events[-2:] == ["revoked", "execution_refused"]


def test_compliance_reads_the_audit_but_cannot_decide(site: Any, tmp_path: Path) -> None:
    rid = request_id_of("train_v1", site)
    packet = tmp_path / "packet.html"

    approve = run_cli("requests", "approve", "--url", site.url, rid, env=AS_AUDITOR)
    review = httpx.post(f"{site.url}/site/requests/{rid}/review", json={},
                        auth=(AUDITOR, RESEARCHER_PASSWORD))  # fmt: skip
    export = run_cli("audit", "export", "--url", site.url, "--format", "html", "--out",
                     str(packet), env=AS_AUDITOR)  # fmt: skip
    verify = run_cli("audit", "verify", "--url", site.url, env=AS_AUDITOR)

    assert approve.returncode == 6 and "is not an admin" in approve.stderr
    assert review.status_code == 403
    assert export.returncode == 0, export.stderr
    html = packet.read_text()
    assert "train_v1" in html and "study ended" in html and "weights.w" in html
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html
    assert verify.returncode == 0 and "audit chain intact" in verify.stdout


def test_audit_survives_restart_and_tampering_is_named(site: Any, tmp_path: Path) -> None:
    before = audit_records(site)

    site.stop()
    site.start()
    after = audit_records(site)
    copy = tmp_path / "copy"
    shutil.copytree(site.data_dir / "audit", copy / "audit")
    lines = (copy / "audit" / "audit.jsonl").read_text().splitlines()
    lines[2] = lines[2].replace("user_created", "user_deleted")  # seq 3: the auditor added
    (copy / "audit" / "audit.jsonl").write_text("\n".join(lines) + "\n")
    tampered = run_cli("audit", "verify", "--data-dir", str(copy))

    assert after[: len(before)] == before
    assert after[-1]["event"] == "site_started" and after[-1]["seq"] == before[-1]["seq"] + 1
    assert run_cli("audit", "verify", "--data-dir", str(site.data_dir)).returncode == 0
    assert tampered.returncode == 9 and "record seq 3 (line 3) was altered" in tampered.stdout
