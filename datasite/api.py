"""The hospital side's Python API for notebooks: admins and compliance officers.

The ``datasite`` CLI and this module call the same library functions; this one returns data
(dicts, DataFrames) and objects that render in Jupyter. Admin calls use the admin's
credentials (DATASITE_ADMIN_EMAIL / DATASITE_ADMIN_PASSWORD) unless given others; a
compliance officer passes their own with :func:`credentials`.

from datasite import api
api.synthesize(out, "st-olav", n=200)                   # a synthetic hospital export
api.ingest(site.url, out, "chest-xray")                 # de-identify, mock twins, upload
api.add_user(site.url, "r@uni.example", "R", "researcher", password_env="PW")
api.requests(site.url, status="pending")                # DataFrame
api.review(site.url, request_id, dry_run=True)          # risk report + what would leave
api.approve(site.url, request_id)                       # or deny / revoke with a reason
api.verify_audit(site.url, creds=me); api.export_audit(site.url, "packet.html", creds=me)
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datasite import decisions, users
from datasite.audit import fetch as audit_fetch
from datasite.audit.log import VerifyReport, parse_anchor
from datasite.config import AdminCredentials, admin_credentials
from datasite.errors import ConfigError, DuplicateUserError
from datasite.review.facts import DryRunResult, RequestFacts
from datasite.review.view import dry_run_view, request_view, to_html
from datasite.siteclient import USER_PASSWORD_ENV
from fedcommon.roles import Role

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "AuditExport", "RequestReview", "add_user", "approve", "audit_records", "credentials",
    "deny", "export_audit", "ingest", "ingest_table", "requests", "review", "revoke",
    "synthesize", "users_table", "verify_audit",
]  # fmt: skip
AUDIT_COLUMNS = ("seq", "time", "event", "actor", "function", "outcome", "reason")


def credentials(
    email: str | None = None, password_env: str = USER_PASSWORD_ENV
) -> AdminCredentials:
    """The admin's credentials (no ``email``), or ``email``'s with the password read from the
    environment variable ``password_env`` (a notebook never holds a password)."""
    if email is None:
        return admin_credentials()
    password = os.environ.get(password_env, "")
    if not password:
        raise ConfigError(f"Set {password_env} to the password of {email} before this call.")
    return AdminCredentials(email=email, password=password)


@contextmanager
def _bar(what: str, total: int | None = None) -> Iterator[Callable[[int, int], None]]:
    from tqdm.auto import tqdm

    with tqdm(desc=what, total=total) as bar:

        def update(done: int, of: int) -> None:
            bar.total = of
            bar.update(done - bar.n)

        yield update


def synthesize(
    out: Path, site: str, n: int = 200, seed: int = 0, shift: str = "balanced", rows: int = 256
) -> dict[str, Any]:
    """Write a seeded synthetic export (DICOM files with fake PHI, labels.csv) into ``out``."""
    from datasite.synth import SynthConfig, generate_site, preset

    config = SynthConfig(Path(out), site, n, seed, preset(shift), rows=rows)
    with _bar(f"{site}: writing DICOM files", n) as update:
        done = [0]

        def tick(step: int) -> None:
            done[0] += step
            update(done[0], n)

        made = generate_site(config, progress=tick)
    return {"site": site, "files": made.files, "positives": made.positives,
            "patients": made.patients, "out": made.out, "labels_csv": made.labels_csv}  # fmt: skip


def ingest(
    url: str, source: Path, dataset: str, *, labels: Path | None = None, size: int = 128,
    description: str = "", val_fraction: float = 0.2, verify: bool = True,
    key_file: Path | None = None, skip_existing: bool = False,
    admin: AdminCredentials | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Ingest an export folder as a de-identified dataset with synthetic mock twins.

    Returns the ingestion summary (counts, rejections by reason, PHI verify, mock-vs-real
    distance) with ``report_csv``, the per-file report. ``skip_existing``: when the dataset
    is already on the site, return ``{"dataset": ..., "note": ...}`` instead of failing.
    """
    from datasite.ingest.deid import default_key_file
    from datasite.ingest.pipeline import IngestOptions
    from datasite.ingest.upload import IngestRequest
    from datasite.ingest.upload import ingest as run_ingest
    from datasite.syftio.client import admin_login, dataset_names

    creds = admin or admin_credentials()
    if skip_existing and dataset in dataset_names(admin_login(url, creds)):
        return {"dataset": dataset, "note": f"already on {url}; not ingested again"}
    request = IngestRequest(
        url=url, source=Path(source), labels_csv=labels or Path(source) / "labels.csv",
        dataset=dataset, key_file=key_file or default_key_file(), description=description,
        options=IngestOptions(size=size, val_fraction=val_fraction), verify=verify,
    )  # fmt: skip
    with _bar(f"{dataset}: decoding") as update:
        outcome = run_ingest(request, creds, progress=update)
    return {"dataset": dataset, **outcome.summary, "report_csv": outcome.report_csv}


