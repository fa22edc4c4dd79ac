"""Roles as a hospital expects them: researchers see mock data only, compliance is read-only."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from datasite.syftio.client import admin_login, login, upload_dataset
from tests.conftest import ADMIN, RESEARCHER_PASSWORD, SiteFactory, run_cli

pytestmark = pytest.mark.integration
AUDITOR = "audit@hospital.example"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    factory = SiteFactory(tmp_path_factory.mktemp("roles"))
    site = factory.start("roles")
    try:
        for email, role in (("ada@uni.example", "researcher"), (AUDITOR, "compliance")):
            result = run_cli(
                "users",
                "add",
                "--url",
                site.url,
                "--email",
                email,
                "--name",
                role,
                "--role",
                role,
                "--password-env",
                "PW",
                env={"PW": RESEARCHER_PASSWORD},
            )
            assert result.returncode == 0, result.stderr
        private = np.full((4, 4), 7.0, dtype=np.float32)
        upload_dataset(
            admin_login(site.url, ADMIN), "xr", "d", {"images": (private, np.zeros_like(private))}
        )
        yield site
    finally:
        factory.stop_all()


def whoami(url: str, email: str, password: str) -> httpx.Response:
    return httpx.get(f"{url}/site/whoami", auth=(email, password), timeout=10)


def test_site_api_knows_each_role(site) -> None:  # type: ignore[no-untyped-def]
    assert whoami(site.url, AUDITOR, RESEARCHER_PASSWORD).json()["role"] == "compliance"
    assert whoami(site.url, "ada@uni.example", RESEARCHER_PASSWORD).json()["role"] == ("researcher")
    assert whoami(site.url, ADMIN.email, ADMIN.password).json()["role"] == "admin"
    assert whoami(site.url, AUDITOR, "wrong-password-123").status_code == 401


def test_users_list_shows_roles(site) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("users", "list", "--url", site.url, "--format", "json")

    roles = {u["email"]: u["role"] for u in __import__("json").loads(result.stdout)}
    assert roles == {ADMIN.email: "admin", "ada@uni.example": "researcher", AUDITOR: "compliance"}


@pytest.mark.parametrize("email", [AUDITOR, "ada@uni.example"])
def test_no_private_data_for_non_admins(site, email: str) -> None:  # type: ignore[no-untyped-def]
    client = login(site.url, email, RESEARCHER_PASSWORD)

    asset = client.datasets["xr"].assets["images"]

    assert asset.data is None
    assert float(np.asarray(asset.mock).sum()) == 0.0


def test_compliance_cannot_submit_code_or_list_users(site) -> None:  # type: ignore[no-untyped-def]
    import syft as sy

    auditor = login(site.url, AUDITOR, RESEARCHER_PASSWORD)
    asset = auditor.datasets["xr"].assets["images"]

    @sy.syft_function_single_use(data=asset)
    def peek(data):  # type: ignore[no-untyped-def]
        return data

    with pytest.raises(Exception, match=r"(?i)permission|role|not allowed|denied"):
        auditor.code.request_code_execution(peek)
    with pytest.raises(Exception, match=r"(?i)permission|role|not allowed|denied"):
        auditor.users.get_all()
