"""``datasite audit``: export and verify the site's audit log (admins and compliance).

Over HTTP (``--url``) with your own account (DATASITE_USER_EMAIL / DATASITE_USER_PASSWORD,
else the admin variables), or offline on a data dir (``--data-dir``). ``verify`` checks the
chain on this machine, not on trust in the server, and exits 9 when it is broken.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from datasite.audit import fetch as audit_fetch
from datasite.audit.log import AuditError, VerifyReport, parse_anchor
from datasite.cli.support import URL_HELP, console, fail_on_error
from datasite.config import AdminCredentials
from datasite.siteclient import user_credentials
from fedcommon.formats import ExportFormat, Format, FormatOpt

audit_app = typer.Typer(no_args_is_help=True)
Url = Annotated[str | None, typer.Option(help=URL_HELP)]
DataDir = Annotated[
    Path | None, typer.Option(help="Read the log offline from this datasite data dir instead.")
]


def _creds(url: str | None, data_dir: Path | None) -> AdminCredentials | None:
    return user_credentials() if url is not None and data_dir is None else None


@audit_app.command("export")
def export(
    format: Annotated[ExportFormat, typer.Option(help="csv, json or html (a compliance packet).")],
    out: Annotated[Path, typer.Option(help="File to write.")],
    url: Url = None,
    data_dir: DataDir = None,
    since: Annotated[str | None, typer.Option(help="Only records at/after this date.")] = None,
) -> None:
    """Export the audit log; the HTML packet is per request and fit for an auditor."""
    with fail_on_error():
        audit_fetch.check_format(format)
        source = audit_fetch.fetch(url, data_dir, _creds(url, data_dir))
        text, records, report = audit_fetch.export_text(
            source, format, audit_fetch.parse_since(since)
        )
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
    format: FormatOpt = Format.TABLE,
) -> None:
    """Check the hash chain; name the first altered, removed or inserted record."""
    with fail_on_error():
        pin = parse_anchor(anchor) if anchor else None
        report = audit_fetch.fetch(url, data_dir, _creds(url, data_dir)).verify(pin)
    if format is Format.JSON:
        typer.echo(json.dumps(report.model_dump(), indent=2))
    else:
        _print_report(report)
    if not report.ok:
        raise typer.Exit(code=AuditError.exit_code)
