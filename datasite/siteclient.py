"""Client of the site API (``/site/...``, HTTP Basic): what admins and compliance officers read.

Credentials: a person's own account from ``DATASITE_USER_EMAIL`` / ``DATASITE_USER_PASSWORD``
(e.g. a compliance officer), falling back to ``DATASITE_ADMIN_EMAIL`` / ``..._PASSWORD``.
No syft here: plain httpx.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import httpx

from datasite.config import AdminCredentials, admin_credentials
from datasite.errors import AuthError, ConfigError, NotFoundError, SiteUnreachableError

USER_EMAIL_ENV = "DATASITE_USER_EMAIL"
USER_PASSWORD_ENV = "DATASITE_USER_PASSWORD"
TIMEOUT_S = 60.0


def user_credentials(env: Mapping[str, str] | None = None) -> AdminCredentials:
    """The caller's own credentials, else the admin's (see the module docstring)."""
    env = os.environ if env is None else env
    email = env.get(USER_EMAIL_ENV, "").strip()
    if not email:
        return admin_credentials(env)
    password = env.get(USER_PASSWORD_ENV, "")
    if not password:
        raise ConfigError(
            f"{USER_EMAIL_ENV} is set but {USER_PASSWORD_ENV} is not. Set both (your own "
            f"account), or unset {USER_EMAIL_ENV} to use the admin's."
        )
    return AdminCredentials(email=email, password=password)


class SiteAPI:
    """``GET``/``POST`` on ``URL/site/...`` with errors turned into DatasiteErrors."""

    def __init__(self, url: str, creds: AdminCredentials) -> None:
        self.url = url.rstrip("/")
        self.creds = creds

    def _send(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            auth = (self.creds.email, self.creds.password)
            response = httpx.request(
                method, f"{self.url}/site{path}", timeout=TIMEOUT_S, auth=auth, **kwargs
            )
        except httpx.HTTPError as err:
            raise SiteUnreachableError(
                f"Cannot reach the site API at {self.url} ({type(err).__name__}). Is the "
                "datasite running? Check the host and port in --url."
            ) from None
        self._raise_for(response)
        body: dict[str, Any] = response.json()
        return body

    def _raise_for(self, response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        detail = _detail(response)
        if response.status_code == 401:
            raise AuthError(
                f"{self.url} refused {self.creds.email}: wrong email or password. Check "
                f"{USER_EMAIL_ENV}/{USER_PASSWORD_ENV} (or the admin variables)."
            )
        if response.status_code == 403:
            raise AuthError(f"{self.creds.email} may not do this on {self.url}: {detail}")
        if response.status_code == 404:
            raise NotFoundError(f"{detail} List them with `datasite requests list --url ...`.")
        raise SiteUnreachableError(f"{self.url} answered {response.status_code}: {detail}")

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        clean = {k: v for k, v in params.items() if v is not None}
        return self._send("GET", path, params=clean)

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._send("POST", path, json=body)


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))
    except ValueError:
        return response.text[:200]
