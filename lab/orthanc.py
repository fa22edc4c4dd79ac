"""A throw-away Orthanc PACS for tests: foreground, its own JSON config and storage folder.

Orthanc has no bind-address option (it listens on every interface), so remote access is
refused (``RemoteAccessAllowed: false``), its DICOM port is off, and tests talk to it over
loopback only. DICOMweb (QIDO-RS / WADO-RS / STOW-RS) is served under ``/dicom-web/``.

``python -m lab.orthanc config DIR PORT`` prints the config (scripts/services uses it, so the
shell helper and the pytest fixture start the same server).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from lab.process import free_port

PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
READY_TIMEOUT_S = 30.0


def binary() -> str | None:
    """The Orthanc executable with its DICOMweb plugin, or None when not installed."""
    found = shutil.which("Orthanc") or (
        "/usr/sbin/Orthanc" if Path("/usr/sbin/Orthanc").exists() else None
    )
    return found if found and PLUGIN.exists() else None


def config(root: Path, port: int) -> dict[str, Any]:
    return {
        "Name": "lab-orthanc",
        "StorageDirectory": str(root / "storage"),
        "IndexDirectory": str(root / "storage"),
        "HttpPort": port,
        "DicomServerEnabled": False,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "OrthancExplorerEnabled": False,
        "WebDavEnabled": False,
        "Plugins": [str(PLUGIN)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "StudiesMetadata": "Full"},
    }


def is_ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/system", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class OrthancProcess:
    root: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dicomweb(self) -> str:
        return f"{self.url}/dicom-web"

    def start(self) -> None:
        exe = binary()
        if exe is None:
            raise RuntimeError("Orthanc with its DICOMweb plugin is not installed")
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / "orthanc.json"
        path.write_text(json.dumps(config(self.root, self.port), indent=1))
        log = (self.root / "orthanc.log").open("wb")
        self.process = subprocess.Popen([exe, str(path)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not is_ready(self.url):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"Orthanc did not start; see {self.root / 'orthanc.log'}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


if __name__ == "__main__" and sys.argv[1:2] == ["config"]:
    print(json.dumps(config(Path(sys.argv[2]), int(sys.argv[3])), indent=1))
