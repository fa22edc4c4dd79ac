"""The ``datasite`` command: what a hospital admin runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from datasite.cli.support import console, fail_on_error
from datasite.config import SiteSettings, admin_credentials

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
) -> None:
    """Run a datasite in the foreground (Ctrl-C or SIGTERM stops it cleanly).

    Admin credentials come from DATASITE_ADMIN_EMAIL / DATASITE_ADMIN_PASSWORD.
    """
    from datasite.launch import launch as run_site

    with fail_on_error():
        settings = SiteSettings(name=name, port=port, data_dir=data_dir, host=host, db_url=db_url)
        creds = admin_credentials()
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
