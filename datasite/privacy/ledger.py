"""A per-dataset epsilon ledger in SQLite, shared by every researcher and request at a site.

- ``budgets``: what the admin allows for a dataset, ever (epsilon, delta, non-DP allowed?).
- ``shares``: one row per approved DP request: its declared plan (epsilon after each round).
  An active share reserves its whole declared epsilon; a revoked one keeps what it spent.
- ``spends``: one row per training execution, the epsilon that round added.

remaining = budget - sum(reserved shares) (sequential composition: epsilons add, deltas add).
Every change is one ``BEGIN IMMEDIATE`` transaction with ``synchronous=FULL``: a committed
approval or spend survives ``kill -9`` and power loss; concurrent writers queue.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from datasite.errors import DatasiteError
from fedcommon.exitcodes import DatasiteExit
from fedcommon.privacy import PrivacyPlan

SCHEMA = """
CREATE TABLE IF NOT EXISTS budgets (
    dataset TEXT PRIMARY KEY, epsilon REAL NOT NULL, delta REAL NOT NULL,
    allow_non_dp INTEGER NOT NULL, set_by TEXT NOT NULL, set_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS shares (
    request_id TEXT PRIMARY KEY, dataset TEXT NOT NULL, requester TEXT NOT NULL,
    function TEXT NOT NULL, epsilon REAL NOT NULL, delta REAL NOT NULL, plan TEXT NOT NULL,
    active INTEGER NOT NULL, approved_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS spends (
    id INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT NOT NULL, dataset TEXT NOT NULL,
    round INTEGER NOT NULL, epsilon REAL NOT NULL, at TEXT NOT NULL);
"""
SLACK = 1e-9


class BudgetError(DatasiteError):
    """A request would exceed, or has used up, a dataset's privacy budget."""

    exit_code = DatasiteExit.PRIVACY_BUDGET


class RequestShare(BaseModel):
    model_config = ConfigDict(frozen=True)

    request_id: str
    requester: str
    function: str
    declared_epsilon: float
    delta: float
    rounds: int
    rounds_charged: int
    spent: float
    active: bool
    approved_at: str


class DatasetLedger(BaseModel):
    """One dataset's budget and what spent it (what ``datasite privacy show`` prints)."""

    model_config = ConfigDict(frozen=True)

    dataset: str
    epsilon: float
    delta: float
    allow_non_dp: bool
    set_by: str
    set_at: str
    spent: float
    reserved: float
    remaining: float
    delta_reserved: float
    requests: tuple[RequestShare, ...]


class Spend(BaseModel):
    model_config = ConfigDict(frozen=True)

    request_id: str
    dataset: str
    round: int
    epsilon: float
    request_spent: float
    remaining: float


def floor2(value: float) -> str:
    """A budget shown to people: rounded down to 2 decimals (never overstated)."""
    return f"{math.floor(max(value, 0.0) * 100 + SLACK) / 100:.2f}"


def ceil2(value: float) -> str:
    """A cost shown to people: rounded up to 2 decimals (never understated)."""
    return f"{math.ceil(value * 100 - SLACK) / 100:.2f}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Ledger:
    """The ledger file ``path`` (created with its folder, mode 600, on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path.touch(mode=0o600, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            con.execute("PRAGMA synchronous=FULL")
            con.executescript(SCHEMA)
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        finally:
            con.close()

    # -- the admin's budget ------------------------------------------------------------
    def set_budget(
        self, dataset: str, epsilon: float, delta: float, allow_non_dp: bool, actor: str
    ) -> DatasetLedger:
        if not (epsilon >= 0 and math.isfinite(epsilon)) or not 0 < delta < 1:
            raise BudgetError(
                f"A budget needs epsilon >= 0 and 0 < delta < 1; got epsilon={epsilon}, "
                f"delta={delta}."
            )
        with self._tx() as con:
            con.execute(
                "INSERT INTO budgets VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(dataset) DO UPDATE "
                "SET epsilon=excluded.epsilon, delta=excluded.delta, "
                "allow_non_dp=excluded.allow_non_dp, set_by=excluded.set_by, "
                "set_at=excluded.set_at",
                (dataset, epsilon, delta, int(allow_non_dp), actor, _now()),
            )
            found = _summary(con, dataset)
        assert found is not None
        return found

    def show(self, dataset: str | None = None) -> list[DatasetLedger]:
        with self._tx() as con:
            names = [dataset] if dataset else _budgeted(con)
            return [s for s in (_summary(con, name) for name in names) if s is not None]

    def get(self, dataset: str) -> DatasetLedger | None:
        found = self.show(dataset)
        return found[0] if found else None

    # -- approvals and executions ------------------------------------------------------
    def approve(
        self, request_id: str, dataset: str, plan: PrivacyPlan | None, requester: str,
        function: str,
    ) -> DatasetLedger | None:  # fmt: skip
        """Reserve the request's declared epsilon; BudgetError when it does not fit.
        Returns the dataset's ledger after the reservation (None: no budget, nothing kept)."""
        with self._tx() as con:
            ledger = _summary(con, dataset)
            if ledger is None:
                return None
            if plan is None:
                _require_non_dp_allowed(ledger)
                return ledger
            _require_fits(ledger, request_id, plan)
            con.execute(
                "INSERT INTO shares VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?) ON CONFLICT(request_id) "
                "DO UPDATE SET active=1",
                (request_id, dataset, requester, function, plan.epsilon, plan.delta,
                 plan.model_dump_json(), _now()),
            )  # fmt: skip
            return _summary(con, dataset)

    def release(self, request_id: str) -> None:
        """A revoked or denied request keeps only what it spent."""
        with self._tx() as con:
            con.execute("UPDATE shares SET active=0 WHERE request_id=?", (request_id,))

    def charge(self, request_id: str, dataset: str, has_plan: bool) -> Spend | None:
        """Record one training execution; BudgetError when the request may not spend more.
        Returns None when the dataset has no budget (or allows this non-DP request)."""
        with self._tx() as con:
            ledger = _summary(con, dataset)
            if ledger is None:
                return None
            if not has_plan:
                _require_non_dp_allowed(ledger)
                return None
            row = con.execute(
                "SELECT plan, active FROM shares WHERE request_id=?", (request_id,)
            ).fetchone()
            if row is None or not row[1]:
                raise BudgetError(
                    f"Request {request_id[:8]} holds no active share of dataset '{dataset}' "
                    f"privacy budget (remaining epsilon {floor2(ledger.remaining)}): approved "
                    "before the budget was set, or revoked. Approve it again to reserve its cost."
                )
            return _spend(con, ledger, request_id, PrivacyPlan.model_validate_json(row[0]))


def _budgeted(con: sqlite3.Connection) -> list[str]:
    return [r[0] for r in con.execute("SELECT dataset FROM budgets ORDER BY dataset")]


def _shares(con: sqlite3.Connection, dataset: str) -> tuple[RequestShare, ...]:
    rows = con.execute(
        "SELECT s.request_id, s.requester, s.function, s.epsilon, s.delta, s.plan, s.active, "
        "s.approved_at, COUNT(p.id), COALESCE(SUM(p.epsilon), 0) FROM shares s LEFT JOIN "
        "spends p ON p.request_id = s.request_id WHERE s.dataset=? GROUP BY s.request_id "
        "ORDER BY s.approved_at, s.request_id",
        (dataset,),
    ).fetchall()
    return tuple(
        RequestShare(
            request_id=r[0], requester=r[1], function=r[2], declared_epsilon=r[3], delta=r[4],
            rounds=int(json.loads(r[5])["rounds"]), active=bool(r[6]), approved_at=r[7],
            rounds_charged=int(r[8]), spent=float(r[9]),
        )
        for r in rows
    )  # fmt: skip


def _summary(con: sqlite3.Connection, dataset: str) -> DatasetLedger | None:
    row = con.execute(
        "SELECT epsilon, delta, allow_non_dp, set_by, set_at FROM budgets WHERE dataset=?",
        (dataset,),
    ).fetchone()
    if row is None:
        return None
    shares = _shares(con, dataset)
    reserved = sum(s.declared_epsilon if s.active else s.spent for s in shares)
    delta_reserved = sum(s.delta for s in shares if s.active or s.rounds_charged)
    return DatasetLedger(
        dataset=dataset, epsilon=row[0], delta=row[1], allow_non_dp=bool(row[2]),
        set_by=row[3], set_at=row[4], spent=sum(s.spent for s in shares), reserved=reserved,
        remaining=max(row[0] - reserved, 0.0), delta_reserved=delta_reserved, requests=shares,
    )  # fmt: skip


def _require_non_dp_allowed(ledger: DatasetLedger) -> None:
    if not ledger.allow_non_dp:
        raise BudgetError(
            f"Dataset '{ledger.dataset}' has a privacy budget (remaining epsilon "
            f"{floor2(ledger.remaining)} of {ledger.epsilon:g}) and this request is not "
            "differentially private: it declares no privacy cost. The researcher must add a "
            "[privacy] table to the experiment; an admin may allow non-DP requests with "
            "`datasite privacy set ... --allow-non-dp`."
        )


def _require_fits(ledger: DatasetLedger, request_id: str, plan: PrivacyPlan) -> None:
    others = [s for s in ledger.requests if s.request_id != request_id]
    reserved = sum(s.declared_epsilon if s.active else s.spent for s in others)
    remaining = ledger.epsilon - reserved
    if plan.epsilon > remaining + SLACK:
        raise BudgetError(
            f"Request {request_id[:8]} declares epsilon {ceil2(plan.epsilon)} on dataset "
            f"'{ledger.dataset}', but its privacy budget has remaining epsilon "
            f"{floor2(remaining)} (of {ledger.epsilon:g}; "
            f"{ceil2(ledger.epsilon - remaining)} reserved or spent). Deny it, or ask for "
            "a smaller target_epsilon."
        )
    delta_others = sum(s.delta for s in others if s.active or s.rounds_charged)
    if plan.delta + delta_others > ledger.delta * (1 + SLACK):
        raise BudgetError(
            f"Request {request_id[:8]} declares delta {plan.delta:.3g}; dataset "
            f"'{ledger.dataset}' allows delta {ledger.delta:.3g} in all and "
            f"{delta_others:.3g} is reserved. Ask for a smaller delta in [privacy]."
        )


def _spend(
    con: sqlite3.Connection, ledger: DatasetLedger, request_id: str, plan: PrivacyPlan
) -> Spend:
    share = next(s for s in ledger.requests if s.request_id == request_id)
    if share.rounds_charged >= plan.rounds:
        raise BudgetError(
            f"Request {request_id[:8]} has spent its privacy share: epsilon "
            f"{ceil2(share.spent)} over all {plan.rounds} training rounds it declared. Dataset "
            f"'{ledger.dataset}' has remaining epsilon {floor2(ledger.remaining)}; a new "
            "request with its own declared cost is needed to train more."
        )
    index = share.rounds_charged + 1
    epsilon = plan.spend_for_round(index)
    con.execute(
        "INSERT INTO spends (request_id, dataset, round, epsilon, at) VALUES (?, ?, ?, ?, ?)",
        (request_id, ledger.dataset, index, epsilon, _now()),
    )
    return Spend(
        request_id=request_id, dataset=ledger.dataset, round=index, epsilon=epsilon,
        request_spent=share.spent + epsilon, remaining=ledger.remaining,
    )  # fmt: skip


def ledger_path(data_dir: Path) -> Path:
    """Where a site keeps its ledger: with the rest of its state in its data dir."""
    return Path(data_dir) / "privacy" / "ledger.db"
