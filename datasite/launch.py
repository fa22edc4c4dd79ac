"""Checks before a datasite starts, then the start itself.

Everything a user can get wrong (port, data dir, admin password) is checked here, before the
slow syft import, and reported with what to do about it.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from datasite.config import AdminCredentials, SiteSettings
from datasite.errors import ConfigError, DataDirError, PortInUseError
from datasite.identity import SiteIdentity, load_or_create_identity
from datasite.logs import configure_site_logging

log = logging.getLogger(__name__)


def check_port_free(host: str, port: int) -> None:
    if not 1 <= port <= 65535:
        raise ConfigError(f"--port {port} is not a valid TCP port (1-65535).")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise PortInUseError(
                    f"Port {port} on {host} is already in use (another datasite or "
                    "program). Stop it, or choose another --port."
                ) from None
            raise ConfigError(f"Cannot listen on {host}:{port}: {err.strerror}.") from None


def prepare_data_dir(data_dir: Path) -> None:
    """Create the data dir (mode 700) and prove it is writable."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        probe = data_dir / ".write-test"
        probe.write_text("ok")
        probe.unlink()
        for sub in ("state", "logs", "audit"):
            (data_dir / sub).mkdir(exist_ok=True, mode=0o700)
    except OSError as err:
        raise DataDirError(
            f"--data-dir {data_dir} is not a writable directory ({err.strerror}). "
            "Choose a directory this user can write to."
        ) from None


def preflight(settings: SiteSettings) -> SiteIdentity:
    """Run every check that can fail fast; return the site's stable identity."""
    if not settings.name.strip():
        raise ConfigError("--name must not be empty.")
    if settings.db_url and not settings.db_url.startswith(("postgresql://", "sqlite://")):
        raise ConfigError(
            f"--db-url must start with postgresql:// or sqlite:// (got "
            f"'{settings.db_url.split(':', 1)[0]}:...')."
        )
    if settings.db_url and settings.db_url.startswith("postgresql://"):
        parsed = urlparse(settings.db_url)
        if not (parsed.password and parsed.hostname and parsed.path.strip("/")):
            raise ConfigError(
                "--db-url must name user, password, host and database, e.g. "
                "postgresql://site:PASSWORD@127.0.0.1:5432/st_olav (syft 0.9.5 needs a "
                "password even where the server trusts local connections)."
            )
    check_port_free(settings.host, settings.port)
    prepare_data_dir(settings.data_dir)
    return load_or_create_identity(settings.identity_file, settings.name)


def launch(settings: SiteSettings, admin: AdminCredentials, verbose: bool = False) -> None:
    """Run the datasite in the foreground until SIGINT/SIGTERM."""
    settings = settings.model_copy(update={"data_dir": settings.data_dir.resolve()})
    identity = preflight(settings)
    log_file = configure_site_logging(settings.log_dir, verbose=verbose)
    log.info(
        "datasite %s starting on %s:%d (pid %d)",
        settings.name,
        settings.host,
        settings.port,
        os.getpid(),
    )
    log.info("logs: %s", log_file)
    from datasite.syftio.server.app import serve  # the slow syft import, after all checks

    serve(settings, identity, admin)
