"""The mistakes an admin will make get a clear message and a non-zero exit code."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.conftest import ADMIN, RESEARCHER_PASSWORD, SiteFactory, run_cli

pytestmark = pytest.mark.integration


def launch_args(tmp_path: Path, port: int = 1) -> list[str]:
    return ["launch", "--name", "h", "--port", str(port), "--data-dir", str(tmp_path / "d")]


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        pytest.param("changethis", "well-known default", id="syft-default"),
        pytest.param("short-pw", "at least 12", id="too-short"),
        pytest.param("", "DATASITE_ADMIN_PASSWORD is not set", id="unset"),
    ],
)
def test_launch_refuses_unsafe_admin_password(tmp_path: Path, password: str, expected: str) -> None:
    result = run_cli(*launch_args(tmp_path), env={"DATASITE_ADMIN_PASSWORD": password})

    assert result.returncode == 2
    assert expected in result.stderr
    assert "export DATASITE_ADMIN_EMAIL" in result.stderr  # says how to set one


def test_launch_refuses_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = run_cli(*launch_args(tmp_path, busy.getsockname()[1]))

    assert result.returncode == 3
    assert "already in use" in result.stderr


def test_launch_refuses_unwritable_data_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")

    result = run_cli(
        "launch", "--name", "h", "--port", "18999", "--data-dir", str(blocker / "data")
    )

    assert result.returncode == 4
    assert "not a writable directory" in result.stderr


def test_data_dir_of_another_site_is_refused(sites: SiteFactory) -> None:
    site = sites.start("first")
    site.stop()

    result = run_cli(
        "launch", "--name", "second", "--port", str(site.port), "--data-dir", str(site.data_dir)
    )

    assert result.returncode == 4
    assert "belongs to datasite 'first'" in result.stderr


def test_admin_commands_report_wrong_password_unreachable_and_duplicates(
    sites: SiteFactory,
) -> None:
    site = sites.start("errs")
    add = [
        "users",
        "add",
        "--url",
        site.url,
        "--email",
        "bo@uni.example",
        "--name",
        "Bo",
        "--role",
        "researcher",
        "--password-env",
        "PW",
    ]
    env = {"PW": RESEARCHER_PASSWORD}

    assert run_cli(*add, env=env).returncode == 0
    duplicate = run_cli(*add, env=env)
    wrong = run_cli(
        "users", "list", "--url", site.url, env={"DATASITE_ADMIN_PASSWORD": "not-the-password-1"}
    )
    unreachable = run_cli("users", "list", "--url", "http://127.0.0.1:1")
    malformed = run_cli("users", "list", "--url", "127.0.0.1")
    weak = run_cli(*add[:5], "cy@uni.example", *add[6:], env={"PW": "short"})

    assert (duplicate.returncode, wrong.returncode) == (7, 6)
    assert "bo@uni.example already exists" in duplicate.stderr
    assert "wrong email or password" in wrong.stderr
    assert (unreachable.returncode, malformed.returncode) == (5, 2)
    assert "Cannot reach a datasite at http://127.0.0.1:1" in unreachable.stderr
    assert "not of the form http://HOST:PORT" in malformed.stderr
    assert weak.returncode == 2 and "at least 12" in weak.stderr
    assert ADMIN.password not in duplicate.stderr + wrong.stderr
