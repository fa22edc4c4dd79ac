"""What each site lets researcher code import (its code environment, ``GET /site/env``), and
the check ``researcher submit`` runs against it before anything is sent. No syft here."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from pydantic import ValidationError

from fedcommon.code_env import CodeEnvironment
from researcher.config import SiteConfig
from researcher.errors import SiteUnreachableError

TIMEOUT_S = 30.0


def fetch(site: SiteConfig, env: Mapping[str, str] | None = None) -> CodeEnvironment:
    """The code environment ``site`` publishes, read with the researcher's own account.

    Raises:
        SiteUnreachableError: the site API does not answer, or answers something else.
    """
    email, password = site.credentials(env)
    url = f"{site.url.rstrip('/')}/site/env"
    try:
        response = httpx.get(url, auth=(email, password), timeout=TIMEOUT_S)
        response.raise_for_status()
        found = CodeEnvironment.model_validate(response.json())
    except (httpx.HTTPError, ValueError, ValidationError) as err:
        raise SiteUnreachableError(
            f"Site {site.name}: cannot read its code environment at {url} "
            f"({type(err).__name__}); the site must publish which modules tasks may import."
        ) from None
    return found.model_copy(update={"site": site.name})
