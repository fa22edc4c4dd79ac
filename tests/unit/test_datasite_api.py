"""The admin/compliance notebook API's own logic: sites files, launched-site bookkeeping,
credentials from the environment, and escaping in what it renders."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from datasite import api, review_view
from datasite.api_sites import STATE_FILE, Site, _alive, stop_launched, write_sites
from datasite.audit import VerifyReport
from datasite.errors import ConfigError


def test_sites_file_round_trips_and_names_credential_variables(tmp_path: Path) -> None:
    sites = [Site("north", "http://127.0.0.1:1"), Site("south", "http://127.0.0.1:2")]
    path = write_sites(tmp_path / "sites.toml", sites, "EMAIL_VAR", "PW_VAR")
    assert api.read_sites(path) == sites
    assert 'password_env = "PW_VAR"' in path.read_text()


def test_missing_or_malformed_sites_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist; check FL_SITES_FILE"):
        api.read_sites(tmp_path / "nope.toml")
    (tmp_path / "bad.toml").write_text('[[site]]\nname = "x"\n')
    with pytest.raises(ConfigError, match="needs \\[\\[site\\]\\] tables with name and url"):
        api.read_sites(tmp_path / "bad.toml")


def test_stop_launched_leaves_a_process_that_is_not_our_datasite(tmp_path: Path) -> None:
    state = {"north": {"pid": os.getpid(), "data_dir": str(tmp_path / "north"), "port": 1}}
    (tmp_path / STATE_FILE).write_text(json.dumps(state))
    assert not _alive(os.getpid(), str(tmp_path / "north"))  # pid reused by someone else
    assert stop_launched(tmp_path) == []  # and we are still running
    assert not (tmp_path / STATE_FILE).exists()


def test_credentials_come_from_the_named_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDITOR_PW", "a-long-password-1")
    creds = api.credentials("auditor@h.example", password_env="AUDITOR_PW")
    assert creds.email == "auditor@h.example" and "a-long" not in repr(creds)
    monkeypatch.delenv("AUDITOR_PW")
    with pytest.raises(ConfigError, match=r"Set AUDITOR_PW to the password of auditor@h\.example"):
        api.credentials("auditor@h.example", password_env="AUDITOR_PW")


def test_ingest_table_one_column_per_site() -> None:
    done = {"files": 3, "accepted": 2, "rejected": 1, "verify": {"passed": True}}
    table = api.ingest_table({"north": done, "south": {"dataset": "d", "note": "already on x"}})
    assert table.loc["accepted", "north"] == 2 and table.loc["phi verify", "north"] == "PASS"
    assert table.loc["note", "south"] == "already on x"


def test_audit_packet_renders_escaped_in_an_iframe(tmp_path: Path) -> None:
    packet = tmp_path / "p.html"
    packet.write_text('<h1 class="x">packet</h1>')
    report = VerifyReport(ok=True, records=1, head_seq=1, head_hash="h")
    shown = api.AuditExport(packet, 1, report)._repr_html_()
    assert '<iframe srcdoc="&lt;h1 class=&quot;x&quot;&gt;packet' in shown


def test_request_text_is_never_read_as_markup() -> None:
    dry = {"ok": False, "notes": ["[bold]weights[/bold]: a note"], "error": "[red]boom[/red]"}
    shown = review_view.to_html(review_view.dry_run_view(dry))
    assert "[bold]weights[/bold]" in shown and "[red]boom[/red]" in shown
