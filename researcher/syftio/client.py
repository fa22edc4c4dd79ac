"""Logging in to datasites and reading what they publish (datasets, assets, mock data)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fedcommon.schema import AssetName
from fedcommon.transport import (
    SiteURLError,
    UnreachableError,
    quiet,
    site_metadata,
    split_url,
    syft_message,
)
from researcher.config import SiteConfig
from researcher.errors import AuthError, ConfigError, NotFoundError, SiteUnreachableError

log = logging.getLogger(__name__)
SITE_ASSETS = (AssetName.IMAGES, AssetName.LABELS, AssetName.VAL_IMAGES, AssetName.VAL_LABELS)


def description_text(dataset: Any) -> str:
    """A dataset's description as text: syft 0.9.5 wraps it in a MarkdownDescription whose
    ``str()`` is the class name, so read its ``text``."""
    description = getattr(dataset, "description", None)
    return str(getattr(description, "text", description) or "")


def _split_url(site: SiteConfig) -> tuple[str, int]:
    try:
        return split_url(site.url)
    except SiteURLError as err:
        raise ConfigError(f"Site {site.name}: {err.message}") from None


def connect(site: SiteConfig, env: Mapping[str, str] | None = None) -> Any:
    """A logged-in syft client for this researcher at ``site``."""
    email, password = site.credentials(env)
    base, port = _split_url(site)
    try:
        site_metadata(site.url)
    except UnreachableError as err:
        raise SiteUnreachableError(
            f"Site {site.name}: {err.message} Is the datasite running, and is the url in the "
            "sites file right?"
        ) from None
    import syft as sy
    from syft.types.errors import SyftException

    try:
        with quiet():
            return sy.login(url=base, port=port, email=email, password=password)
    except SyftException as err:
        raise AuthError(
            f"Site {site.name}: login as {email} failed ({syft_message(err)}). Check "
            f"{site.email_env} / {site.password_env}."
        ) from None


def dataset(client: Any, site: str, name: str) -> Any:
    """The dataset ``name`` as ``client.datasets[name]`` finds it, without the detour that
    costs: syft's ``datasets[...]`` first looks for a ``get_index`` endpoint there is none of,
    and that miss refetches the site's whole API (measured ~1 s of each ``train`` start, per
    site) before it falls back to ``get_all()[name]``."""
    from syft.types.errors import SyftException

    try:
        return client.api.services.dataset.get_all()[name]
    except (SyftException, KeyError, IndexError):
        names = sorted(str(d.name) for d in client.datasets)
        raise NotFoundError(
            f"Site {site}: no dataset named '{name}' (available: {names}). Fix 'dataset' in "
            "the experiment file."
        ) from None


def site_assets(
    client: Any, site: str, name: str, inputs: Sequence[str] = SITE_ASSETS
) -> dict[str, Any]:
    """The assets the experiment binds (its ``inputs``), by asset name."""
    found = dataset(client, site, name)
    available = {str(asset.name): asset for asset in found.assets}
    missing = [str(a) for a in inputs if a not in available]
    if missing:
        raise NotFoundError(
            f"Site {site}: dataset '{name}' lacks the assets {missing} named in the "
            f"experiment's inputs (it has {sorted(available)}); drop them from 'inputs' or "
            "ask the site admin to ingest them (a validation split: --val-fraction)."
        )
    return {str(a): available[a] for a in inputs}


def mock_arrays(assets: Mapping[str, Any]) -> dict[str, Any]:
    """The mock twin of each asset (what a researcher may see)."""
    with quiet():
        return {name: asset.mock for name, asset in assets.items()}


def describe_datasets(client: Any) -> list[dict[str, Any]]:
    """One row per asset: dataset, asset, mock shape and dtype (sizes of the private data
    equal the mock's by the asset schema)."""
    rows = []
    for found in client.datasets:
        for asset in found.assets:
            shape = getattr(asset, "shape", None)
            rows.append(
                {
                    "dataset": str(found.name),
                    "asset": str(asset.name),
                    "shape": list(shape) if shape is not None else None,
                    "description": description_text(found)[:60],
                }
            )
    return rows
