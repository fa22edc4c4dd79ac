"""The site API: our own HTTP routes next to syft's, at ``/site``.

syft 0.9.5 has no read-only role, so what a compliance officer may read (audit log, request
history) is served here, behind HTTP Basic auth checked against syft's own user store.
Responses never carry exception text: details go to the site log.
"""


import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import BaseModel

from datasite.config import SiteSettings
from fedcommon.roles import ROLE_FOR_SYFT, Role

log = logging.getLogger(__name__)
_basic = HTTPBasic(realm="datasite")


class Caller(BaseModel):
    email: str
    role: Role


def authenticate(worker: Any, email: str, password: str) -> Caller | None:
    """The caller's platform role if email/password match a syft user, else None."""
    from syft.service.user.user import check_pwd

    stash = worker.services.user.stash
    try:
        user = stash.get_by_email(credentials=stash.root_verify_key, email=email).unwrap()
    except Exception:  # noqa: BLE001 - unknown user and store errors both mean "no"
        return None
    if not user.hashed_password or not check_pwd(password, user.hashed_password):
        return None
    role = ROLE_FOR_SYFT.get(user.role.name) if user.role is not None else None
    return Caller(email=email, role=role) if role else None


def make_site_router(worker: Any, settings: SiteSettings) -> APIRouter:
    router = APIRouter()

    def caller(creds: Annotated[HTTPBasicCredentials, Depends(_basic)]) -> Caller:
        found = authenticate(worker, creds.username, creds.password)
        if found is None:
            log.warning("site API: failed login for %s", creds.username)
            raise HTTPException(status_code=401, detail="Wrong email or password.")
        return found

    def auditor(who: Annotated[Caller, Depends(caller)]) -> Caller:
        if who.role not in (Role.ADMIN, Role.COMPLIANCE):
            raise HTTPException(status_code=403, detail="Needs the admin or compliance role.")
        return who

    @router.get("/health")
    def health() -> dict[str, str]:
        return {"name": settings.name, "status": "ok"}

    @router.get("/whoami")
    def whoami(who: Annotated[Caller, Depends(caller)]) -> Caller:
        return who

    return router
