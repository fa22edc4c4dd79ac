"""The datasite's stable identity: server id and signing key, kept in the data dir.

syft 0.9.5 gives a server started over HTTP a random id and signing key at every start, and
its store is keyed by them: without a stable pair a restart opens a new, empty store. We make
the pair once, keep it in ``identity.json`` (mode 600, treat as secret) and reuse it.
"""

from __future__ import annotations

import json
import os
import secrets
import uuid
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from datasite.errors import DataDirError


class SiteIdentity(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    server_uid: str  # uuid4 hex
    signing_key: str  # 32-byte ed25519 seed, hex

    def __repr__(self) -> str:
        return f"SiteIdentity(name={self.name!r}, server_uid={self.server_uid!r})"

    __str__ = __repr__


def load_or_create_identity(path: Path, name: str) -> SiteIdentity:
    """Return the identity stored at ``path``, creating it (mode 600) on first launch."""
    if path.exists():
        try:
            identity = SiteIdentity.model_validate(json.loads(path.read_text()))
        except (OSError, ValueError) as err:
            raise DataDirError(
                f"{path} is unreadable or corrupt ({type(err).__name__}). It holds the "
                "site's identity; restore it from backup, or use a new --data-dir."
            ) from None
        if identity.name != name:
            raise DataDirError(
                f"{path.parent} belongs to datasite '{identity.name}', not '{name}'. "
                f"Relaunch with --name {identity.name} or choose another --data-dir."
            )
        return identity
    identity = SiteIdentity(
        name=name, server_uid=uuid.uuid4().hex, signing_key=secrets.token_hex(32)
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(identity.model_dump(), handle)
        handle.flush()
        os.fsync(handle.fileno())
    return identity
