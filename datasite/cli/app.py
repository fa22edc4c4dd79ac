"""The ``datasite`` command: what a hospital admin runs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from datasite.cli.support import console, fail_on_error
from datasite.config import ADMIN_PASSWORD_ENV, SiteSettings, admin_credentials
from datasite.sandbox.verdict import Limits

UNSAFE_WARNING = (
    "WARNING: --unsafe-in-process: if no sealed worker can start, approved researcher code "
    "runs INSIDE this datasite process, with its files, network and memory. Every start and "
    "execution in this mode is recorded in the audit log. Install bubblewrap instead."
)

# Tracebacks with local variables would print passwords and keys: never show locals.
app = typer.Typer(
    help="Run and administer a hospital's syft datasite.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.command()
def launch(
    name: Annotated[str, typer.Option(help="The datasite's name, e.g. the hospital's.")],
    port: Annotated[int, typer.Option(help="TCP port to serve on.")],
    data_dir: Annotated[Path, typer.Option(help="Where all of the site's state lives.")],
    host: Annotated[str, typer.Option(help="Interface to bind; 0.0.0.0 exposes it.")] = "127.0.0.1",
    db_url: Annotated[
        str | None, typer.Option(help="postgresql://user:pw@host:port/db instead of SQLite.")
    ] = None,
    verbose: Annotated[bool, typer.Option(help="Debug logging.")] = False,
    sandbox_memory_mb: Annotated[
        int, typer.Option(help="Memory limit of one execution of researcher code.")
    ] = Limits().memory_mb,
    sandbox_wall_s: Annotated[
        float, typer.Option(help="Wall-time limit of one execution (seconds).")
    ] = Limits().wall_s,
    sandbox_cpu_s: Annotated[
        int, typer.Option(help="CPU-time limit of one execution (seconds).")
    ] = Limits().cpu_s,
    unsafe_in_process: Annotated[
        bool,
        typer.Option(
            "--unsafe-in-process",
            help="DANGEROUS: where no sealed worker can start, run approved code inside this "
            "process, with its files, network and secrets. Recorded in the audit log.",
        ),
    ] = False,
) -> None:
    """Run a datasite in the foreground (Ctrl-C or SIGTERM stops it cleanly).

    Admin credentials come from DATASITE_ADMIN_EMAIL / DATASITE_ADMIN_PASSWORD (the password
    is removed from the process environment once read). Researcher code runs in a sealed
    worker (bubblewrap); without one the site refuses to run code.
    """
    from datasite.launch import launch as run_site

    with fail_on_error():
        limits = Limits(memory_mb=sandbox_memory_mb, wall_s=sandbox_wall_s, cpu_s=sandbox_cpu_s)
        settings = SiteSettings(name=name, port=port, data_dir=data_dir, host=host,
                                db_url=db_url, sandbox=limits,
                                unsafe_in_process=unsafe_in_process)  # fmt: skip
        creds = admin_credentials()
        os.environ.pop(ADMIN_PASSWORD_ENV, None)  # read once; nothing later may find it
        if unsafe_in_process:
            console.print(UNSAFE_WARNING, style="bold red")
        run_site(settings, creds, verbose=verbose)


def _register_subcommands() -> None:
    from datasite.cli.users import users_app

    app.add_typer(users_app, name="users", help="Add and list the people who use this site.")
    from datasite.cli.audit import audit_app
    from datasite.cli.requests import requests_app

    app.add_typer(requests_app, name="requests", help="Review code requests and decide on them.")
    app.add_typer(audit_app, name="audit", help="Export and verify the site's audit log.")
    from datasite.cli.env import env_app

    app.add_typer(env_app, name="env", help="What researcher code may import at this site.")
    from datasite.cli.privacy import privacy_app

    app.add_typer(privacy_app, name="privacy", help="Each dataset's privacy budget (epsilon).")
    from datasite.cli.data import register as register_data_commands  # synth, ingest

    register_data_commands(app)


_register_subcommands()
__all__ = ["app", "console"]
