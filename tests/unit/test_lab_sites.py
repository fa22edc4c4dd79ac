"""The lab harness's sites bookkeeping: sites files and launched-site state."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from datasite.errors import ConfigError
from lab.sites import STATE_FILE, Site, _alive, read_sites, stop_launched, write_sites


def test_sites_file_round_trips_and_names_credential_variables(tmp_path: Path) -> None:
    sites = [Site("north", "http://127.0.0.1:1"), Site("south", "http://127.0.0.1:2")]
    path = write_sites(tmp_path / "sites.toml", sites, "EMAIL_VAR", "PW_VAR")
    assert read_sites(path) == sites
    assert 'password_env = "PW_VAR"' in path.read_text()


def test_missing_or_malformed_sites_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"does not exist\. Check FL_SITES_FILE"):
        read_sites(tmp_path / "nope.toml")
    (tmp_path / "bad.toml").write_text('[[site]]\nname = "x"\n')
    with pytest.raises(
        ConfigError, match=r"not a valid sites file .*Each \[\[site\]\] needs name, url"
    ):
        read_sites(tmp_path / "bad.toml")


def test_stop_launched_leaves_a_process_that_is_not_our_datasite(tmp_path: Path) -> None:
    state = {"north": {"pid": os.getpid(), "data_dir": str(tmp_path / "north"), "port": 1}}
    (tmp_path / STATE_FILE).write_text(json.dumps(state))
    assert not _alive(os.getpid(), str(tmp_path / "north"))  # pid reused by someone else
    assert stop_launched(tmp_path) == []  # and we are still running
    assert not (tmp_path / STATE_FILE).exists()
