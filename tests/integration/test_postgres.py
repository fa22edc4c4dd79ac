"""``datasite launch --db-url postgresql://...`` keeps syft's records in PostgreSQL."""

from __future__ import annotations

import os
import uuid
from urllib.parse import urlparse

import numpy as np
import pytest

from datasite.syftio.client import admin_login, dataset_names, list_users, upload_dataset
from tests.conftest import ADMIN, SiteFactory

pytestmark = pytest.mark.integration


@pytest.fixture
def database_url() -> str:
    """A fresh database on the cluster scripts/services started (TEST_POSTGRES_URL)."""
    server = os.environ.get("TEST_POSTGRES_URL")
    if not server:
        if os.environ.get("REQUIRE_POSTGRES"):
            pytest.fail(
                "REQUIRE_POSTGRES is set but TEST_POSTGRES_URL is not: "
                "run the tests through ./scripts/test, which starts PostgreSQL."
            )
        pytest.skip("no PostgreSQL: run through ./scripts/test to start one")
    import psycopg

    name = f"site_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return urlparse(server)._replace(path=f"/{name}").geturl()


def test_postgres_site_keeps_everything_across_restart(
    sites: SiteFactory, database_url: str
) -> None:
    site = sites.start("pg", db_url=database_url)
    admin = admin_login(site.url, ADMIN)
    from datasite.syftio.client import add_user
    from fedcommon.roles import Role

    add_user(admin, "ada@uni.example", "Ada", "researcher-pass-123", Role.RESEARCHER)
    data = np.ones((2, 2), dtype=np.float32)
    upload_dataset(admin, "pg-set", "d", {"x": (data, data * 0)})

    site.stop()
    site.start()

    admin = admin_login(site.url, ADMIN)
    assert "ada@uni.example" in [u["email"] for u in list_users(admin)]
    assert dataset_names(admin) == ["pg-set"]
    assert not (site.data_dir / "state" / "site.db").exists()  # nothing went to SQLite
    password = urlparse(database_url).password or ""
    assert "postgresql://" in site.log_path.read_text()  # syft prints its db url ...
    assert password not in site.log_path.read_text()  # ... with the password redacted
