"""What a sandboxed call may use, and what became of it: limits, verdicts, refusal rules."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MB = 1024 * 1024


class Limits(BaseModel):
    """Per-call limits of the sealed worker (deployment settings, the admin's to change)."""

    model_config = ConfigDict(frozen=True)

    memory_mb: int = Field(4096, ge=64)
    cpu_s: int = Field(3600, ge=1)
    wall_s: float = Field(3600.0, gt=0)
    processes: int = Field(64, ge=1)
    file_mb: int = Field(256, ge=1)
    reply_mb: int = Field(64, ge=1)
    address_space_mb: int | None = None  # RLIMIT_AS; off: torch maps far more than it uses

    @property
    def memory_bytes(self) -> int:
        return self.memory_mb * MB

    @property
    def reply_bytes(self) -> int:
        return self.reply_mb * MB

    def for_worker(self) -> dict[str, Any]:
        return {
            "memory_bytes": self.memory_bytes,
            "cpu_s": self.cpu_s,
            "wall_s": self.wall_s,
            "processes": self.processes,
            "file_bytes": self.file_mb * MB,
            "reply_bytes": self.reply_bytes,
            "address_space_bytes": (self.address_space_mb or 0) * MB,
        }


class Verdict(StrEnum):
    OK = "ok"
    ERROR = "error"  # the code raised
    KILLED = "killed"  # a limit hit (``limit`` says which) or the worker died
    REFUSED = "refused"  # inputs or outputs broke the egress policy (``rule`` says which)


class Rule(StrEnum):
    """Short reason codes a researcher sees when the site refuses inputs or outputs."""

    NOT_A_DICT = "output_not_a_dict"
    EXTRA_KEY = "extra_key"
    MISSING_KEY = "missing_key"
    UNSUPPORTED_OUTPUT = "unsupported_output"
    MALFORMED_OUTPUT = "malformed_output"
    STRING_TOO_LONG = "string_too_long"
    LIST_OUTPUT = "list_output"
    PER_SAMPLE_LIST = "per_sample_list"
    ASSET_SHAPED = "asset_shaped_array"
    PER_SAMPLE_ARRAY = "per_sample_array"
    UNEXPECTED_ARRAY = "unexpected_array"
    WEIGHTS_MISMATCH = "weights_mismatch"
    NON_FINITE = "non_finite_value"
    TOO_MANY_VALUES = "too_many_values"
    NOT_A_NUMBER = "not_a_number"
    OVER_BUDGET = "over_budget"
    SCHEMA_MISMATCH = "schema_mismatch"
    IMPLAUSIBLE_COUNT = "implausible_count"
    VERBATIM_COPY = "private_values_copied"
    ARGUMENT_TYPE = "argument_type"
    ARGUMENT_TOO_LARGE = "argument_too_large"
    ARGUMENT_SHAPE = "argument_shape"


@dataclass(frozen=True)
class Refusal:
    """Why the site refused: ``rule`` for the researcher, ``detail`` for the local log."""

    rule: Rule
    detail: str


@dataclass(frozen=True)
class Execution:
    """One sandboxed call: the verdict, resource use and (when ``ok``) the output."""

    verdict: Verdict
    value: Any = None
    limit: str | None = None
    rule: str | None = None
    error: str | None = None
    detail: str | None = None
    wall_s: float | None = None
    cpu_s: float | None = None
    peak_rss_bytes: int | None = None
    stdout_bytes: int | None = None

    def audit(self) -> dict[str, Any]:
        """The audit record's part (never values, never the code's messages)."""
        record: dict[str, Any] = {"verdict": str(self.verdict)}
        for key in ("limit", "rule", "error"):
            if getattr(self, key) is not None:
                record[key] = getattr(self, key)
        record["resources"] = {"wall_s": self.wall_s, "cpu_s": self.cpu_s,
                               "peak_memory_mb": _mb(self.peak_rss_bytes)}  # fmt: skip
        return record

    def short_reason(self) -> str:
        """What the researcher is told when the call did not succeed."""
        if self.verdict is Verdict.KILLED:
            return f"stopped by the site's sandbox: {self.limit} limit"
        if self.verdict is Verdict.REFUSED:
            return f"output refused by the site's egress policy: {self.rule}"
        if self.verdict is Verdict.ERROR:
            return f"the function raised {self.error} at the site"
        return "ok"


def _mb(value: int | None) -> float | None:
    return None if value is None else round(value / MB, 1)
