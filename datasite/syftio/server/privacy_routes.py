"""Site API routes for the privacy ledger, under ``/site/privacy``.

- ``GET /privacy`` (admin, compliance): every budgeted dataset with what spent it.
- ``GET /privacy/{dataset}`` (any user, researchers included): the training-set size the
  researcher's accountant needs, and the budget's totals (which requests spent it only for
  admin and compliance).
- ``POST /privacy`` (admin): set a dataset's budget; recorded in the audit log.
No ``from __future__ import annotations``: FastAPI must resolve the local dependencies.
"""

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException
from pydantic import BaseModel, Field

from datasite.audit.log import AuditLog
from datasite.config import SiteSettings
from datasite.privacy import BudgetError, Ledger
from datasite.privacy.ledger import ledger_path
from datasite.review.facts import PrivacyCost
from datasite.syftio.server import requests as rr
from datasite.syftio.server.privacy import bound, training_size
from fedcommon.roles import Role

log = logging.getLogger(__name__)
Guard = Any  # a FastAPI dependency returning the Caller


class BudgetRequest(BaseModel):
    dataset: str
    epsilon: float = Field(ge=0)
    delta: float = Field(gt=0, lt=1)
    allow_non_dp: bool = False


def _datasets(worker: Any) -> list[str]:
    return sorted({v["name"].split("/", 1)[0] for v in rr.asset_index(worker).values()})


def add_privacy_routes(
    router: APIRouter, worker: Any, settings: SiteSettings, caller: Guard, auditor: Guard,
    admin: Guard,
) -> None:  # fmt: skip
    ledger = Ledger(ledger_path(settings.data_dir))
    audit = AuditLog(settings.audit_dir)

    @router.get("/privacy")
    def show(who: Annotated[Any, Depends(auditor)]) -> dict[str, Any]:
        return {"site": settings.name, "datasets": [d.model_dump() for d in ledger.show()]}

    @router.get("/privacy/{dataset}")
    def one(dataset: str, who: Annotated[Any, Depends(caller)]) -> dict[str, Any]:
        if dataset not in _datasets(worker):
            raise HTTPException(status_code=404, detail=f"No dataset named '{dataset}'.")
        found = ledger.get(dataset)
        budget = found.model_dump() if found else None
        if budget is not None and who.role not in (Role.ADMIN, Role.COMPLIANCE):
            budget.pop("requests")
        return {"site": settings.name, "dataset": dataset,
                "n_train": training_size(worker, dataset), "budget": budget}  # fmt: skip

    @router.post("/privacy")
    def set_budget(
        who: Annotated[Any, Depends(admin)], body: Annotated[BudgetRequest, Body()]
    ) -> dict[str, Any]:
        known = _datasets(worker)
        if body.dataset not in known:
            raise HTTPException(
                status_code=404,
                detail=f"No dataset named '{body.dataset}' (this site has {known}).",
            )
        try:
            found = ledger.set_budget(body.dataset, body.epsilon, body.delta,
                                      body.allow_non_dp, who.email)  # fmt: skip
        except BudgetError as err:
            raise HTTPException(status_code=400, detail=err.message) from None
        audit.append("privacy_budget_set", who.email, body.model_dump())
        return {"site": settings.name, **found.model_dump()}


def request_cost(worker: Any, settings: SiteSettings, request_id: str) -> PrivacyCost | None:
    """A request's declared privacy cost against its dataset's remaining budget (None when
    the request declares nothing and its dataset has no budget)."""
    from syft.types.uid import UID

    stash = worker.services.request.stash
    request = stash.get_by_uid(worker.verify_key, UID(request_id)).unwrap()
    code = request.get_user_code(rr.root_context(worker)).unwrap()
    found = bound(worker, code)
    ledger = Ledger(ledger_path(settings.data_dir)).get(found.dataset) if found.dataset else None
    if found.plan is None and ledger is None:
        return None
    return PrivacyCost(
        dataset=found.dataset,
        declared_epsilon=found.plan.epsilon if found.plan else None,
        delta=found.plan.delta if found.plan else None,
        rounds=found.plan.rounds if found.plan else None,
        budget=ledger.epsilon if ledger else None,
        remaining=ledger.remaining if ledger else None,
        allow_non_dp=ledger.allow_non_dp if ledger else None,
    )
