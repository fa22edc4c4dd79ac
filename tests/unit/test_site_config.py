"""Settings, identity and log hygiene of a datasite, without a server."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from datasite.config import admin_credentials, check_password
from datasite.errors import ConfigError, DataDirError
from datasite.identity import load_or_create_identity
from datasite.logs import RedactingFilter, redact


@pytest.mark.parametrize(
    ("env", "match"),
    [
        pytest.param({}, "DATASITE_ADMIN_EMAIL is not set", id="nothing-set"),
        pytest.param(
            {"DATASITE_ADMIN_EMAIL": "a@b.c"},
            "DATASITE_ADMIN_PASSWORD is not set",
            id="no-password",
        ),
        pytest.param(
            {"DATASITE_ADMIN_EMAIL": "a@b.c", "DATASITE_ADMIN_PASSWORD": "changethis"},
            "well-known default",
            id="syft-default",
        ),
        pytest.param(
            {"DATASITE_ADMIN_EMAIL": "a@b.c", "DATASITE_ADMIN_PASSWORD": "elevenchars"},
            "has 11 characters; at least 12",
            id="too-short",
        ),
    ],
)
def test_admin_credentials_refused(env: dict[str, str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        admin_credentials(env)


def test_admin_credentials_accepted_and_never_printed() -> None:
    creds = admin_credentials(
        {"DATASITE_ADMIN_EMAIL": " a@b.c ", "DATASITE_ADMIN_PASSWORD": "twelve-chars"}
    )

    assert creds.email == "a@b.c"
    assert "twelve-chars" not in repr(creds) + str(creds)


def test_check_password_is_case_insensitive_for_defaults() -> None:
    with pytest.raises(ConfigError, match="well-known default"):
        check_password("CHANGETHIS")


def test_identity_is_created_once_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "identity.json"

    first = load_or_create_identity(path, "st-olav")
    second = load_or_create_identity(path, "st-olav")

    assert first == second
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(bytes.fromhex(first.signing_key)) == 32
    assert first.signing_key not in repr(first)


def test_identity_of_another_site_or_corrupt_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "identity.json"
    load_or_create_identity(path, "st-olav")

    with pytest.raises(DataDirError, match="belongs to datasite 'st-olav'"):
        load_or_create_identity(path, "charite")
    path.write_text("{not json")
    with pytest.raises(DataDirError, match="corrupt"):
        load_or_create_identity(path, "st-olav")


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        pytest.param("Using postgresql://site:s3cret-pw@db:5432/x", "s3cret-pw", id="db-url"),
        pytest.param(
            "settings {'root_password': 'hunter2hunter2'}", "hunter2hunter2", id="password-field"
        ),
        pytest.param('"signing_key": "abcdef0123"', "abcdef0123", id="key-field"),
    ],
)
def test_logs_redact_secrets(text: str, secret: str) -> None:
    record = logging.LogRecord("syft", logging.INFO, __file__, 1, "%s", (text,), None)

    RedactingFilter().filter(record)

    assert secret not in record.getMessage()
    assert secret not in redact(text)
