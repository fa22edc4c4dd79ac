"""``datasite requests``: review code requests and decide on them.

``list`` / ``show`` read the site API and work for admins and compliance officers (their own
account via DATASITE_USER_EMAIL / DATASITE_USER_PASSWORD, else the admin variables).
``dry-run`` (also ``show --dry-run``) runs the code on mock data in a child process.
``approve`` / ``deny`` / ``revoke`` need the admin role.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table

from datasite.cli_support import URL_HELP, console, err_console, fail_on_error
from datasite.errors import AuthError, ConfigError
from datasite.siteclient import SiteAPI, user_credentials

requests_app = typer.Typer(no_args_is_help=True)
ID_HELP = "The request id (or a unique prefix of at least 6 characters)."
FORMAT_HELP = "table or json."
SAMPLE_HELP = "JSON file with sample values for researcher-owned arguments, e.g. weights."
STATUSES = ("pending", "approved", "denied", "revoked")
Url = Annotated[str, typer.Option(help=URL_HELP)]
RequestId = Annotated[str, typer.Argument(help=ID_HELP)]


@requests_app.command("list")
def list_(
    url: Url,
    status: Annotated[
        str | None, typer.Option(help="pending, approved, denied or revoked.")
    ] = None,
    format: Annotated[str, typer.Option(help=FORMAT_HELP)] = "table",
) -> None:
    """List the site's code requests, oldest first."""
    with fail_on_error():
        if status is not None and status not in STATUSES:
            raise ConfigError(f"--status {status}: use one of {', '.join(STATUSES)}.")
        found = SiteAPI(url, user_credentials()).get("/requests", status=status)["requests"]
    if format == "json":
        typer.echo(json.dumps(found, indent=2))
        return
    table = Table("id", "function", "requester", "time", "status", "risk", "runs", title=url)
    for req in found:
        table.add_row(req["request_id"][:12], escape(req["function"]), req["requester"],
                      req["request_time"], req["status"], req["risk"]["worst"],
                      str(req["executions"]))  # fmt: skip
    console.print(table)


def _load_samples(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        samples = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ConfigError(f"--sample-args {path}: not a readable JSON file ({err}).") from None
    if not isinstance(samples, dict):
        raise ConfigError(f"--sample-args {path}: must hold an object {{argument: value}}.")
    return samples


def _review(api: SiteAPI, facts: dict[str, Any], dry: dict[str, Any] | None) -> str:
    """Record the review in the site's audit log (admins only)."""
    body = {"function": facts["function"], "code_hash": facts["code_hash"],
            "risk": facts["risk"], "dry_run": dry}  # fmt: skip
    try:
        seq = api.post(f"/requests/{facts['request_id']}/review", body)["seq"]
    except AuthError:
        return "review not recorded in the audit log (only admins' reviews are)"
    return f"review recorded in the audit log (seq {seq})"


def _run_dry(url: str, facts: dict[str, Any], samples: Path | None, timeout: float) -> Any:
    from datasite.syftio.review_client import dry_run

    with console.status("dry run on mock data..."):
        return dry_run(url, user_credentials(), facts, _load_samples(samples), timeout)


@requests_app.command("show")
def show(
    url: Url,
    request_id: RequestId,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Also run it on mock data.")] = False,
    sample_args: Annotated[Path | None, typer.Option(help=SAMPLE_HELP)] = None,
    timeout: Annotated[float, typer.Option(help="Dry-run time limit, seconds.")] = 120.0,
    format: Annotated[str, typer.Option(help=FORMAT_HELP)] = "table",
) -> None:
    """Everything needed to decide: code, hashes, assets, policies, risks, diff."""
    with fail_on_error():
        api = SiteAPI(url, user_credentials())
        facts = api.get(f"/requests/{request_id}")
        dry = _run_dry(url, facts, sample_args, timeout) if dry_run else None
        note = _review(api, facts, dry)
    if format == "json":
        typer.echo(json.dumps({**facts, "dry_run": dry}, indent=2))
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
    format: Annotated[str, typer.Option(help=FORMAT_HELP)] = "table",
) -> None:
    """Run the request on the mock assets in a separate process; show what would leave."""
    with fail_on_error():
        api = SiteAPI(url, user_credentials())
        facts = api.get(f"/requests/{request_id}")
        dry = _run_dry(url, facts, sample_args, timeout)
        note = _review(api, facts, dry)
    if format == "json":
        typer.echo(json.dumps(dry, indent=2))
    else:
        _print_dry_run(dry)
        err_console.print(f"[dim]{note}[/]")
    if not dry.get("ok"):
        raise typer.Exit(code=1)


