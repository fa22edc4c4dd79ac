"""The datasites a notebook session works with: named in a sites file, or launched here.

A launched site is a real ``datasite launch`` child (:class:`~lab.process.SiteProcess`)
in its own session, so it outlives the notebook kernel that started it; its pid, port and
data dir are kept in ``WORKDIR/launched.json`` so that a later notebook (or the test suite)
can find and stop it. Launched sites keep their data dir: launching again restarts them with
their data.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from datasite.config import AdminCredentials
from datasite.errors import ConfigError, DatasiteError
from fedcommon import sites_file
from fedcommon.transport import is_ready
from lab.process import SiteProcess, free_port

log = logging.getLogger(__name__)
STATE_FILE = "launched.json"
STOP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Site:
    name: str
    url: str


def read_sites(path: Path) -> list[Site]:
    """The names and URLs of a sites file (format owned by :mod:`fedcommon.sites_file`)."""
    try:
        entries = sites_file.read(path).sites
    except sites_file.SitesFileError as err:
        raise ConfigError(f"{err.message} Check FL_SITES_FILE.") from None
    return [Site(e.name, e.url.rstrip("/")) for e in entries]


def write_sites(path: Path, sites: list[Site], email_env: str, password_env: str) -> Path:
    """A researcher's sites file: names, URLs and the NAMES of the credential variables."""
    entries = [
        sites_file.SiteEntry(name=s.name, url=s.url, email_env=email_env, password_env=password_env)
        for s in sites
    ]
    return sites_file.write(path, entries)


def _state(workdir: Path) -> dict[str, dict[str, object]]:
    path = workdir / STATE_FILE
    if not path.exists():
        return {}
    state: dict[str, dict[str, object]] = json.loads(path.read_text())
    return state


def launch(names: tuple[str, ...], workdir: Path, admin: AdminCredentials) -> list[Site]:
    """Start (or restart, keeping their data) one datasite per name under ``workdir/sites``.

    Raises:
        DatasiteError: a site did not become ready (its console log is named).
    """
    previous = _state(workdir)
    processes = [
        SiteProcess(
            name=name,
            data_dir=workdir / "sites" / name / "data",
            admin=admin,
            port=_port(previous.get(name, {}).get("port")),
        )
        for name in names
    ]
    with ThreadPoolExecutor(max_workers=len(processes)) as pool:
        list(pool.map(lambda p: p.start(), processes))
    state = {p.name: {"pid": p.process.pid if p.process else None, "port": p.port,
                      "url": p.url, "data_dir": str(p.data_dir)} for p in processes}  # fmt: skip
    (workdir / STATE_FILE).write_text(json.dumps(state, indent=2))
    log.info("launched %s", ", ".join(f"{p.name} at {p.url}" for p in processes))
    return [Site(p.name, p.url) for p in processes]


def _port(previous: object) -> int:
    """The site's previous port when still free (its URL stays valid), else a free one."""
    import socket

    if isinstance(previous, int):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", previous))
                return previous
            except OSError:
                pass
    return free_port()


def launched(workdir: Path) -> list[Site]:
    """The sites launched under ``workdir`` that still answer."""
    found = [Site(name, str(info["url"])) for name, info in _state(workdir).items()]
    return [site for site in found if is_ready(site.url)]


def _alive(pid: int, data_dir: str) -> bool:
    """Whether ``pid`` is still our ``datasite launch`` for ``data_dir`` (not a reused pid)."""
    proc = Path(f"/proc/{pid}")
    if not proc.exists():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return not Path("/proc").exists()  # no procfs (macOS): trust the pid
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return state != "Z" and "datasite" in command and data_dir in command


def stop_launched(workdir: Path) -> list[str]:
    """Stop every site launched under ``workdir`` (SIGTERM, a clean stop); returns their names."""
    stopped = []
    for name, info in _state(workdir).items():
        pid, data_dir = info.get("pid"), str(info.get("data_dir"))
        if isinstance(pid, int) and _alive(pid, data_dir):
            _stop(pid, data_dir)
            stopped.append(name)
    (workdir / STATE_FILE).unlink(missing_ok=True)
    return stopped


def _stop(pid: int, data_dir: str) -> None:
    os.killpg(pid, signal.SIGTERM)  # the site leads its own process group
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while _alive(pid, data_dir):
        if time.monotonic() > deadline:
            os.killpg(pid, signal.SIGKILL)
            log.warning("datasite pid %s ignored SIGTERM for %.0f s; killed", pid, STOP_TIMEOUT_S)
            return
        time.sleep(0.1)


def require_ready(sites: list[Site]) -> list[Site]:
    """``sites`` unchanged when every one answers, else a DatasiteError naming the others."""
    down = [f"{s.name} ({s.url})" for s in sites if not is_ready(s.url)]
    if down:
        raise DatasiteError(
            f"Not answering: {', '.join(down)}. Start those datasites, or fix the sites file."
        )
    return sites
