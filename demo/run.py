"""The federation demo. Until the training path lands it launches three hospital datasites on
loopback, registers a researcher and a compliance officer at each, checks them and stops."""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from datasite.config import AdminCredentials
from datasite.process import SiteProcess

HOSPITALS = ("st-olav", "karolinska", "charite")
console = Console()


def _cli(*args: str, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "datasite", *args], env=env, check=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="demo", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("out/demo"))
    parser.add_argument("--keep", action="store_true", help="leave the datasites running")
    args = parser.parse_args(argv)
    shutil.rmtree(args.out, ignore_errors=True)
    admin = AdminCredentials(email="admin@hospital.example", password=secrets.token_urlsafe(16))
    env = {
        **os.environ,
        "DATASITE_ADMIN_EMAIL": admin.email,
        "DATASITE_ADMIN_PASSWORD": admin.password,
        "DEMO_USER_PW": "demo-user-pass-1",
    }
    sites = [SiteProcess(name=n, data_dir=args.out / n / "data", admin=admin) for n in HOSPITALS]
    try:
        for site in sites:
            ready = site.start()
            console.print(f"[green]datasite {site.name}[/] ready at {site.url} in {ready:.1f} s")
            for email, role in (
                ("researcher@uni.example", "researcher"),
                ("auditor@hospital.example", "compliance"),
            ):
                _cli(
                    "users",
                    "add",
                    "--url",
                    site.url,
                    "--email",
                    email,
                    "--name",
                    role.title(),
                    "--role",
                    role,
                    "--password-env",
                    "DEMO_USER_PW",
                    env=env,
                )
            _cli("users", "list", "--url", site.url, env=env)
        console.print(f"Outputs and site data under {args.out.resolve()}")
    finally:
        if not args.keep:
            for site in sites:
                site.stop()
