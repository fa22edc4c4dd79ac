"""``datasite ingest`` against a real datasite over HTTP: what the researcher then sees."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from datasite.synth import SynthConfig, generate_site, preset
from fedcommon.schema import IMAGE_DTYPE, LABEL_DTYPE, METADATA_COLUMNS, AssetName
from tests.conftest import ADMIN, RESEARCHER_PASSWORD, SiteFactory, add_user, run_cli

pytestmark = pytest.mark.integration
RESEARCHER = "reader@research.example"


def researcher_view(url: str, name: str) -> dict[str, Any]:
    from datasite.syftio.client import login

    client = login(url, RESEARCHER, RESEARCHER_PASSWORD)
    dataset = client.datasets[name]
    with contextlib.redirect_stdout(io.StringIO()):
        mocks = {str(asset.name): asset.mock for asset in dataset.assets}
        private = {str(asset.name): asset.data for asset in dataset.assets}
    return {"mock": mocks, "private": private, "description": str(dataset.description)}


def uploaded_private(url: str, name: str) -> dict[str, Any]:
    from datasite.syftio.client import admin_login

    dataset = admin_login(url, ADMIN).datasets[name]
    with contextlib.redirect_stdout(io.StringIO()):
        return {str(asset.name): asset.data for asset in dataset.assets}


def all_strings(value: Any) -> list[str]:
    if hasattr(value, "columns"):
        return [str(c) for c in value.columns] + [str(v) for v in value.to_numpy().ravel()]
    return []


def test_ingest_over_http_uploads_deidentified_assets_with_mock_twins_once(
    sites: SiteFactory, tmp_path: Path
) -> None:
    source = tmp_path / "export"
    generate_site(SynthConfig(source, "west", n=40, seed=11, shift=preset("balanced"), rows=96))
    (source / "broken.dcm").write_bytes(b"\x00" * 200)
    with (source / "labels.csv").open("a") as labels:
        labels.write("broken.dcm,1,opacity\n")
    site = sites.start("west")
    add_user(site.url, RESEARCHER)

    args = [
        "ingest",
        str(source),
        "--url",
        site.url,
        "--labels",
        str(source / "labels.csv"),
        "--dataset",
        "west-cxr",
        "--size",
        "64",
        "--key-file",
        str(tmp_path / "site.key"),
    ]

    done = run_cli(*args, "--verify", "--format", "json", "--report-dir", str(tmp_path / "rep"))
    again = run_cli(*args)

    assert done.returncode == 10, done.stderr  # uploaded, but broken.dcm was rejected
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["accepted"] == 40 and summary["rejected_by_reason"] == {"unreadable": 1}
    assert summary["verify"]["passed"] is True
    view = researcher_view(site.url, "west-cxr")
    mock, train_n = view["mock"], summary["train"]
    assert set(mock) == {str(a) for a in AssetName}
    assert mock["images"].shape == (train_n, 1, 64, 64) and mock["images"].dtype == IMAGE_DTYPE
    assert mock["labels"].dtype == LABEL_DTYPE and len(mock["val_labels"]) == summary["val"]
    assert tuple(mock["metadata"].columns) == METADATA_COLUMNS
    assert all(v is None for v in view["private"].values())  # a researcher gets mock only
    private = uploaded_private(site.url, "west-cxr")
    assert np.bincount(private["labels"]).tolist() == np.bincount(mock["labels"]).tolist()
    for name in ("images", "val_images"):
        reals, twins = private[name], mock[name]
        assert not any((reals == twin).all(axis=(1, 2, 3)).any() for twin in twins)
    phi = [v for v in json.loads((source / "phi_values.json").read_text()) if len(v) >= 4]
    uploaded = [view["description"], "west-cxr", *[str(a) for a in AssetName]]
    for frame in (*mock.values(), *private.values()):
        uploaded += all_strings(frame)
    assert [v for v in phi if any(v.casefold() in s.casefold() for s in uploaded)] == []
    assert (tmp_path / "rep" / "ingest-report.csv").exists()
    assert again.returncode == 12 and "A dataset named 'west-cxr' already exists" in again.stderr
