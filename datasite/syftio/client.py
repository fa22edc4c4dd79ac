"""What admin tools do to a running datasite over HTTP, through syft's client.

Every syft error is turned into a DatasiteError with a short message (never a server trace).
"""

from __future__ import annotations

import logging
from typing import Any

from datasite.config import AdminCredentials
from datasite.errors import (
    AuthError,
    ConfigError,
    DatasiteError,
    DuplicateUserError,
    SiteUnreachableError,
)
from fedcommon import transport
from fedcommon.roles import ROLE_FOR_SYFT, SYFT_ROLE_FOR, Role
from fedcommon.transport import quiet, syft_message

log = logging.getLogger(__name__)


def split_url(url: str) -> tuple[str, int]:
    """``--url`` as (base, port); ConfigError when malformed."""
    try:
        return transport.split_url(url)
    except transport.SiteURLError as err:
        raise ConfigError(f"--{err.message}") from None


def check_reachable(url: str, timeout: float = 5.0) -> dict[str, Any]:
    """The site's public metadata, or SiteUnreachableError saying what to check."""
    split_url(url)
    try:
        return transport.site_metadata(url, timeout)
    except transport.UnreachableError as err:
        raise SiteUnreachableError(
            f"{err.message} Is it running (datasite launch ...)? Check the host and port in --url."
        ) from None


def login(url: str, email: str, password: str) -> Any:
    """A logged-in syft client for ``email``; AuthError on wrong credentials."""
    check_reachable(url)
    base, port = split_url(url)
    import syft as sy
    from syft.types.errors import SyftException

    try:
        with quiet():  # syft prints "Logged into ..."
            return sy.login(url=base, port=port, email=email, password=password)
    except SyftException as err:
        message = syft_message(err)
        if "credential" in message.lower() or "password" in message.lower():
            raise AuthError(
                f"Login to {url} as {email} failed: wrong email or password. Check "
                "DATASITE_ADMIN_EMAIL / DATASITE_ADMIN_PASSWORD (or the user's own)."
            ) from None
        raise DatasiteError(f"Login to {url} failed: {message}") from None


def admin_login(url: str, creds: AdminCredentials) -> Any:
    client = login(url, creds.email, creds.password)
    if _role_of(client.account) is not Role.ADMIN:
        raise AuthError(f"{creds.email} is not an admin of {url}; use an admin account.")
    return client


def _role_of(user: Any) -> Role | None:
    role = getattr(user, "role", None)
    return ROLE_FOR_SYFT.get(role.name) if role is not None else None


def add_user(client: Any, email: str, name: str, password: str, role: Role) -> dict[str, str]:
    from syft.service.user.user_roles import ServiceRole
    from syft.types.errors import SyftException

    if any(user["email"] == email for user in list_users(client)):
        raise DuplicateUserError(f"A user with email {email} already exists on this site.")
    try:
        client.users.create(
            email=email,
            name=name,
            password=password,
            password_verify=password,
            role=ServiceRole[SYFT_ROLE_FOR[role]],
        )
    except SyftException as err:
        message = syft_message(err)
        if "already exists" in message:
            raise DuplicateUserError(
                f"A user with email {email} already exists on this site."
            ) from None
        raise DatasiteError(f"Could not add {email}: {message}") from None
    return {"email": email, "name": name, "role": role.value}


def list_users(client: Any) -> list[dict[str, str]]:
    users = []
    for user in client.users.get_all():
        role = _role_of(user)
        users.append(
            {
                "email": str(user.email),
                "name": str(user.name),
                "role": role.value if role else str(user.role),
            }
        )
    return sorted(users, key=lambda u: (u["role"], u["email"]))


def upload_dataset(
    client: Any, name: str, description: str, assets: dict[str, tuple[Any, Any]]
) -> None:
    """Upload a dataset whose assets are ``{asset_name: (private, mock)}``."""
    import syft as sy
    from syft.types.errors import SyftException

    dataset = sy.Dataset(name=name, description=description)
    for asset_name, (private, mock) in assets.items():
        dataset.add_asset(sy.Asset(name=asset_name, data=private, mock=mock))
    try:
        with quiet():
            client.upload_dataset(dataset)
    except SyftException as err:
        raise DatasiteError(f"Upload of dataset {name} failed: {syft_message(err)}") from None


def dataset_names(client: Any) -> list[str]:
    return sorted(str(dataset.name) for dataset in client.datasets)
