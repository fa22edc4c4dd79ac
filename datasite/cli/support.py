"""What every ``datasite`` subcommand shares: error reporting and admin login options."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

from fedcommon.errors import PlatformError

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)
log = logging.getLogger(__name__)

URL_HELP = "The datasite's address, e.g. http://127.0.0.1:8081."


@contextmanager
def fail_on_error() -> Iterator[None]:
    """Turn a PlatformError into its message on stderr and its exit code."""
    try:
        yield
    except PlatformError as err:
        err_console.print(f"[bold red]error:[/] {err.message}", highlight=False)
        raise typer.Exit(code=err.exit_code) from None