def _decide(url: str, request_id: str, action: str, reason: str) -> None:
    from datasite.syftio.review_client import decide

    with fail_on_error():
        if action != "approve" and not reason.strip():
            raise ConfigError("--reason must say why (the researcher sees it); it is empty.")
        function = decide(url, user_credentials(), request_id, action, reason.strip())
    console.print(f"{action.capitalize()}d request {request_id} ({function}) on {url}.")


@requests_app.command("approve")
def approve(url: Url, request_id: RequestId) -> None:
    """Approve a request: the researcher may then run it on the private data (admins only)."""
    _decide(url, request_id, "approve", "")


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


def _print_request(facts: dict[str, Any]) -> None:
    pol = facts["policies"]
    lines = [
        f"request   {facts['request_id']}  ({facts['status']})",
        f"function  {facts['function']}   requester {facts['requester']}",
        f"submitted {facts['request_time']}   executions so far {facts['executions']}",
        f"code hash {facts['code_hash']}  (normalised; syft's: {facts['syft_code_hash'][:16]}…)",
        f"policies  input {pol['input_policy']}, output {pol['output_policy']}, "
        f"execution limit {pol['execution_limit']}",
    ]
    if facts.get("deny_reason"):
        lines.append(f"reason    {facts['deny_reason']}")
    console.print(Panel(escape("\n".join(lines)), title="code request"), highlight=False)
    _print_bindings(facts["bindings"])
    _print_risks(facts["risk"])
    console.print(Syntax(facts["code"], "python", line_numbers=True))
    _print_diff(facts)


def _print_bindings(bindings: dict[str, Any]) -> None:
    table = Table("argument", "bound to", title="inputs")
    for arg, b in bindings.items():
        what = {"asset": f"asset {b.get('asset')} {b.get('shape')}",
                "researcher": f"researcher-owned {b.get('type')} (passed at each call)",
                "constant": f"constant {b.get('value')}"}.get(b["kind"], b["kind"])  # fmt: skip
        table.add_row(escape(arg), escape(str(what)))
    console.print(table)


def _print_risks(risk: dict[str, Any]) -> None:
    table = Table("severity", "category", "line", "finding", title=f"risk: {risk['worst']}")
    colours = {"high": "bold red", "medium": "yellow", "low": "dim"}
    for f in risk["findings"]:
        sev = f["severity"]
        table.add_row(f"[{colours.get(sev, '')}]{sev}[/]", f["category"], str(f["line"]),
                      escape(f["message"]))  # fmt: skip
    console.print(table)


def _print_diff(facts: dict[str, Any]) -> None:
    prev = facts.get("previous_approved")
    if not prev:
        console.print("[dim]No earlier approved version of this function by this researcher.[/]")
        return
    console.print(f"Diff against approved {prev['function']} (request {prev['request_id'][:12]}):")
    console.print(Syntax(facts["diff"] or "(identical code)", "diff"))


def _print_dry_run(dry: dict[str, Any]) -> None:
    for note in dry.get("notes", []):
        console.print(f"  [dim]{escape(note)}[/]", highlight=False)
    if not dry.get("ok"):
        console.print(f"[bold red]dry run failed:[/] {escape(str(dry.get('error')))}")
        return
    out = dry["output"]
    table = Table("key", "type", "shape", "dtype", "bytes",
                  title=f"would leave the site: {out['total_bytes']} bytes")  # fmt: skip
    for item in out["items"]:
        table.add_row(escape(item["key"]), escape(item["type"]), str(item["shape"]),
                      escape(item["dtype"]), str(item["bytes"]))  # fmt: skip
    console.print(table)
    for warning in dry.get("asset_shaped", []):
        console.print(f"[bold red]asset-shaped output:[/] {escape(warning)}", highlight=False)
