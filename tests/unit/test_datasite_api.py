"""The admin/compliance notebook API's own logic: credentials from the environment, and
escaping in what it renders."""

from __future__ import annotations

from pathlib import Path

import pytest

from datasite import api
from datasite.audit.log import VerifyReport
from datasite.errors import ConfigError
from datasite.review import view as review_view
from datasite.review.facts import DryRunResult


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
    dry = DryRunResult(ok=False, notes=["[bold]weights[/bold]: a note"], error="[red]boom[/red]")
    shown = review_view.to_html(review_view.dry_run_view(dry))
    assert "[bold]weights[/bold]" in shown and "[red]boom[/red]" in shown
