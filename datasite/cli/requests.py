"""``datasite requests``: review code requests and decide on them.

``list`` / ``show`` read the site API and work for admins and compliance officers (their own
account via DATASITE_USER_EMAIL / DATASITE_USER_PASSWORD, else the admin variables).
``dry-run`` (also ``show --dry-run``) runs the code on mock data in a child process.
``approve`` / ``deny`` / ``revoke`` need the admin role.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from datasite import decisions
from datasite.cli.support import URL_HELP, console, err_console, fail_on_error
from datasite.review import view as review_view
from datasite.review.facts import DryRunResult, RequestFacts
from datasite.siteclient import user_credentials
from fedcommon.exitcodes import DatasiteExit
from fedcommon.formats import Format, FormatOpt

requests_app = typer.Typer(no_args_is_help=True)
ID_HELP = "The request id (or a unique prefix of at least 6 characters)."
SAMPLE_HELP = "JSON file with sample values for researcher-owned arguments, e.g. weights."
Url = Annotated[str, typer.Option(help=URL_HELP)]
RequestId = Annotated[str, typer.Argument(help=ID_HELP)]


@requests_app.command("list")
def list_(
    url: Url,
    status: Annotated[
        str | None, typer.Option(help="pending, approved, denied or revoked.")
    ] = None,
    format: FormatOpt = Format.TABLE,
) -> None:
    """List the site's code requests, oldest first."""
    with fail_on_error():
        found = decisions.list_requests(url, user_credentials(), status)
    if format is Format.JSON:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in found], indent=2))
        return
    table = Table("id", "function", "requester", "time", "status", "risk", "runs", title=url)
    for req in found:
        table.add_row(req.request_id[:12], escape(req.function), escape(req.requester),
                      req.request_time, req.status, req.risk.worst,
                      str(req.executions))  # fmt: skip
    console.print(table)


def _run_dry(url: str, facts: RequestFacts, samples: Path | None, timeout: float) -> DryRunResult:
    with console.status("dry run on mock data..."):
        return decisions.dry_run(
            url, user_credentials(), facts, decisions.load_samples(samples), timeout
        )


@requests_app.command("show")
def show(
    url: Url,
    request_id: RequestId,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Also run it on mock data.")] = False,
    sample_args: Annotated[Path | None, typer.Option(help=SAMPLE_HELP)] = None,
    timeout: Annotated[float, typer.Option(help="Dry-run time limit, seconds.")] = 120.0,
    format: FormatOpt = Format.TABLE,
) -> None:
    """Everything needed to decide: code, hashes, assets, policies, risks, diff."""
    with fail_on_error():
        facts = decisions.request_facts(url, user_credentials(), request_id)
        dry = _run_dry(url, facts, sample_args, timeout) if dry_run else None
        note = decisions.record_review(url, user_credentials(), facts, dry)
    if format is Format.JSON:
        dumped = facts.model_dump(mode="json")
        typer.echo(json.dumps({**dumped, "dry_run": dry and dry.model_dump(mode="json")}, indent=2))
        return
    _print_request(facts)
    if dry is not None:
        _print_dry_run(dry)
    err_console.print(f"[dim]{note}[/]")


@requests_app.command("dry-run")
def dry_run_(
    url: Url,
    request_id: RequestId,
    sample_args: Annotated[Path | None, typer.Option(help=SAMPLE_HELP)] = None,
    timeout: Annotated[float, typer.Option(help="Time limit, seconds.")] = 120.0,
    format: FormatOpt = Format.TABLE,
) -> None:
    """Run the request on the mock assets in a separate process; show what would leave."""
    with fail_on_error():
        facts = decisions.request_facts(url, user_credentials(), request_id)
        dry = _run_dry(url, facts, sample_args, timeout)
        note = decisions.record_review(url, user_credentials(), facts, dry)
    if format is Format.JSON:
        typer.echo(dry.model_dump_json(indent=2))
    else:
        _print_dry_run(dry)
        err_console.print(f"[dim]{note}[/]")
    if not dry.ok:
        raise typer.Exit(code=DatasiteExit.DRY_RUN_FAILED)


def _decide(url: str, request_id: str, action: str, reason: str, accept_risk: bool = False) -> None:
    with fail_on_error():
        function = decisions.decide(
            url, user_credentials(), request_id, action, reason, accept_risk
        )
    console.print(f"{action.capitalize()}d request {request_id} ({function}) on {url}.")


@requests_app.command("approve")
def approve(
    url: Url,
    request_id: RequestId,
    accept_risk: Annotated[
        bool,
        typer.Option(
            "--accept-risk",
            help="Needed when the risk report has a HIGH finding: you have read it and accept "
            "it. Recorded in the audit log.",
        ),
    ] = False,
) -> None:
    """Approve a request: the researcher may then run it on the private data (admins only)."""
    _decide(url, request_id, "approve", "", accept_risk)


@requests_app.command("deny")
def deny(
    url: Url,
    request_id: RequestId,
    reason: Annotated[str, typer.Option(help="Why; the researcher sees it.")],
) -> None:
    """Deny a request with a reason (admins only)."""
    _decide(url, request_id, "deny", reason)


@requests_app.command("revoke")
def revoke(
    url: Url,
    request_id: RequestId,
    reason: Annotated[str, typer.Option(help="Why; the researcher sees it.")],
) -> None:
    """Withdraw an approval: further executions are refused (admins only)."""
    _decide(url, request_id, "revoke", reason)


def _print_request(facts: RequestFacts) -> None:
    for part in review_view.request_view(facts):
        console.print(part, highlight=False)


def _print_dry_run(dry: DryRunResult) -> None:
    for part in review_view.dry_run_view(dry):
        console.print(part, highlight=False)
