"""The site API: our own HTTP routes next to syft's, at ``/site``.

syft 0.9.5 has no read-only role, so what a compliance officer may read (audit log, request
history) is served here, behind HTTP Basic auth checked against syft's own user store.
Responses never carry exception text: details go to the site log.

Routes: ``/health``, ``/whoami``, ``/env`` (any user; ``/env`` is the code environment:
modules researcher code may import, with versions); ``/audit/records``, ``/audit/log``,
``/audit/verify``, ``/requests``, ``/requests/{id}`` (admin or compliance);
``POST /requests/{id}/review`` (admin: records a "reviewed" audit event);
``POST /requests/{id}/accept-risk`` (admin: records "risk_accepted", needed to approve a
request with a HIGH finding); ``/privacy...``
(the privacy ledger: datasite/syftio/server/privacy_routes.py).
No ``from __future__ import annotations`` here: FastAPI must resolve the local dependencies.
"""

import logging
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import BaseModel

from datasite import codeenv
from datasite.audit.log import AuditLog, raw_lines, read_head, verify_dir
from datasite.config import SiteSettings
from datasite.review.facts import PrivacyCost, RequestFacts, RequestList
from datasite.syftio.server import callpath, risk_gate
from datasite.syftio.server import requests as rr
from datasite.syftio.server.privacy_routes import add_privacy_routes, request_cost
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

    def admin(who: Annotated[Caller, Depends(caller)]) -> Caller:
        if who.role is not Role.ADMIN:
            raise HTTPException(status_code=403, detail="Needs the admin role.")
        return who

    _audit_routes(router, settings, auditor, admin)
    _request_routes(router, worker, settings, auditor, admin)
    add_privacy_routes(router, worker, settings, caller, auditor, admin)

    @router.get("/health")
    def health() -> dict[str, Any]:
        # call_path: how this site takes calls (researchers send arguments inline if listed)
        return {"name": settings.name, "status": "ok", "call_path": callpath.active()}

    @router.get("/whoami")
    def whoami(who: Annotated[Caller, Depends(caller)]) -> Caller:
        return who

    @router.get("/env")
    def env(who: Annotated[Caller, Depends(caller)]) -> dict[str, Any]:
        published, _ = codeenv.environment(settings.name, settings.data_dir)
        return published.model_dump()

    return router


Guard = Any  # a FastAPI dependency returning the Caller


def _audit_routes(router: APIRouter, settings: SiteSettings, auditor: Guard, admin: Guard) -> None:
    audit = AuditLog(settings.audit_dir)

    @router.get("/audit/records")
    def records(
        who: Annotated[Caller, Depends(auditor)], since: datetime | None = None
    ) -> dict[str, Any]:
        return {"site": settings.name, "records": audit.records(since=since)}

    @router.get("/audit/log")
    def raw(who: Annotated[Caller, Depends(auditor)]) -> dict[str, Any]:
        head = read_head(audit.head_path)
        return {"site": settings.name, "lines": raw_lines(settings.audit_dir), "head": head}

    @router.get("/audit/verify")
    def verify(who: Annotated[Caller, Depends(auditor)]) -> dict[str, Any]:
        return {"site": settings.name, **verify_dir(settings.audit_dir).model_dump()}

    @router.post("/requests/{request_id}/review")
    def review(
        request_id: str,
        who: Annotated[Caller, Depends(admin)],
        report: Annotated[dict[str, Any], Body()],
    ) -> dict[str, Any]:
        record = audit.append("reviewed", who.email, {"request_id": request_id, **report})
        return {"seq": record["seq"], "hash": record["hash"]}


def _request_routes(
    router: APIRouter, worker: Any, settings: SiteSettings, auditor: Guard, admin: Guard
) -> None:
    def every() -> list[RequestFacts]:
        try:
            return rr.all_requests(worker)
        except Exception:
            log.exception("site API: cannot read the request history")
            detail = "Cannot read requests; see the site log."
            raise HTTPException(status_code=500, detail=detail) from None

    @router.get("/requests")
    def requests(
        who: Annotated[Caller, Depends(auditor)], status: str | None = None
    ) -> RequestList:
        found = [r for r in every() if status is None or r.status == status]
        return RequestList(site=settings.name, requests=found)

    def find(request_id: str) -> tuple[RequestFacts, list[RequestFacts]]:
        everything = every()
        wanted = request_id.replace("-", "").lower()
        found = [r for r in everything if r.request_id.startswith(wanted)]
        if len(wanted) < 6 or len(found) != 1:
            what = "matches several requests" if found else "matches no request"
            raise HTTPException(status_code=404, detail=f"Request id {request_id} {what}.")
        return found[0], everything

    @router.post("/requests/{request_id}/accept-risk")
    def accept_risk(request_id: str, who: Annotated[Caller, Depends(admin)]) -> dict[str, Any]:
        return risk_gate.accept(AuditLog(settings.audit_dir), who.email, find(request_id)[0])

    @router.get("/requests/{request_id}")
    def one(request_id: str, who: Annotated[Caller, Depends(auditor)]) -> RequestFacts:
        found, everything = find(request_id)
        facts = rr.with_previous_version(found, everything)
        try:
            cost = request_cost(worker, settings, facts.request_id)
        except Exception:
            log.exception("site API: cannot read the privacy cost of %s", request_id)
            cost = PrivacyCost(error="unreadable; see the site log")
        return facts.model_copy(update={"privacy": cost})
