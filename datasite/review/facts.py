"""Typed hand-offs of the review: what a code request is, and what its dry run found.

Built inside the datasite process (:mod:`datasite.syftio.server.requests`), served as JSON
by the site API (FastAPI serialises these models), parsed back by the admin's tools and
read by attribute everywhere: no module reads request facts by string key.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from datasite.review.findings import Finding, Severity


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class RequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    REVOKED = "revoked"


class BindingKind(StrEnum):
    ASSET = "asset"  # bound by the site to one asset: private at run time, mock in dry runs
    RESEARCHER = "researcher"  # owned by the caller, passed at each call
    CONSTANT = "constant"  # fixed in the request; the caller cannot change it
    OTHER = "other"


class Binding(_Model):
    kind: BindingKind
    id: str | None = None  # asset action id
    asset: str | None = None  # "dataset/asset"
    shape: list[int] = Field(default_factory=list)
    type: str | None = None  # a researcher-owned argument's type
    value: str | None = None  # a constant's repr (at most 200 characters)
    rule: str | None = None  # the syft rule's class name for OTHER

    def describe(self) -> str:
        """One line for the admin: what this argument is bound to."""
        if self.kind is BindingKind.ASSET:
            return f"asset {self.asset} {self.shape}"
        if self.kind is BindingKind.RESEARCHER:
            return f"researcher-owned {self.type} (passed at each call)"
        if self.kind is BindingKind.CONSTANT:
            return f"constant {self.value}"
        return f"other ({self.rule})"


class Policies(_Model):
    input_policy: str
    output_policy: str
    execution_limit: int | None = None


class RiskSummary(_Model):
    worst: Literal["high", "medium", "low", "none"]  # "none": no finding at all
    findings: list[Finding] = Field(default_factory=list)

    @property
    def has_high(self) -> bool:
        return self.worst == Severity.HIGH.value

    def high_lines(self) -> str:
        """The HIGH findings as one line for an admin: ``line N: message; ...``."""
        return "; ".join(
            f"line {f.line}: {f.message}" for f in self.findings if f.severity == Severity.HIGH
        )


class PreviousVersion(_Model):
    request_id: str
    function: str
    code_hash: str
    request_time: str


class PrivacyCost(_Model):
    """A request's declared DP cost against its dataset's remaining epsilon budget."""

    dataset: str | None = None
    declared_epsilon: float | None = None  # None: the request is not differentially private
    delta: float | None = None
    rounds: int | None = None
    budget: float | None = None  # None: the dataset has no budget
    remaining: float | None = None
    allow_non_dp: bool | None = None
    error: str | None = None  # the cost could not be read (details in the site log)


class DeclaredOutput(_Model):
    """What the request declares one call may send out of the site (the site enforces it)."""

    weight_arrays: int = 0
    parameters: int = 0
    metrics: list[str] = Field(default_factory=list)
    max_bytes: int | None = None
    error: str | None = None  # the declaration is invalid: every call will be refused

    def describe(self) -> str:
        if self.error is not None:
            return f"INVALID declaration ({self.error}): every call will be refused"
        metrics = ", ".join(self.metrics) or "none"
        return (
            f"declared: {self.weight_arrays} weight arrays ({self.parameters:,} parameters), "
            f"metrics {metrics}, score histograms; at most {self.max_bytes:,} bytes per call "
            "(enforced)"
        )


NO_DECLARED_OUTPUT = (
    "none declared: only scalars, short strings and weights shaped like the call's own "
    "weights argument may leave (enforced)"
)


class RequestFacts(_Model):
    """One code request as an admin reviews it and an auditor checks it."""

    request_id: str
    requester: str
    request_time: str
    status: RequestStatus
    deny_reason: str | None = None
    executions: int = 0
    code_id: str
    function: str
    code: str
    code_hash: str
    syft_code_hash: str
    submitted_by: str
    bindings: dict[str, Binding]
    policies: Policies
    risk: RiskSummary
    previous_approved: PreviousVersion | None = None
    diff: str | None = None
    privacy: PrivacyCost | None = None  # only on the one-request view
    declared_output: DeclaredOutput | None = None  # None: the request declares no schema

    def asset_shapes(self) -> dict[str, list[int]]:
        """Asset name -> shape, for every argument bound to an asset."""
        return {
            b.asset: b.shape
            for b in self.bindings.values()
            if b.kind is BindingKind.ASSET and b.asset
        }

    def audit_details(self, *fields: str) -> dict[str, Any]:
        """The named fields as JSON-ready values (for audit records)."""
        dumped = self.model_dump(mode="json")
        return {name: dumped[name] for name in fields}


class RequestList(_Model):
    site: str
    requests: list[RequestFacts]


class OutputItem(_Model):
    key: str
    type: str
    shape: list[int] = Field(default_factory=list)
    dtype: str
    bytes: int


class OutputSummary(_Model):
    """What would leave (or left) the site: descriptions and a hash, never values."""

    keys: list[str] = Field(default_factory=list)
    items: list[OutputItem] = Field(default_factory=list)
    total_bytes: int = 0
    sha256: str = ""
    truncated: bool = False


class DryRunResult(_Model):
    ok: bool
    skipped: bool = False
    error: str | None = None
    seconds: float = 0.0
    stdout_lines: int = 0
    output: OutputSummary | None = None
    notes: list[str] = Field(default_factory=list)
    asset_shaped: list[str] = Field(default_factory=list)
    egress: str | None = None  # the site's egress rule that would refuse this output
