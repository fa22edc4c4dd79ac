"""Fixtures shared by every test: admin credentials and real datasites on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from datasite.config import AdminCredentials
from lab.process import SiteProcess

ADMIN = AdminCredentials(email="admin@hospital.example", password="correct-horse-battery-9")
RESEARCHER_PASSWORD = "researcher-pass-123"


@pytest.fixture
def admin() -> AdminCredentials:
    return ADMIN


class SiteFactory:
    """Starts datasites on free loopback ports and stops every one at teardown."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.sites: list[SiteProcess] = []

    def make(self, name: str = "site", **kwargs: object) -> SiteProcess:
        site = SiteProcess(name=name, data_dir=self.root / name / "data", admin=ADMIN, **kwargs)  # type: ignore[arg-type]
        self.sites.append(site)
        return site

    def start(self, name: str = "site", **kwargs: object) -> SiteProcess:
        site = self.make(name, **kwargs)
        site.start()
        return site

    def stop_all(self) -> None:
        for site in self.sites:
            site.stop()


@pytest.fixture
def sites(tmp_path: Path) -> Iterator[SiteFactory]:
    factory = SiteFactory(tmp_path)
    try:
        yield factory
    finally:
        factory.stop_all()


def run_cli(
    *args: str, env: dict[str, str] | None = None, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m datasite ...`` as a user would, with the admin's environment."""
    full_env = {
        **os.environ,
        "DATASITE_ADMIN_EMAIL": ADMIN.email,
        "DATASITE_ADMIN_PASSWORD": ADMIN.password,
        "COLUMNS": "200",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "datasite", *args],
        env=full_env,
        capture_output=True,
        text=True,
        input=input,
        timeout=300,
    )


def add_user(
    url: str, email: str, role: str = "researcher", password: str = RESEARCHER_PASSWORD
) -> None:
    """Add a user through the admin API (fast; the CLI path has its own tests)."""
    from datasite.syftio.client import add_user as add
    from datasite.syftio.client import admin_login
    from fedcommon.roles import Role

    add(
        admin_login(url, ADMIN),
        email=email,
        name=email.split("@")[0],
        password=password,
        role=Role(role),
    )
