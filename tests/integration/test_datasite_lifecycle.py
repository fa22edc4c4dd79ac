"""A hospital admin launches, stops, crashes and relaunches a datasite; nothing is lost."""

from __future__ import annotations

import signal

import numpy as np
import pytest

from datasite.syftio.client import (
    admin_login,
    dataset_names,
    list_users,
    login,
    upload_dataset,
)
from tests.conftest import ADMIN, RESEARCHER_PASSWORD, SiteFactory, run_cli

pytestmark = pytest.mark.integration


def add_researcher(url: str, email: str = "ada@uni.example") -> None:
    result = run_cli(
        "users",
        "add",
        "--url",
        url,
        "--email",
        email,
        "--name",
        "Ada L",
        "--role",
        "researcher",
        "--password-env",
        "NEW_PW",
        env={"NEW_PW": RESEARCHER_PASSWORD},
    )
    assert result.returncode == 0, result.stderr
    assert f"Added researcher {email}" in result.stdout


def upload_small_dataset(url: str) -> np.ndarray:
    private = np.arange(12, dtype=np.float32).reshape(3, 4)
    upload_dataset(
        admin_login(url, ADMIN),
        "ward-xrays",
        "test data",
        {"images": (private, np.zeros_like(private))},
    )
    return private


@pytest.mark.parametrize(
    "stop_signal",
    [
        pytest.param(signal.SIGTERM, id="clean-stop"),
        pytest.param(signal.SIGKILL, id="kill-9"),
    ],
)
def test_relaunch_keeps_users_and_datasets(sites: SiteFactory, stop_signal: int) -> None:
    site = sites.start("stgeorge")
    add_researcher(site.url)
    upload_small_dataset(site.url)

    site.stop(stop_signal)
    site.start()

    researcher = login(site.url, "ada@uni.example", RESEARCHER_PASSWORD)
    assert dataset_names(researcher) == ["ward-xrays"]
    mock = researcher.datasets["ward-xrays"].assets["images"].mock
    assert np.array_equal(np.asarray(mock), np.zeros((3, 4), dtype=np.float32))


def test_researcher_gets_mock_never_private(sites: SiteFactory) -> None:
    site = sites.start("stmary")
    add_researcher(site.url)
    private = upload_small_dataset(site.url)

    researcher = login(site.url, "ada@uni.example", RESEARCHER_PASSWORD)
    asset = researcher.datasets["ward-xrays"].assets["images"]

    assert asset.data is None
    assert not np.array_equal(np.asarray(asset.mock), private)
    admin_asset = admin_login(site.url, ADMIN).datasets["ward-xrays"].assets["images"]
    assert np.array_equal(np.asarray(admin_asset.data), private)


def test_signup_is_disabled(sites: SiteFactory) -> None:
    import syft as sy

    site = sites.start("closed")
    guest = sy.login_as_guest(url="http://127.0.0.1", port=site.port)
    with pytest.raises(Exception, match=r"(?i)sign.?up|not allowed|permission|register"):
        guest.register(
            name="Mallory",
            email="m@evil.example",
            password="mallory-pass-12",
            password_verify="mallory-pass-12",
        )
    emails = [user["email"] for user in list_users(admin_login(site.url, ADMIN))]
    assert "m@evil.example" not in emails
