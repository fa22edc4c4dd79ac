"""What the role notebooks share: where their files live and which sites and sizes they use.

Every setting comes from an environment variable with a default, so the same notebooks run
against sites a user already has (``./scripts/demo --keep``) or sites notebook 00 launches,
and on a tiny configuration in the test suite. Relative paths are taken from the repository
root (the folder holding ``pyproject.toml`` above the working directory), because Jupyter
starts kernels in ``notebooks/``.

Credentials are never settings: they are read from the environment by name, the same names
``./scripts/demo --keep`` writes to ``out/demo/credentials.env``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from datasite.config import AdminCredentials, admin_credentials
from fedcommon.errors import PlatformError
from lab.sites import Site, launch, launched, read_sites, require_ready, stop_launched, write_sites

RESEARCHER_EMAIL_ENV = "DEMO_RESEARCHER_EMAIL"
USER_PASSWORD_ENV = "DEMO_USER_PASSWORD"  # the researcher's and the compliance officer's
DEFAULTS = {
    "FL_NOTEBOOK_DIR": "out/notebooks",
    "FL_SITE_NAMES": "st-olav,karolinska",
    "FL_DATASET": "chest-xray-nb",
    "FL_EXPERIMENT": "nb_fedavg",
    "FL_N_IMAGES": "120",
    "FL_IMAGE_SIZE": "64",
    "FL_ROUNDS": "3",
    "FL_COMPLIANCE_EMAIL": "auditor@hospital.example",
}


class NotebookConfigError(PlatformError):
    exit_code = 2


def repo_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: cwd) holding pyproject.toml."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").exists():
            return folder
    return here


@dataclass(frozen=True)
class NotebookSettings:
    workdir: Path  # exports, reports, the experiment, runs and audit packets
    sites_file: Path  # a researcher's sites.toml; notebook 00 writes it when it launches
    site_names: tuple[str, ...]  # the sites notebook 00 launches when there is no sites file
    dataset: str
    experiment: str
    n_images: int
    image_size: int
    rounds: int
    researcher_email: str
    compliance_email: str

    @property
    def sites_given(self) -> bool:
        """True when FL_SITES_FILE named the sites (notebook 00 then launches nothing)."""
        return self.sites_file != self.workdir / "sites.toml"

    @property
    def experiment_file(self) -> Path:
        return self.workdir / "experiment.toml"

    @property
    def run_dir(self) -> Path:
        return self.workdir / "runs" / self.experiment

    def export_dir(self, site: str) -> Path:
        return self.workdir / "exports" / site


def _int(env: Mapping[str, str], key: str) -> int:
    text = env.get(key) or DEFAULTS[key]
    try:
        value = int(text)
    except ValueError:
        raise NotebookConfigError(f"{key}='{text}' is not a whole number.") from None
    if value < 1:
        raise NotebookConfigError(f"{key}={value}: must be at least 1.")
    return value


def settings(env: Mapping[str, str] | None = None, root: Path | None = None) -> NotebookSettings:
    """The notebooks' settings from the environment (see ``DEFAULTS`` and the README)."""
    env = os.environ if env is None else env
    base = root or repo_root()

    def path(key: str, default: str) -> Path:
        return (base / (env.get(key) or default)).resolve()

    workdir = path("FL_NOTEBOOK_DIR", DEFAULTS["FL_NOTEBOOK_DIR"])
    names = tuple(n.strip() for n in (env.get("FL_SITE_NAMES") or DEFAULTS["FL_SITE_NAMES"])
                  .split(",") if n.strip())  # fmt: skip
    if not names:
        raise NotebookConfigError("FL_SITE_NAMES lists no site; e.g. FL_SITE_NAMES=a,b.")
    return NotebookSettings(
        workdir=workdir,
        sites_file=path("FL_SITES_FILE", str(workdir / "sites.toml")),
        site_names=names,
        dataset=env.get("FL_DATASET") or DEFAULTS["FL_DATASET"],
        experiment=env.get("FL_EXPERIMENT") or DEFAULTS["FL_EXPERIMENT"],
        n_images=_int(env, "FL_N_IMAGES"),
        image_size=_int(env, "FL_IMAGE_SIZE"),
        rounds=_int(env, "FL_ROUNDS"),
        researcher_email=env.get(RESEARCHER_EMAIL_ENV) or "researcher@uni.example",
        compliance_email=env.get("FL_COMPLIANCE_EMAIL") or DEFAULTS["FL_COMPLIANCE_EMAIL"],
    )


def open_sites(settings: NotebookSettings, admin: AdminCredentials | None = None) -> list[Site]:
    """The notebooks' sites: those of FL_SITES_FILE, else the ones launched under the work
    dir, else launch ``settings.site_names`` now (and write the researcher's sites file)."""
    if settings.sites_given:
        return require_ready(read_sites(settings.sites_file))
    running = launched(settings.workdir)
    if running and {s.name for s in running} == set(settings.site_names):
        return running
    stop_launched(settings.workdir)  # some stopped: restart all, keeping their data
    sites = launch(settings.site_names, settings.workdir, admin or admin_credentials())
    write_sites(settings.sites_file, sites, RESEARCHER_EMAIL_ENV, USER_PASSWORD_ENV)
    return sites
