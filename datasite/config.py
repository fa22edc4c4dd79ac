"""Settings of one hospital datasite, validated once and passed whole."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from datasite.errors import ConfigError
from datasite.sandbox.verdict import Limits

ADMIN_EMAIL_ENV = "DATASITE_ADMIN_EMAIL"
ADMIN_PASSWORD_ENV = "DATASITE_ADMIN_PASSWORD"
MIN_PASSWORD_LENGTH = 12
# syft's well-known default and other passwords nobody may run a hospital site with.
FORBIDDEN_PASSWORDS = frozenset({"changethis", "password1234", "changeme1234"})


class AdminCredentials(BaseModel):
    model_config = ConfigDict(frozen=True)

    email: str
    password: str

    def __repr__(self) -> str:  # never print the password
        return f"AdminCredentials(email={self.email!r}, password='***')"

    __str__ = __repr__


def check_password(password: str, what: str = "password") -> None:
    """Refuse syft's default password and any password shorter than 12 characters."""
    if password.lower() in FORBIDDEN_PASSWORDS:
        raise ConfigError(
            f"The {what} is a well-known default ('{password}'); refusing to use it. "
            f"Choose a unique password of at least {MIN_PASSWORD_LENGTH} characters."
        )
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ConfigError(
            f"The {what} has {len(password)} characters; at least "
            f"{MIN_PASSWORD_LENGTH} are required."
        )


def admin_credentials(env: Mapping[str, str] | None = None) -> AdminCredentials:
    """Read the admin's credentials from DATASITE_ADMIN_EMAIL / DATASITE_ADMIN_PASSWORD."""
    env = os.environ if env is None else env
    email = env.get(ADMIN_EMAIL_ENV, "").strip()
    password = env.get(ADMIN_PASSWORD_ENV, "")
    how = (
        f"Set them first, e.g. export {ADMIN_EMAIL_ENV}=admin@hospital.example "
        f"{ADMIN_PASSWORD_ENV}='<a password of {MIN_PASSWORD_LENGTH}+ characters>'."
    )
    if not email or "@" not in email:
        raise ConfigError(f"{ADMIN_EMAIL_ENV} is not set to an email address. {how}")
    if not password:
        raise ConfigError(f"{ADMIN_PASSWORD_ENV} is not set. {how}")
    try:
        check_password(password, what=ADMIN_PASSWORD_ENV)
    except ConfigError as err:
        raise ConfigError(f"{err.message} {how}") from None
    return AdminCredentials(email=email, password=password)


class SiteSettings(BaseModel):
    """Where and how one datasite runs. All state lives under ``data_dir``."""

    model_config = ConfigDict(frozen=True)

    name: str
    port: int
    data_dir: Path
    host: str = "127.0.0.1"
    db_url: str | None = None
    sandbox: Limits = Field(default_factory=Limits)  # per-call limits of the sealed worker
    unsafe_in_process: bool = False  # run researcher code in this process (audited, loud)

    @property
    def state_dir(self) -> Path:
        """syft's own state: the SQLite database and the blob store."""
        return self.data_dir / "state"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def audit_dir(self) -> Path:
        return self.data_dir / "audit"

    @property
    def identity_file(self) -> Path:
        return self.data_dir / "identity.json"

    @property
    def effective_db_url(self) -> str:
        if self.db_url:
            return self.db_url
        return f"sqlite://{(self.state_dir / 'site.db').resolve()}"
