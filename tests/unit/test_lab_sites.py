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


def test_a_site_process_cpu_time_counts_its_own_work_only(tmp_path: Path) -> None:
    """benchmarks.round_overhead's site_cpu_per_call_s reads this: the process's own CPU
    (here a busy loop of ~0.3 s), not that of the children it starts (the sandbox)."""
    import subprocess
    import sys

    from datasite.config import AdminCredentials
    from lab.process import SiteProcess

    site = SiteProcess("north", tmp_path, AdminCredentials(email="a@b.example", password="x"))
    assert site.cpu_seconds() == 0.0  # not started
    busy = (
        "import subprocess, sys, time\n"
        "subprocess.run([sys.executable, '-c', 'import time\\nt=time.time()\\n"
        "while time.time() - t < 0.5: pass'])\n"
        "t = time.process_time()\n"
        "while time.process_time() - t < 0.3: pass\n"
        "print('done', flush=True)\n"
        "time.sleep(30)\n"
    )
    site.process = subprocess.Popen([sys.executable, "-c", busy], stdout=subprocess.PIPE)
    try:
        assert site.process.stdout is not None and site.process.stdout.readline() == b"done\n"
        assert 0.3 <= site.cpu_seconds() < 0.75  # its own 0.3 s (and start-up), not the child's
    finally:
        site.process.kill()
        site.process.wait()
