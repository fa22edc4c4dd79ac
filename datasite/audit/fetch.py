"""Read a site's audit log (over the site API or offline from a data dir), verify it on this
machine, and export it: the library behind ``datasite audit`` and ``datasite.api``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from datasite.audit import export as audit_export
from datasite.audit.log import AuditError, VerifyReport, raw_lines, read_head, verify_lines
from datasite.config import AdminCredentials
from datasite.errors import ConfigError
from datasite.siteclient import SiteAPI

FORMATS = ("csv", "json", "html")


@dataclass(frozen=True)
class AuditSource:
    """A site's raw log lines and the head it published (None offline without head.json)."""

    site: str
    lines: list[str]
    head: dict[str, Any] | None

    def verify(self, anchor: tuple[int, str] | None = None) -> VerifyReport:
        return verify_lines(self.lines, self.head, anchor)


def parse_since(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--since '{text}' is not a date (e.g. 2025-03-01 or "
                          "2025-03-01T12:00:00).") from None  # fmt: skip
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def fetch(
    url: str | None, data_dir: Path | None, creds: AdminCredentials | None = None
) -> AuditSource:
    """The log from a running site (``url``, with ``creds``) or a data dir, not both."""
    if (url is None) == (data_dir is None):
        raise ConfigError("Give exactly one of --url (a running site) or --data-dir (offline).")
    if url is not None:
        if creds is None:
            raise ConfigError(f"Reading the audit log of {url} needs an account's credentials.")
        body = SiteAPI(url, creds).get("/audit/log")
        return AuditSource(str(body["site"]), list(body["lines"]), body.get("head"))
    audit_dir = Path(data_dir or ".") / "audit"
    if not (audit_dir / "audit.jsonl").exists():
        raise AuditError(f"No audit log at {audit_dir}/audit.jsonl; is --data-dir a data dir?")
    return AuditSource(str(data_dir), raw_lines(audit_dir), read_head(audit_dir / "head.json"))


def records(lines: list[str], since: datetime | None = None) -> list[dict[str, Any]]:
    """The readable records at/after ``since`` (verify names any unreadable line)."""
    out = []
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # verify names it; the export keeps what can be read
        if since is None or datetime.fromisoformat(rec["time"]) >= since:
            out.append(rec)
    return out


def check_format(format: str) -> None:
    if format not in FORMATS:
        raise ConfigError(f"--format {format}: use one of {', '.join(FORMATS)}.")


def export_text(
    source: AuditSource, format: str, since: datetime | None = None
) -> tuple[str, list[dict[str, Any]], VerifyReport]:
    """(file text, records exported, verify report) for ``format`` csv, json or html."""
    check_format(format)
    report = source.verify()
    selected = records(source.lines, since)
    if format == "csv":
        text = audit_export.to_csv(selected)
    elif format == "json":
        text = audit_export.to_json(selected, source.site, report)
    else:
        text = audit_export.to_html(selected, source.site, report)
    return text, selected, report