def ingest_table(results: Mapping[str, dict[str, Any]]) -> pd.DataFrame:
    """One column per site: files, accepted, rejected, train/val sizes, PHI verify."""
    import pandas as pd

    keys = ("files", "accepted", "rejected", "skipped", "train", "val", "uploaded")
    table = {
        site: {**{k: r.get(k) for k in keys}, "phi verify": _verdict(r), "note": r.get("note")}
        for site, r in results.items()
    }
    return pd.DataFrame(table)


def _verdict(result: dict[str, Any]) -> str | None:
    if "verify" not in result:
        return None
    return "PASS" if result["verify"]["passed"] else "FAIL"


def add_user(
    url: str, email: str, name: str, role: str, password_env: str = USER_PASSWORD_ENV,
    admin: AdminCredentials | None = None, exist_ok: bool = False,
) -> dict[str, str]:  # fmt: skip
    """Add a researcher or compliance officer, password from the variable ``password_env``.
    With ``exist_ok`` an existing account is left as it is (``status`` says which)."""
    password = credentials(email, password_env).password
    try:
        added = users.add_person(
            url, admin or admin_credentials(), email, name, password, Role(role)
        )
    except DuplicateUserError:
        if not exist_ok:
            raise
        return {"email": email, "role": role, "status": "already there"}
    return {**added, "status": "added"}


def users_table(url: str, admin: AdminCredentials | None = None) -> pd.DataFrame:
    """The site's accounts (email, name, platform role) as a DataFrame; admins only."""
    import pandas as pd

    return pd.DataFrame(users.list_people(url, admin or admin_credentials()))


def requests(
    url: str, status: str | None = None, creds: AdminCredentials | None = None
) -> pd.DataFrame:
    """The site's code requests, oldest first: id, function, requester, status, risk, runs."""
    import pandas as pd

    rows = decisions.list_requests(url, creds or admin_credentials(), status)
    columns = [
        "request_id",
        "function",
        "requester",
        "request_time",
        "status",
        "risk",
        "executions",
    ]
    return pd.DataFrame(
        [
            {**r.audit_details(*columns[:-2]), "risk": r.risk.worst, "executions": r.executions}
            for r in rows
        ],
        columns=columns,
    )


@dataclass(frozen=True)
class RequestReview:
    """A request as the admin reads it; renders as the CLI's report in Jupyter."""

    facts: RequestFacts
    dry_run: DryRunResult | None
    note: str

    @property
    def risk(self) -> str:
        """The worst finding's severity: "high", "medium", "low" or "none"."""
        return self.facts.risk.worst

    @property
    def leaves_site(self) -> list[dict[str, Any]]:
        """What the dry run says would leave the site: key, type, shape, dtype, bytes."""
        if not self.dry_run or not self.dry_run.ok or self.dry_run.output is None:
            return []
        return [item.model_dump() for item in self.dry_run.output.items]

    def _repr_html_(self) -> str:
        parts = request_view(self.facts) + (dry_run_view(self.dry_run) if self.dry_run else [])
        return to_html([*parts, f"[dim]{self.note}[/]"])


