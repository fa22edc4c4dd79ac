"""``datasite privacy``: the dataset's privacy budget (set: admin; show: admin, compliance)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from datasite.cli.support import URL_HELP, console, fail_on_error
from datasite.privacy import remote
from datasite.privacy.ledger import ceil2, floor2
from datasite.siteclient import user_credentials

privacy_app = typer.Typer(no_args_is_help=True)
Url = Annotated[str, typer.Option(help=URL_HELP)]


@privacy_app.command("set")
def set_(
    url: Url,
    dataset: Annotated[str, typer.Option(help="The dataset's name, e.g. chest-xray.")],
    epsilon: Annotated[float, typer.Option(help="The most epsilon it may ever spend.")],
    delta: Annotated[float, typer.Option(help="The most delta, all requests together.")],
    allow_non_dp: Annotated[
        bool, typer.Option("--allow-non-dp", help="Also allow requests without DP.")
    ] = False,
    format: Annotated[str, typer.Option(help="table or json.")] = "table",
) -> None:
    """Set a dataset's privacy budget, across every researcher and request (admins only)."""
    with fail_on_error():
        found = remote.set_budget(url, user_credentials(), dataset, epsilon, delta, allow_non_dp)
    if format == "json":
        typer.echo(json.dumps(found, indent=2))
        return
    console.print(
        f"Dataset {dataset}: budget epsilon {epsilon:g}, delta {delta:g}"
        f"{', non-DP requests allowed' if allow_non_dp else ''}; remaining "
        f"{floor2(found['remaining'])}."
    )


@privacy_app.command("show")
def show(
    url: Url,
    dataset: Annotated[str | None, typer.Option(help="Only this dataset.")] = None,
    format: Annotated[str, typer.Option(help="table or json.")] = "table",
) -> None:
    """Budget, spent, remaining, and which requests spent it (admins and compliance)."""
    with fail_on_error():
        found = remote.show(url, user_credentials(), dataset)
    if format == "json":
        typer.echo(json.dumps(found, indent=2))
        return
    if not found:
        console.print("No dataset has a privacy budget on this site.")
    for ledger in found:
        _print(ledger)


def _print(ledger: dict[str, Any]) -> None:
    console.print(
        f"[bold]{escape(ledger['dataset'])}[/]: budget epsilon {ledger['epsilon']:g} "
        f"(delta {ledger['delta']:g}), spent {ceil2(ledger['spent'])}, reserved "
        f"{ceil2(ledger['reserved'])}, remaining {floor2(ledger['remaining'])}; non-DP "
        f"{'allowed' if ledger['allow_non_dp'] else 'refused'}; set by {ledger['set_by']} "
        f"at {ledger['set_at']}",
        highlight=False,
    )
    table = Table("request", "requester", "function", "declared", "spent", "rounds", "state")
    for share in ledger["requests"]:
        table.add_row(share["request_id"][:12], share["requester"], escape(share["function"]),
                      ceil2(share["declared_epsilon"]), ceil2(share["spent"]),
                      f"{share['rounds_charged']}/{share['rounds']}",
                      "reserved" if share["active"] else "released")  # fmt: skip
    console.print(table)
