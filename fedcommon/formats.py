"""Output formats of the command-line tools: one enum, so ``--format jsno`` is an error that
lists the choices instead of silently printing a table."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer


class Format(StrEnum):
    TABLE = "table"  # for people
    JSON = "json"  # for tools


class ExportFormat(StrEnum):
    CSV = "csv"
    JSON = "json"
    HTML = "html"  # a compliance packet per request


FormatOpt = Annotated[Format, typer.Option("--format", help="table for people, json for tools.")]
