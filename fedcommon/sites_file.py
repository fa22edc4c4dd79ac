"""The one reader and writer of ``sites.toml``: which datasites a researcher works with.

A sites file lists ``[[site]]`` tables with ``name``, ``url`` and the NAMES of the
environment variables that hold the user's email and password at that site. A password is
never written in the file: a table with any other key (``password`` included) is refused.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from fedcommon.errors import PlatformError


class SitesFileError(PlatformError):
    exit_code = 2


class SiteEntry(BaseModel):
    """One ``[[site]]`` table."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    url: str
    email_env: str
    password_env: str

    def credentials(self, env: Mapping[str, str] | None = None) -> tuple[str, str]:
        """(email, password) read from the environment variables this site names."""
        env = os.environ if env is None else env
        email, password = env.get(self.email_env, ""), env.get(self.password_env, "")
        if not email or not password:
            raise SitesFileError(
                f"Site {self.name}: set the environment variables {self.email_env} and "
                f"{self.password_env} to your account's email and password at {self.url}."
            )
        return email, password


class SitesFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sites: tuple[SiteEntry, ...] = Field(min_length=1)

    @field_validator("sites")
    @classmethod
    def _unique(cls, sites: tuple[SiteEntry, ...]) -> tuple[SiteEntry, ...]:
        names = [site.name for site in sites]
        if len(set(names)) != len(names):
            raise ValueError(f"site names must be unique, got {names}")
        return sites


def _message(err: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in err.errors()
    )


def read(path: Path) -> SitesFile:
    """Parse a sites file.

    Raises:
        SitesFileError: missing file, invalid TOML, or a table that is not a valid site.
    """
    try:
        raw = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise SitesFileError(f"The sites file {path} does not exist.") from None
    except tomllib.TOMLDecodeError as err:
        raise SitesFileError(f"The sites file {path} is not valid TOML: {err}.") from None
    try:
        return SitesFile(sites=tuple(raw.get("site", ())))
    except ValidationError as err:
        raise SitesFileError(
            f"{path} is not a valid sites file ({_message(err)}). Each [[site]] needs name, "
            "url, email_env and password_env; see examples/sites.toml."
        ) from None


def write(path: Path, sites: Iterable[SiteEntry]) -> Path:
    """Write ``sites`` as a sites file (names, URLs and credential variable NAMES)."""
    blocks = [
        f'[[site]]\nname = "{s.name}"\nurl = "{s.url}"\nemail_env = "{s.email_env}"\n'
        f'password_env = "{s.password_env}"\n'
        for s in sites
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(blocks))
    return path
