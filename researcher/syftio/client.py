"""Logging in to datasites and reading what they publish (datasets, assets, mock data)."""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlparse

import httpx

from fedcommon.schema import AssetName
from researcher.config import SiteConfig
from researcher.errors import AuthError, ConfigError, NotFoundError, SiteUnreachableError

log = logging.getLogger(__name__)
SITE_ASSETS = (AssetName.IMAGES, AssetName.LABELS, AssetName.VAL_IMAGES, AssetName.VAL_LABELS)


_quiet_lock = threading.Lock()
_quiet_depth = 0
_saved_stdout: Any = None


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence syft's prints to stdout. Thread-safe, unlike nested ``redirect_stdout`` from
    concurrent threads, which can leave ``sys.stdout`` swallowed for good."""
    global _quiet_depth, _saved_stdout
    with _quiet_lock:
        if _quiet_depth == 0:
            _saved_stdout, sys.stdout = sys.stdout, io.StringIO()
        _quiet_depth += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_depth -= 1
            if _quiet_depth == 0:
                sys.stdout = _saved_stdout


def syft_message(err: BaseException) -> str:
    """The public part of a syft error, without any server trace."""
    message = getattr(err, "public_message", None) or str(err)
    return str(message).split("\nserver_trace")[0].strip()


def _split_url(site: SiteConfig) -> tuple[str, int]:
    parsed = urlparse(site.url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname or not parsed.port:
        raise ConfigError(f"Site {site.name}: url '{site.url}' is not http://HOST:PORT.")
    return f"{parsed.scheme}://{parsed.hostname}", parsed.port


def connect(site: SiteConfig, env: Mapping[str, str] | None = None) -> Any:
    """A logged-in syft client for this researcher at ``site``."""
    email, password = site.credentials(env)
    base, port = _split_url(site)
    try:
        httpx.get(f"{site.url.rstrip('/')}/api/v2/metadata", timeout=5.0).raise_for_status()
    except httpx.HTTPError as err:
        raise SiteUnreachableError(
            f"Site {site.name}: cannot reach {site.url} ({type(err).__name__}). Is the "
            "datasite running, and is the url in the sites file right?"
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
    from syft.types.errors import SyftException

    try:
        return client.datasets[name]
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
                    "description": str(getattr(found, "description", "") or "")[:60],
                }
            )
    return rows
