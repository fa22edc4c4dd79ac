"""How a code request and its dry run look to the person deciding: rich renderables that the
``datasite requests`` CLI prints and the notebooks show (as HTML via :func:`to_html`).

Everything that comes from the request (code, names, reasons, output keys) is
attacker-controlled text: it is escaped or wrapped in ``Text`` so it is never read as markup.
"""

from __future__ import annotations

import io
from collections.abc import Iterable

from rich.console import Console, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from datasite.privacy.ledger import ceil2, floor2
from datasite.review.facts import (
    NO_DECLARED_OUTPUT,
    Binding,
    DryRunResult,
    PrivacyCost,
    RequestFacts,
    RiskSummary,
)

HTML_FORMAT = '<pre style="font-family:monospace;font-size:12px;line-height:1.35">{code}</pre>'


def request_view(facts: RequestFacts) -> list[RenderableType]:
    """Header panel, inputs, risk findings, the code, and the diff to the approved version."""
    pol = facts.policies
    lines = [
        f"request   {facts.request_id}  ({facts.status})",
        f"function  {facts.function}   requester {facts.requester}",
        f"submitted {facts.request_time}   executions so far {facts.executions}",
        f"code hash {facts.code_hash}  (normalised; syft's: {facts.syft_code_hash[:16]}…)",
        f"policies  input {pol.input_policy}, output {pol.output_policy}, "
        f"execution limit {pol.execution_limit}",
    ]
    if facts.deny_reason:
        lines.append(f"reason    {facts.deny_reason}")
    declared = facts.declared_output
    lines.append(f"output    {declared.describe() if declared else NO_DECLARED_OUTPUT}")
    if facts.privacy is not None:
        lines.append(privacy_line(facts.privacy))
    return [
        Panel(Text("\n".join(lines)), title="code request"),
        bindings_table(facts.bindings),
        risk_table(facts.risk),
        Syntax(facts.code, "python", line_numbers=True),
        *diff_view(facts),
    ]


def privacy_line(cost: PrivacyCost) -> str:
    """The request's declared privacy cost against its dataset's remaining budget."""
    if cost.error is not None:
        return f"privacy   {cost.error}"
    budget = (
        f"remaining epsilon {floor2(cost.remaining or 0.0)} of budget {cost.budget:g}"
        if cost.budget is not None
        else "no budget set"
    )
    if cost.declared_epsilon is None:
        allowed = "allowed" if cost.allow_non_dp else "REFUSED at approval"
        return f"privacy   NOT differentially private on {cost.dataset} ({budget}): {allowed}"
    return (
        f"privacy   declares epsilon {ceil2(cost.declared_epsilon)} (delta "
        f"{cost.delta or 0.0:.3g}, {cost.rounds} training rounds) on {cost.dataset}; {budget}"
    )


def bindings_table(bindings: dict[str, Binding]) -> Table:
    table = Table("argument", "bound to", title="inputs")
    for arg, binding in bindings.items():
        table.add_row(escape(arg), escape(binding.describe()))
    return table


def risk_table(risk: RiskSummary) -> Table:
    table = Table("severity", "category", "line", "finding", title=f"risk: {risk.worst}")
    colours = {"high": "bold red", "medium": "yellow", "low": "dim"}
    for f in risk.findings:
        sev = str(f.severity)
        table.add_row(f"[{colours.get(sev, '')}]{sev}[/]", escape(f.category), str(f.line),
                      escape(f.message))  # fmt: skip
    return table


def diff_view(facts: RequestFacts) -> list[RenderableType]:
    prev = facts.previous_approved
    if prev is None:
        return ["[dim]No earlier approved version of this function by this researcher.[/]"]
    return [
        Text(f"Diff against approved {prev.function} (request {prev.request_id[:12]}):"),
        Syntax(facts.diff or "(identical code)", "diff"),
    ]


def dry_run_view(dry: DryRunResult) -> list[RenderableType]:
    """Where each input came from, then what would leave the site (or why it failed)."""
    shown: list[RenderableType] = [Text(f"  {note}", style="dim") for note in dry.notes]
    if not dry.ok or dry.output is None:
        return [*shown, f"[bold red]dry run failed:[/] {escape(str(dry.error))}"]
    out = dry.output
    table = Table("key", "type", "shape", "dtype", "bytes",
                  title=f"would leave the site: {out.total_bytes} bytes")  # fmt: skip
    for item in out.items:
        table.add_row(escape(item.key), escape(item.type), str(item.shape),
                      escape(item.dtype), str(item.bytes))  # fmt: skip
    shown.append(table)
    for warning in dry.asset_shaped:
        shown.append(f"[bold red]asset-shaped output:[/] {escape(warning)}")
    if dry.egress:
        rule = escape(dry.egress)
        shown.append(f"[bold red]the site's egress policy would refuse this output:[/] {rule}")
    return shown


def to_html(renderables: Iterable[RenderableType], width: int = 110) -> str:
    """The renderables as one inline-styled ``<pre>`` block (for notebooks and reports)."""
    console = Console(record=True, file=io.StringIO(), width=width, force_jupyter=False)
    for item in renderables:
        console.print(item, highlight=False)
    return console.export_html(inline_styles=True, code_format=HTML_FORMAT)
