"""One table of exit codes per CLI family; a code cannot take a second meaning."""

from __future__ import annotations

import subprocess
import sys

import pytest

from datasite.errors import DatasiteError
from datasite.ingest.upload import EXIT_SOME_REJECTED
from datasite.review.findings import ReviewError
from fedcommon.exitcodes import DatasiteExit, ResearcherExit
from researcher.errors import ResearcherError


def all_subclasses(cls: type) -> list[type]:
    return [sub for child in cls.__subclasses__() for sub in (child, *all_subclasses(child))]


@pytest.mark.parametrize(
    ("base", "table"),
    [(DatasiteError, DatasiteExit), (ResearcherError, ResearcherExit)],
    ids=["datasite", "researcher"],
)
def test_every_error_exits_with_a_code_of_its_family(base: type, table: type) -> None:
    import datasite.audit.log
    import datasite.ingest.records  # noqa: F401 - registers the ingest errors

    codes = {cls.__name__: cls.exit_code for cls in all_subclasses(base)}

    assert codes and all(code in set(table) for code in codes.values()), codes


def test_review_error_and_partial_ingest_no_longer_share_10() -> None:
    assert ReviewError.exit_code != EXIT_SOME_REJECTED
    assert EXIT_SOME_REJECTED == DatasiteExit.SOME_FILES_REJECTED == 10


def test_a_code_outside_the_table_is_refused_when_the_class_is_made() -> None:
    with pytest.raises(TypeError, match="exit_code = 42 is not in DatasiteExit"):

        class Bad(DatasiteError):
            exit_code = 42


@pytest.mark.parametrize("cli", ["datasite", "researcher"])
def test_a_misspelt_format_is_an_error_listing_the_choices(cli: str) -> None:
    args = ["users", "list", "--url", "http://127.0.0.1:1"] if cli == "datasite" else ["datasets"]
    result = subprocess.run(
        [sys.executable, "-m", cli, *args, "--format", "jsno"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert result.returncode == 2
    assert "'jsno' is not one of 'table', 'json'" in result.stderr.replace("\n", " ")