def review(
    url: str, request_id: str, *, dry_run: bool = False, samples: dict[str, Any] | None = None,
    timeout_s: float = 120.0, creds: AdminCredentials | None = None,
) -> RequestReview:  # fmt: skip
    """Everything needed to decide, optionally with a dry run on mock data (``samples``: values
    for researcher-owned arguments); an admin's review is recorded in the audit log."""
    creds = creds or admin_credentials()
    facts = decisions.request_facts(url, creds, request_id)
    dry = decisions.dry_run(url, creds, facts, samples or {}, timeout_s) if dry_run else None
    return RequestReview(facts, dry, decisions.record_review(url, creds, facts, dry))


def approve(
    url: str, request_id: str, admin: AdminCredentials | None = None, accept_risk: bool = False
) -> str:
    """Approve: the researcher may run this code on the private data, within its limits.
    A request with a HIGH risk finding needs ``accept_risk=True`` (recorded in the audit log)."""
    return decisions.decide(
        url, admin or admin_credentials(), request_id, "approve", "", accept_risk
    )


def deny(url: str, request_id: str, reason: str, admin: AdminCredentials | None = None) -> str:
    """Deny with a reason the researcher sees; returns the request's function name."""
    return decisions.decide(url, admin or admin_credentials(), request_id, "deny", reason)


def revoke(url: str, request_id: str, reason: str, admin: AdminCredentials | None = None) -> str:
    """Withdraw an approval (further executions are refused); returns the function name."""
    return decisions.decide(url, admin or admin_credentials(), request_id, "revoke", reason)


def audit_records(url: str, creds: AdminCredentials | None = None) -> pd.DataFrame:
    """The audit log as a table: seq, time, event, actor, function, outcome, reason."""
    import pandas as pd

    found = audit_fetch.records(audit_fetch.fetch(url, None, creds or admin_credentials()).lines)
    rows = [{**rec, **rec.get("details", {})} for rec in found]
    return pd.DataFrame([{c: r.get(c) for c in AUDIT_COLUMNS} for r in rows], columns=AUDIT_COLUMNS)


def verify_audit(
    url: str | None = None, data_dir: Path | None = None, anchor: str | None = None,
    creds: AdminCredentials | None = None,
) -> VerifyReport:  # fmt: skip
    """Check the hash chain here (not on trust in the server); ``report.ok`` says intact."""
    pin = parse_anchor(anchor) if anchor else None
    who = creds or (admin_credentials() if url else None)
    return audit_fetch.fetch(url, data_dir, who).verify(pin)


@dataclass(frozen=True)
class AuditExport:
    """An exported audit file; an HTML packet renders inline (isolated in an iframe)."""

    path: Path
    records: int
    report: VerifyReport

    def _repr_html_(self) -> str:
        head = f"<p>{self.records} records written to <code>{html.escape(str(self.path))}</code>"
        if self.path.suffix != ".html":
            return head + "</p>"
        packet = html.escape(self.path.read_text(encoding="utf-8"), quote=True)
        return f'{head}</p><iframe srcdoc="{packet}" style="width:100%;height:640px"></iframe>'


def export_audit(
    url: str, out: Path, format: str = "html", since: str | None = None,
    creds: AdminCredentials | None = None,
) -> AuditExport:  # fmt: skip
    """Export the audit log as csv, json or an HTML compliance packet (per request)."""
    source = audit_fetch.fetch(url, None, creds or admin_credentials())
    text, found, report = audit_fetch.export_text(source, format, audit_fetch.parse_since(since))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(text, encoding="utf-8")
    return AuditExport(Path(out), len(found), report)
