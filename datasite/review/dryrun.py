"""Dry run of a code request on mock data, in the same sealed worker that runs approved code.

The admin's CLI hands the request's code (its ``@sy.syft_function`` decorators stripped: the
sandbox never imports syft) and the mock inputs to a ``datasite.sandbox`` worker: no network,
a read-only view of the system, no view of the admin's files or environment, limits on
memory, CPU, wall time, processes and file size. Inputs and outputs cross as arrays and JSON,
never pickle. Only a description of the output reaches the admin (``egress.summarize``), and
whether the site's egress policy would release it.
"""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Collection
from typing import Any

from datasite.review.egress import summarize
from datasite.sandbox import bwrap
from datasite.sandbox.errors import SandboxUnavailable
from datasite.sandbox.release import SchemaError, check_release, declared_in
from datasite.sandbox.runner import Sandbox
from datasite.sandbox.verdict import Limits, Verdict

DRY_RUN_MEMORY_MB = 4096


def plain_function_source(code: str) -> str:
    """The code with decorators removed from top-level functions (no syft in the child)."""
    tree = ast.parse(textwrap.dedent(code))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            node.decorator_list = []
    return ast.unparse(tree)


def run(
    code: str,
    func_name: str,
    kwargs: dict[str, Any],
    timeout_s: float,
    assets: Collection[str] = (),
) -> dict[str, Any]:
    """Run the request once on ``kwargs`` sealed; the result dict always has ``ok``.

    ``output`` describes what would leave (keys, shapes, dtypes, bytes, hash; no values) and
    ``egress`` names the rule the site would refuse it by (None: it would leave), judged as
    the site judges an approved call: the declared schema, counts and the copy check, with
    the mock twins of the arguments named in ``assets`` standing in for the private data.
    """
    reason = bwrap.probe()
    if reason is not None:
        return {"ok": False, "error": f"no sealed worker for the dry run: {reason}", "seconds": 0}
    limits = Limits(memory_mb=DRY_RUN_MEMORY_MB, wall_s=timeout_s, cpu_s=int(timeout_s) + 5)
    try:
        with Sandbox(limits, preload=()) as box:
            execution = box.run(plain_function_source(code), func_name, kwargs)
    except SandboxUnavailable as err:
        return {"ok": False, "error": err.message, "seconds": 0}
    seconds = execution.wall_s or 0.0
    if execution.verdict is Verdict.KILLED:
        what = f"timed out after {timeout_s:.0f} s" if execution.limit == "wall_time" else ""
        error = f"stopped by the sandbox: {execution.limit} limit {what}".strip()
        return {"ok": False, "error": error, "seconds": seconds}
    if execution.verdict is not Verdict.OK:
        error = execution.detail or execution.short_reason()
        return {"ok": False, "error": error, "seconds": seconds}
    private = {name: kwargs[name] for name in assets if name in kwargs}
    try:
        refusal = check_release(execution.value, declared_in(kwargs), kwargs, private)
    except SchemaError as err:
        return {"ok": False, "error": str(err), "seconds": seconds}
    return {"ok": True, "output": summarize(execution.value), "seconds": seconds,
            "egress": str(refusal.rule) if refusal else None,
            "stdout_bytes": execution.stdout_bytes}  # fmt: skip
