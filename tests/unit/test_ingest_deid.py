"""De-identification, PHI verification, mock twins and the report, without a server."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from datasite.errors import ConfigError
from datasite.ingest import mock, pipeline, report
from datasite.ingest.deid import load_or_create_key, patient_key
from datasite.ingest.labels import read_labels
from datasite.ingest.verify import uploaded_strings, verify
from datasite.synth import SynthConfig, generate_site, preset
from fedcommon.schema import METADATA_COLUMNS

KEY = b"unit-test-site-key-0123456789abc"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("deid") / "site"
    generate_site(SynthConfig(out, "east", n=30, seed=7, shift=preset("philips-dx"), rows=64))
    return out


@pytest.fixture(scope="module")
def result(site: Path) -> pipeline.IngestResult:
    options = pipeline.IngestOptions(size=32, collect_phi=True, mock_seed=3)
    return pipeline.process(site, read_labels(site / "labels.csv"), KEY, options)


def test_no_fake_phi_value_survives_in_anything_uploaded(
    site: Path, result: pipeline.IngestResult
) -> None:
    written = json.loads((site / "phi_values.json").read_text())
    uploaded = uploaded_strings("east-cxr", "Chest radiographs", pipeline.assets(result))

    from_generator = verify(dict.fromkeys(written, "generator"), uploaded)
    from_headers = verify(result.phi, uploaded)

    assert from_generator.phi_values > 300 and from_generator.uploaded_strings > 30
    assert from_generator.leaks == [] and from_headers.leaks == []


def test_collected_source_phi_covers_the_generators_ground_truth(
    site: Path, result: pipeline.IngestResult
) -> None:
    written = set(json.loads((site / "phi_values.json").read_text()))

    assert written <= set(result.phi)


def test_verify_catches_a_name_in_the_description(result: pipeline.IngestResult) -> None:
    name = next(
        v for v, tag in sorted(result.phi.items()) if tag.startswith("PatientName") and "^" in v
    )
    family = name.split("^")[0]
    uploaded = uploaded_strings(
        "east", f"Images from Dr {family}'s clinic", pipeline.assets(result)
    )

    checked = verify(result.phi, uploaded)

    assert [(leak.where, leak.value) for leak in checked.leaks] == [("dataset description", family)]
    assert "Name (00" in checked.leaks[0].source  # PatientName, OperatorsName...: a PN tag


def test_verify_catches_a_date_in_a_metadata_cell(result: pipeline.IngestResult) -> None:
    date = next(v for v in sorted(result.phi) if len(v) == 8 and v.isdigit())
    assets = pipeline.assets(result)
    leaky = result.train.metadata.copy()
    leaky.loc[0, "view_position"] = f"PA {date}"

    checked = verify(result.phi, uploaded_strings("x", "y", {**assets, "metadata": (leaky, leaky)}))

    assert ("metadata.view_position (private)", date) in [(x.where, x.value) for x in checked.leaks]


def test_metadata_holds_only_allow_listed_columns_and_pseudonyms(
    result: pipeline.IngestResult,
) -> None:
    frame = result.train.metadata

    assert tuple(frame.columns) == METADATA_COLUMNS
    assert frame["patient_key"].str.fullmatch(r"P\d{12}").all()
    assert set(frame["label_name"]) <= {"normal", "opacity"}


def test_patient_key_is_stable_per_site_and_differs_between_sites() -> None:
    assert patient_key(KEY, "MRN1") == patient_key(KEY, "MRN1")
    assert patient_key(KEY, "MRN1") != patient_key(KEY, "MRN2")
    assert patient_key(KEY, "MRN1") != patient_key(b"another-site-key-0123456789abcd", "MRN1")


def test_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "pseudonym.key"

    first, second = load_or_create_key(path), load_or_create_key(path)

    assert first == second and len(first) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pseudonym.key"
    load_or_create_key(path)
    os.chmod(path, 0o644)

    with pytest.raises(ConfigError, match=r"readable by others .* chmod 600"):
        load_or_create_key(path)


def test_mock_twins_match_schema_and_prevalence(result: pipeline.IngestResult) -> None:
    real, twin = result.train, result.mock_train

    assert twin.images.shape == real.images.shape and twin.images.dtype == real.images.dtype
    assert twin.labels.dtype == real.labels.dtype
    assert np.bincount(twin.labels).tolist() == np.bincount(real.labels).tolist()
    assert list(twin.metadata.columns) == list(real.metadata.columns)
    assert twin.metadata.dtypes.equals(real.metadata.dtypes)
    assert set(twin.metadata["patient_key"]).isdisjoint(real.metadata["patient_key"])


def test_no_mock_image_equals_a_real_one(result: pipeline.IngestResult) -> None:
    near = result.nearest

    assert near["identical"] == 0 and near["min_rms"] > 0.02
    assert not any((result.train.images == m).all(axis=(1, 2, 3)).any()
                   for m in result.mock_train.images)  # fmt: skip


def test_nearest_real_detects_a_copied_image(result: pipeline.IngestResult) -> None:
    copies = result.train.images[:3].copy()

    near = mock.nearest_real(copies, result.train.images, np.random.default_rng(0))

    assert near["identical"] == 3 and near["min_rms"] == pytest.approx(0.0, abs=1e-3)
    assert near["max_correlation"] == pytest.approx(1.0, abs=1e-4)


def test_report_lists_files_and_falls_back_when_source_is_read_only(
    tmp_path: Path, result: pipeline.IngestResult
) -> None:
    locked, fallback = tmp_path / "locked", tmp_path / "fallback"
    locked.mkdir()
    os.chmod(locked, 0o500)
    info = report.summary(result)
    try:
        csv_path, json_path, fell_back = report.write_report(result.records, info, locked, fallback)
    finally:
        os.chmod(locked, 0o700)

    document = json.loads(json_path.read_text())
    assert (fell_back or os.geteuid() == 0) and csv_path.exists()
    assert document["summary"]["accepted"] == 30
    assert len(document["files"]) == len(result.records)
