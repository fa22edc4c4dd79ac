"""Start and stop a datasite as a child process (tests, the demo, notebooks).

A hospital runs ``datasite launch`` itself; this wraps exactly that command so that what the
tests exercise is what an admin runs.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from datasite.config import ADMIN_EMAIL_ENV, ADMIN_PASSWORD_ENV, AdminCredentials
from datasite.errors import DatasiteError
from fedcommon.transport import is_ready

READY_TIMEOUT_S = 90.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class SiteProcess:
    """One ``datasite launch`` child process on loopback."""

    name: str
    data_dir: Path
    admin: AdminCredentials
    port: int = field(default_factory=free_port)
    db_url: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    extra_args: list[str] = field(default_factory=list)  # more `datasite launch` options
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"{self.name}.console.log"

    def command(self) -> list[str]:
        cmd = [
            sys.executable,
            "-m",
            "datasite",
            "launch",
            "--name",
            self.name,
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
        ]
        return cmd + (["--db-url", self.db_url] if self.db_url else []) + self.extra_args

    def start(self, timeout: float = READY_TIMEOUT_S) -> float:
        """Start and wait until the site answers; returns seconds from start to ready."""
        env = {
            **os.environ,
            ADMIN_EMAIL_ENV: self.admin.email,
            ADMIN_PASSWORD_ENV: self.admin.password,
            **self.extra_env,
        }
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise DatasiteError(
                    f"datasite {self.name} exited with code {self.process.returncode} "
                    f"before it was ready; see {self.log_path}."
                )
            if is_ready(self.url):
                return time.monotonic() - started
            time.sleep(0.2)
        self.stop()
        raise DatasiteError(
            f"datasite {self.name} not ready after {timeout:.0f} s; see {self.log_path}."
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        """Stop the site (SIGTERM: clean; SIGKILL: crash) and its process group."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        os.killpg(self.process.pid, sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait(timeout=10)

    def store_bytes(self) -> int:
        """Bytes on disk of the site's store (database and blob files under ``state``)."""
        state = self.data_dir / "state"
        return sum(f.stat().st_size for f in state.rglob("*") if f.is_file())

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the site's own process has used so far: its request
        handling and background threads, not the sandbox processes that run the code."""
        if self.process is None:
            return 0.0
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __enter__(self) -> SiteProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
