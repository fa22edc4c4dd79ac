"""``datasite audit``: export and verify the site's audit log (admins and compliance).

Over HTTP (``--url``) with your own account (DATASITE_USER_EMAIL / DATASITE_USER_PASSWORD,
else the admin variables), or offline on a data dir (``--data-dir``). ``verify`` checks the
chain on this machine, not on trust in the server, and exits 9 when it is broken.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from datasite.audit import AuditError, VerifyReport, parse_anchor, verify_lines
from datasite.cli_support import URL_HELP, console, fail_on_error
from datasite.errors import ConfigError
from datasite.siteclient import SiteAPI, user_credentials

audit_app = typer.Typer(no_args_is_help=True)
FORMATS = ("csv", "json", "html")
Url = Annotated[str | None, typer.Option(help=URL_HELP)]
DataDir = Annotated[
    Path | None, typer.Option(help="Read the log offline from this datasite data dir instead.")
]


def _parse_since(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--since '{text}' is not a date (e.g. 2025-03-01 or "
                          "2025-03-01T12:00:00).") from None  # fmt: skip
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _source(url: str | None, data_dir: Path | None) -> tuple[str, list[str], dict[str, Any] | None]:
    """(site label, raw log lines, head) from the site API or a data dir."""
    if (url is None) == (data_dir is None):
        raise ConfigError("Give exactly one of --url (a running site) or --data-dir (offline).")
    if url is not None:
        body = SiteAPI(url, user_credentials()).get("/audit/log")
        return str(body["site"]), list(body["lines"]), body.get("head")
    from datasite.audit import raw_lines, read_head

    audit_dir = Path(data_dir or ".") / "audit"
    if not (audit_dir / "audit.jsonl").exists():
        raise AuditError(f"No audit log at {audit_dir}/audit.jsonl; is --data-dir a data dir?")
    return str(data_dir), raw_lines(audit_dir), read_head(audit_dir / "head.json")


def _records(lines: list[str], since: datetime | None) -> list[dict[str, Any]]:
    out = []
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # verify names it; the export keeps what can be read
        if since is None or datetime.fromisoformat(rec["time"]) >= since:
            out.append(rec)
    return out


@audit_app.command("export")
def export(
    format: Annotated[str, typer.Option(help="csv, json or html (a compliance packet).")],
    out: Annotated[Path, typer.Option(help="File to write.")],
    url: Url = None,
    data_dir: DataDir = None,
    since: Annotated[str | None, typer.Option(help="Only records at/after this date.")] = None,
) -> None:
    """Export the audit log; the HTML packet is per request and fit for an auditor."""
    from datasite import audit_export

    with fail_on_error():
        if format not in FORMATS:
            raise ConfigError(f"--format {format}: use one of {', '.join(FORMATS)}.")
        site, lines, head = _source(url, data_dir)
        report = verify_lines(lines, head)
        records = _records(lines, _parse_since(since))
        text = {"csv": lambda: audit_export.to_csv(records),
                "json": lambda: audit_export.to_json(records, site, report),
                "html": lambda: audit_export.to_html(records, site, report)}[format]()  # fmt: skip
        out.write_text(text, encoding="utf-8")
    console.print(f"Wrote {len(records)} records to {out} ({format}).")
    _print_report(report)


def _print_report(report: VerifyReport) -> None:
    if report.ok:
        console.print(f"[green]audit chain intact[/]: {report.records} records; anchor "
                      f"{report.head_seq}:{report.head_hash}", highlight=False)  # fmt: skip
    else:
        console.print(f"[bold red]AUDIT CHAIN BROKEN[/]: {report.problem}", highlight=False)
    for note in report.notes:
        console.print(f"[dim]note: {note}[/]")


@audit_app.command("verify")
def verify(
    url: Url = None,
    data_dir: DataDir = None,
    anchor: Annotated[
        str | None, typer.Option(help="SEQ:HASH printed by an earlier verify or export.")
    ] = None,
    format: Annotated[str, typer.Option(help="text or json.")] = "text",
) -> None:
    """Check the hash chain; name the first altered, removed or inserted record."""
    with fail_on_error():
        pin = parse_anchor(anchor) if anchor else None
        _, lines, head = _source(url, data_dir)
        report = verify_lines(lines, head, pin)
    if format == "json":
        typer.echo(json.dumps(report.model_dump(), indent=2))
    else:
        _print_report(report)
    if not report.ok:
        raise typer.Exit(code=AuditError.exit_code)
