"""Dry run of a code request on mock data, in a separate, throw-away Python process.

The admin's CLI writes the request's code and the mock inputs into a scratch directory, then
runs ``python -I -m datasite.review.dryrun SCRATCH`` with a timeout, a scratch working directory, an
environment without the admin's credentials and CPU / file-size limits. The child never
imports syft: the ``@sy.syft_function`` decorators are stripped and the plain function is
called. Only a description of the output comes back (``egress.summarize``), never values.
This is isolation from the admin's session, not a sandbox: run dry runs on a machine that
holds nothing but mock data.
"""

from __future__ import annotations

import ast
import json
import os
import pickle
import resource
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

CODE_FILE = "code.py"
INPUTS_FILE = "inputs.pkl"
RESULT_FILE = "result.json"
MAX_FILE_BYTES = 256 * 1024 * 1024


def plain_function_source(code: str) -> str:
    """The code with decorators removed from top-level functions (no syft in the child)."""
    tree = ast.parse(textwrap.dedent(code))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            node.decorator_list = []
    return ast.unparse(tree)


def prepare(scratch: Path, code: str, func_name: str, kwargs: dict[str, Any]) -> None:
    (scratch / "work").mkdir(parents=True, exist_ok=True)
    (scratch / CODE_FILE).write_text(plain_function_source(code))
    with (scratch / INPUTS_FILE).open("wb") as handle:
        pickle.dump({"func_name": func_name, "kwargs": kwargs}, handle)


def _limits(cpu_seconds: int) -> None:  # runs in the child before exec
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
    resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE_BYTES, MAX_FILE_BYTES))


def run(scratch: Path, timeout_s: float) -> dict[str, Any]:
    """Run the prepared dry run; the result dict always has ``ok`` and ``seconds``."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(scratch / "work"),
           "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}  # fmt: skip
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, "-I", "-m", "datasite.review.dryrun", str(scratch)],
            cwd=scratch / "work",
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            preexec_fn=lambda: _limits(int(timeout_s) + 5),
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {timeout_s:.0f} s", "seconds": timeout_s}
    seconds = time.monotonic() - started
    result_path = scratch / RESULT_FILE
    if not result_path.exists():
        tail = (proc.stderr or "").strip().splitlines()[-3:]
        return {"ok": False, "error": f"the dry run exited with code {proc.returncode}: "
                f"{' | '.join(tail)}", "seconds": seconds}  # fmt: skip
    result: dict[str, Any] = json.loads(result_path.read_text())
    result["seconds"] = seconds
    result["stdout_lines"] = len((proc.stdout or "").splitlines())
    return result


def _child(scratch: Path) -> None:
    from datasite.review.egress import summarize

    with (scratch / INPUTS_FILE).open("rb") as handle:
        spec = pickle.load(handle)  # written by the admin's own CLI just before
    namespace: dict[str, Any] = {"__name__": "dryrun"}
    result: dict[str, Any]
    try:
        source = (scratch / CODE_FILE).read_text()
        exec(compile(source, "request.py", "exec"), namespace)
        output = namespace[spec["func_name"]](**spec["kwargs"])
        result = {"ok": True, "output": summarize(output)}
    except BaseException as err:  # noqa: BLE001 - any failure of the code is the result
        result = {"ok": False, "error": f"{type(err).__name__}: {str(err)[:500]}"}
    (scratch / RESULT_FILE).write_text(json.dumps(result, default=str))


if __name__ == "__main__":
    _child(Path(sys.argv[1]))
