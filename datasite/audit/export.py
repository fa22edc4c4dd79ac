"""Audit log exports: JSON, CSV and a self-contained HTML compliance packet.

The HTML packet groups the records per code request: code, hash, risk findings, decision
trail (who / when / reason), executions and what left the site. Everything from the log is
escaped: request code and reasons are attacker-controlled text.
"""

from __future__ import annotations

import csv
import io
import json
from html import escape
from typing import Any

from datasite.audit.log import VerifyReport, utc_now

CSV_COLUMNS = ("seq", "time", "event", "actor", "request_id", "function", "outcome", "reason",
               "details", "prev_hash", "hash")  # fmt: skip
DECISIONS = ("reviewed", "approved", "denied", "revoked")
EXECUTIONS = ("executed", "execution_refused", "execution_cached")


def to_json(records: list[dict[str, Any]], site: str, report: VerifyReport) -> str:
    return json.dumps({"site": site, "generated": utc_now(), "verify": report.model_dump(),
                       "records": records}, indent=2)  # fmt: skip


def to_csv(records: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for rec in records:
        details = rec.get("details", {})
        writer.writerow({
            **{k: rec.get(k) for k in ("seq", "time", "event", "actor", "prev_hash", "hash")},
            **{k: details.get(k) for k in ("request_id", "function", "outcome", "reason")},
            "details": json.dumps(details, sort_keys=True),
        })  # fmt: skip
    return out.getvalue()


def group_by_request(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        request_id = rec.get("details", {}).get("request_id")
        if request_id:
            groups.setdefault(str(request_id), []).append(rec)
    return groups


_STYLE = """body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #bbb;padding:3px 6px;
font-size:13px;vertical-align:top;text-align:left}pre{background:#f4f4f4;padding:8px;
overflow-x:auto;font-size:12px}.bad{color:#b00;font-weight:bold}.ok{color:#070}
section{border-top:2px solid #333;margin-top:2em}code{font-size:12px}"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>" if rows else "<p><i>none</i></p>"


def _header(site: str, report: VerifyReport, count: int) -> str:
    status = (f'<span class="ok">chain intact</span> ({report.records} records)' if report.ok
              else f'<span class="bad">CHAIN BROKEN: {_e(report.problem)}</span>')  # fmt: skip
    return (f"<h1>Compliance packet: {_e(site)}</h1><p>Generated {_e(utc_now())}; "
            f"{count} records in this export. Audit chain: {status}.<br>Anchor (keep it: "
            f"<code>datasite audit verify --anchor</code>): <code>{report.head_seq}:"
            f"{_e(report.head_hash)}</code></p>")  # fmt: skip


def _submitted(rec: dict[str, Any] | None) -> str:
    if rec is None:
        return "<p><i>Submitted before the export window (see an earlier export).</i></p>"
    d = rec["details"]
    pol = d.get("policies", {})
    bindings = [[arg, b.get("kind"), b.get("asset") or b.get("type") or b.get("value")]
                for arg, b in d.get("bindings", {}).items()]  # fmt: skip
    risks = [[f.get("severity"), f.get("category"), f.get("line"), f.get("message")]
             for f in d.get("risk", {}).get("findings", [])]  # fmt: skip
    return (f"<p>Submitted by <b>{_e(rec['actor'])}</b> at {_e(rec['time'])}<br>Normalised "
            f"code hash <code>{_e(d.get('code_hash'))}</code><br>Policies: input "
            f"{_e(pol.get('input_policy'))}, output {_e(pol.get('output_policy'))}, execution "
            f"limit {_e(pol.get('execution_limit'))}</p><h3>Code</h3><pre>{_e(d.get('code'))}"
            f"</pre><h3>Inputs</h3>{_table(['argument', 'kind', 'bound to'], bindings)}"
            f"<h3>Risk report: {_e(d.get('risk', {}).get('worst'))}</h3>"
            f"{_table(['severity', 'category', 'line', 'finding'], risks)}")  # fmt: skip


def _decisions(recs: list[dict[str, Any]]) -> str:
    rows = []
    for rec in recs:
        d = rec["details"]
        dry = d.get("dry_run") or {}
        outcome = "ok" if dry.get("ok") else dry.get("error")
        risk = d.get("risk", {}).get("worst", "")
        note = d.get("reason") or (f"dry run: {outcome}; risk {risk}" if dry else f"risk {risk}")
        rows.append([rec["seq"], rec["time"], rec["event"], rec["actor"], note])
    return "<h3>Decision trail</h3>" + _table(
        ["seq", "time", "event", "who", "reason / note"], rows
    )


def _executions(recs: list[dict[str, Any]]) -> str:
    rows = []
    for rec in recs:
        d = rec["details"]
        out = d.get("output") or {}
        left = "; ".join(f"{i['key']} {i['shape']} {i['dtype']} {i['bytes']} B"
                         for i in out.get("items", []))  # fmt: skip
        inputs = ", ".join(f"{k}={v.get('asset') or v.get('id')}"
                           for k, v in d.get("inputs", {}).items())  # fmt: skip
        rows.append([rec["seq"], rec["time"], rec["actor"], d.get("outcome", rec["event"]),
                     d.get("duration_s"), inputs, left or d.get("reason") or d.get("error"),
                     out.get("total_bytes"), out.get("sha256")])  # fmt: skip
    headers = ["seq", "time", "who", "outcome", "seconds", "inputs", "what left the site",
               "bytes", "output sha256"]  # fmt: skip
    return "<h3>Executions</h3>" + _table(headers, rows)


def _request_section(request_id: str, recs: list[dict[str, Any]]) -> str:
    submitted = next((r for r in recs if r["event"] == "submitted"), None)
    function = next((r["details"].get("function") for r in recs if r["details"].get("function")),
                    "?")  # fmt: skip
    return (f"<section><h2>Request {_e(request_id)}: {_e(function)}</h2>{_submitted(submitted)}"
            f"{_decisions([r for r in recs if r['event'] in DECISIONS])}"
            f"{_executions([r for r in recs if r['event'] in EXECUTIONS])}</section>")  # fmt: skip


def to_html(records: list[dict[str, Any]], site: str, report: VerifyReport) -> str:
    groups = group_by_request(records)
    others = [[r["seq"], r["time"], r["event"], r["actor"], json.dumps(r["details"])]
              for r in records if not r.get("details", {}).get("request_id")]  # fmt: skip
    body = "".join(_request_section(rid, recs) for rid, recs in groups.items())
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Compliance packet "
            f"{_e(site)}</title><style>{_STYLE}</style></head><body>"
            f"{_header(site, report, len(records))}{body}<section><h2>Users and site events"
            f"</h2>{_table(['seq', 'time', 'event', 'who', 'details'], others)}</section>"
            "</body></html>")  # fmt: skip
