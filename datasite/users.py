"""The people who use a site: the library behind ``datasite users`` and ``datasite.api``."""

from __future__ import annotations

from datasite.config import AdminCredentials, check_password
from datasite.errors import ConfigError
from fedcommon.roles import ASSIGNABLE_ROLES, Role


def check_role(role: Role) -> None:
    """Admins add researchers and compliance officers only (an admin is the site's own)."""
    if role not in ASSIGNABLE_ROLES:
        raise ConfigError(f"--role must be one of: {', '.join(ASSIGNABLE_ROLES)}.")


def add_person(
    url: str, admin: AdminCredentials, email: str, name: str, password: str, role: Role
) -> dict[str, str]:
    """Create the account (admins only); returns ``{email, name, role}``.

    Raises:
        ConfigError: a role that cannot be assigned or a weak password.
        DuplicateUserError: the email already has an account there.
    """
    from datasite.syftio.client import add_user, admin_login

    check_role(role)
    check_password(password, what="new user's password")
    return add_user(admin_login(url, admin), email=email, name=name, password=password, role=role)


def list_people(url: str, admin: AdminCredentials) -> list[dict[str, str]]:
    """Every account on the site with its role (admins only)."""
    from datasite.syftio.client import admin_login, list_users

    return list_users(admin_login(url, admin))
