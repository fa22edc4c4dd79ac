"""How both sides reach a datasite, without syft: URL parsing, the readiness probe, the
public text of a syft error, and silencing syft's prints.

One copy of each for the datasite CLI, the researcher, the lab harness and the benchmarks.
"""

from __future__ import annotations

import contextlib
import io
import sys
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import httpx

from fedcommon.errors import PlatformError

METADATA_PATH = "/api/v2/metadata"  # syft's public metadata: answers once the site is up
HEALTH_PATH = "/site/health"  # the site API's (datasite/syftio/server/routes.py)


class SiteURLError(PlatformError):
    exit_code = 2


class UnreachableError(PlatformError):
    exit_code = 5


def split_url(url: str) -> tuple[str, int]:
    """``http://host:port`` -> (``http://host``, port), as syft's login wants them.

    Raises:
        SiteURLError: not http(s)://HOST:PORT.
    """
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname or not parsed.port:
        raise SiteURLError(
            f"url '{url}' is not of the form http://HOST:PORT (e.g. http://127.0.0.1:8081)."
        )
    return f"{parsed.scheme}://{parsed.hostname}", parsed.port


def site_metadata(url: str, timeout: float = 5.0) -> dict[str, Any]:
    """The site's public metadata.

    Raises:
        UnreachableError: no answer, an HTTP error or a reply that is not JSON.
    """
    return _public_json(url, METADATA_PATH, timeout)


def site_health(url: str, timeout: float = 10.0) -> dict[str, Any]:
    """The site API's public health reply: name, status and ``call_path`` (how the site takes
    code calls). Raises UnreachableError as :func:`site_metadata` does."""
    return _public_json(url, HEALTH_PATH, timeout)


def _public_json(url: str, path: str, timeout: float) -> dict[str, Any]:
    try:
        response = httpx.get(f"{url.rstrip('/')}{path}", timeout=timeout)
        response.raise_for_status()
        found: dict[str, Any] = response.json()
        return found
    except (httpx.HTTPError, ValueError) as err:
        raise UnreachableError(
            f"Cannot reach a datasite at {url} ({type(err).__name__})."
        ) from None


def is_ready(url: str, timeout: float = 2.0) -> bool:
    """Whether a datasite answers at ``url`` (the readiness probe)."""
    try:
        site_metadata(url, timeout)
    except UnreachableError:
        return False
    return True


def syft_message(err: BaseException) -> str:
    """The public part of a syft error, without any server trace."""
    message = getattr(err, "public_message", None) or str(err)
    return str(message).split("\nserver_trace")[0].strip()


_quiet_lock = threading.Lock()
_quiet_depth = 0
_saved_stdout: Any = None


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence syft's prints to stdout ("Logged into ...", upload bars). Thread-safe, unlike
    nested ``redirect_stdout`` from concurrent threads, which can leave ``sys.stdout``
    swallowed for good."""
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
