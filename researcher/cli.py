"""The ``researcher`` command: datasets, submit, status, train (a shell over researcher.api)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from fedcommon.errors import PlatformError
from fedcommon.exitcodes import ResearcherExit
from fedcommon.formats import Format, FormatOpt

app = typer.Typer(help="Researcher side: connect to datasites, submit training, run FedAvg.")
console = Console()
errors = Console(stderr=True)

SitesOpt = Annotated[
    Path, typer.Option("--sites", help="sites.toml: name, url, credential env vars")
]
ExpOpt = Annotated[Path, typer.Option("--experiment", help="experiment.toml")]


def _fail(err: PlatformError) -> typer.Exit:
    errors.print(f"[red]error:[/] {err.message}")
    return typer.Exit(code=err.exit_code)


def _show(rows: list[dict[str, Any]], fmt: Format, title: str) -> None:
    if fmt is Format.JSON:
        console.print_json(json.dumps(rows, default=str))
        return
    table = Table(title=title)
    for column in rows[0] if rows else ["(none)"]:
        table.add_column(str(column))
    for row in rows:
        table.add_row(*(str(value) for value in row.values()))
    console.print(table)


def _setup_logging() -> None:
    logging.basicConfig(level=logging.WARNING, handlers=[RichHandler(console=errors)], force=True)


@app.command()
def datasets(sites: SitesOpt, fmt: FormatOpt = Format.TABLE) -> None:
    """List every site's datasets and assets with their shapes."""
    from researcher import api

    _setup_logging()
    try:
        fed = api.connect(api.load_sites(sites))
        rows = api.list_datasets(fed)
    except PlatformError as err:
        raise _fail(err) from None
    rows += [{"site": s, "dataset": "-", "asset": "-", "error": r} for s, r in fed.errors.items()]
    _show(rows, fmt, "datasets")
    if fed.errors:
        raise typer.Exit(code=ResearcherExit.UNREACHABLE)


@app.command()
def cost(sites: SitesOpt, experiment: ExpOpt, fmt: FormatOpt = Format.TABLE) -> None:
    """The privacy cost the experiment would declare at each site (epsilon over every
    approved training round, from Opacus' accountant) against each site's remaining budget."""
    from researcher import api

    _setup_logging()
    try:
        exp = api.load_experiment(experiment)
        fed = api.connect(api.load_sites(sites))
        rows = api.privacy_cost(fed, exp)[1]
    except PlatformError as err:
        raise _fail(err) from None
    _show(rows, fmt, f"privacy cost of {exp.name}")


@app.command()
def submit(sites: SitesOpt, experiment: ExpOpt, fmt: FormatOpt = Format.TABLE) -> None:
    """Check the task (imports, then a tiny run on each site's mock data), then request
    approval at every site. With [privacy], the declared cost per site is shown first."""
    from researcher import api

    _setup_logging()
    try:
        exp = api.load_experiment(experiment)
        fed = api.connect(api.load_sites(sites))
        plans, costs = api.privacy_cost(fed, exp) if exp.privacy else ({}, [])
        if costs and fmt is Format.TABLE:
            _show(costs, fmt, f"privacy cost of {exp.name} (declared in each request)")
        result = api.submit(fed, exp, plans=plans if exp.privacy else None)
    except PlatformError as err:
        raise _fail(err) from None
    rows = [
        {"site": site, "result": what, "budget": exp.execution_budget,
         **({"epsilon": round(plans[site].epsilon, 4)} if site in plans else {})}
        for site, what in result.items()
    ]  # fmt: skip
    _show(rows, fmt, f"code requests for {exp.name}")


@app.command()
def check(sites: SitesOpt, experiment: ExpOpt, fmt: FormatOpt = Format.TABLE) -> None:
    """Check the experiment's task (imports against every site's code environment, then
    init / one tiny train / evaluate on every site's mock data); submits nothing."""
    from researcher import api

    _setup_logging()
    try:
        exp = api.load_experiment(experiment)
        fed = api.connect(api.load_sites(sites))
        schema, metrics = api.check(fed, exp)
    except PlatformError as err:
        raise _fail(err) from None
    rows = [{"site": site, **values} for site, values in metrics.items()]
    _show(rows, fmt, f"task passes the contract; mock metrics for {exp.name}")
    if fmt is Format.TABLE:
        console.print(f"declared output: {len(schema.weights)} weights, metrics "
                      f"{list(schema.metrics)}, at most {schema.max_bytes} bytes")  # fmt: skip


@app.command()
def env(sites: SitesOpt, fmt: FormatOpt = Format.TABLE) -> None:
    """What each site lets task code import (module and version)."""
    from researcher import api

    _setup_logging()
    try:
        fed = api.connect(api.load_sites(sites))
        found = api.code_environments(fed)
    except PlatformError as err:
        raise _fail(err) from None
    rows = [{"site": site, "module": module, "version": version}
            for site, published in found.items()
            for module, version in sorted(published.modules.items())]  # fmt: skip
    _show(rows, fmt, "code environments")


@app.command()
def status(
    sites: SitesOpt,
    experiment: Annotated[Path | None, typer.Option("--experiment")] = None,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """Per site: pending / approved / denied (with the reason), executions used and, with
    --experiment, the site's remaining privacy budget for its dataset."""
    from researcher import api

    _setup_logging()
    try:
        exp = api.load_experiment(experiment) if experiment else None
        fed = api.connect(api.load_sites(sites))
        rows = api.status(fed, exp)
    except PlatformError as err:
        raise _fail(err) from None
    _show(rows, fmt, "code requests")
    if fed.errors:
        raise typer.Exit(code=ResearcherExit.UNREACHABLE)


@app.command()
def train(
    sites: SitesOpt,
    experiment: ExpOpt,
    out: Annotated[Path, typer.Option("--out", help="run folder; rerun to resume")],
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """Federated training over every approved site; checkpoints into --out and resumes."""
    from researcher import api
    from researcher.progress import RichProgress

    _setup_logging()
    try:
        exp = api.load_experiment(experiment)
        fed = api.connect(api.load_sites(sites))
        with RichProgress(errors) as progress:
            summary = api.train(fed, exp, out, progress)
    except PlatformError as err:
        raise _fail(err) from None
    if fmt is Format.JSON:
        console.print_json(json.dumps(summary, default=str))
        return
    final = ", ".join(f"{k} {v:.3f}" for k, v in summary["final_global_metrics"].items())
    console.print(f"done: {summary['rounds_completed']} rounds, {final}; outputs in {out}")
