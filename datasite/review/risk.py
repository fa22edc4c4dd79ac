"""The risk report an admin reads before approving: every risky construct, worst first.

Pure Python (``ast``): nothing here imports syft or runs the code under review. It flags
imports; file / network / subprocess / eval / exec / pickle / ctypes / os use;
``globals()`` / ``__builtins__`` / dunder / dynamic ``getattr`` tricks; and returning or
printing asset-shaped data (the taint walk in :mod:`datasite.review.taint`).
"""

from __future__ import annotations

import ast
import re

from datasite.review.findings import Finding, Severity, finding, function_def, parse
from datasite.review.taint import leak_findings

_HIGH_MODULES = {
    "subprocess": "subprocess",
    "os": "os",
    "sys": "os",
    "shutil": "file",
    "socket": "network",
    "ssl": "network",
    "http": "network",
    "urllib": "network",
    "urllib3": "network",
    "requests": "network",
    "httpx": "network",
    "aiohttp": "network",
    "ftplib": "network",
    "smtplib": "network",
    "paramiko": "network",
    "pickle": "pickle",
    "cPickle": "pickle",
    "dill": "pickle",
    "cloudpickle": "pickle",
    "joblib": "pickle",
    "marshal": "pickle",
    "shelve": "pickle",
    "ctypes": "ctypes",
    "cffi": "ctypes",
    "importlib": "import",
    "builtins": "globals",
    "inspect": "globals",
    "gc": "globals",
    "multiprocessing": "subprocess",
    "pty": "subprocess",
    "signal": "os",
    "syft": "syft",
}
_MEDIUM_MODULES = {
    "pathlib": "file",
    "tempfile": "file",
    "glob": "file",
    "io": "file",
    "threading": "subprocess",
    "asyncio": "network",
    "logging": "print",
}
_CALLS = {
    "open": (Severity.HIGH, "file", "opens a file"),
    "eval": (Severity.HIGH, "eval", "evaluates a string as code"),
    "exec": (Severity.HIGH, "exec", "executes a string as code"),
    "compile": (Severity.HIGH, "exec", "compiles code at run time"),
    "__import__": (Severity.HIGH, "import", "imports a module dynamically"),
    "globals": (Severity.HIGH, "globals", "reads the server's globals()"),
    "locals": (Severity.MEDIUM, "globals", "reads locals()"),
    "vars": (Severity.MEDIUM, "globals", "reads vars()"),
    "breakpoint": (Severity.HIGH, "exec", "opens a debugger in the server"),
    "input": (Severity.MEDIUM, "exec", "waits for console input in the server"),
    "exit": (Severity.MEDIUM, "exec", "exits the interpreter"),
    "quit": (Severity.MEDIUM, "exec", "exits the interpreter"),
}
_DYNAMIC_ATTR = {"getattr", "setattr", "delattr", "hasattr"}
_WRITE_METHODS = {
    "save", "savez", "savez_compressed", "tofile", "to_csv", "to_parquet", "to_pickle",
    "to_json", "write", "write_text", "write_bytes", "dump", "dumps", "load", "loads",
    "system", "popen", "remove", "unlink", "rmtree", "mkdir", "chmod", "rename",
}  # fmt: skip
_PICKLE_METHODS = {"dump", "dumps", "load", "loads"}
_DUNDERS = re.compile(
    r"^__(globals|builtins|subclasses|code|class|bases|mro|dict|closure|"
    r"getattribute|reduce|reduce_ex|loader|spec|self|func|module)__$"
)


def _import_findings(node: ast.Import | ast.ImportFrom) -> list[Finding]:
    names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
    out = []
    for name in names:
        root = name.split(".")[0]
        if root in _HIGH_MODULES:
            out.append(finding(node, Severity.HIGH, _HIGH_MODULES[root], f"imports {name}"))
        elif root in _MEDIUM_MODULES:
            out.append(finding(node, Severity.MEDIUM, _MEDIUM_MODULES[root], f"imports {name}"))
        else:
            out.append(finding(node, Severity.LOW, "import", f"imports {name}"))
    return out


def _call_findings(node: ast.Call) -> list[Finding]:
    func = node.func
    if isinstance(func, ast.Name):
        if func.id in _CALLS:
            severity, category, what = _CALLS[func.id]
            return [finding(node, severity, category, f"calls {func.id}(): {what}")]
        constant_name = node.args[1:2] and isinstance(node.args[1], ast.Constant)
        if func.id in _DYNAMIC_ATTR and not constant_name:
            return [
                finding(
                    node,
                    Severity.HIGH,
                    "globals",
                    f"calls {func.id}() with a computed attribute name",
                )
            ]
    is_json = (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and (func.value.id == "json")
    )
    if isinstance(func, ast.Attribute) and func.attr in _WRITE_METHODS and not is_json:
        category = "pickle" if func.attr in _PICKLE_METHODS else "file"
        return [
            finding(
                node, Severity.HIGH, category, f"calls .{func.attr}(): may write, read or run files"
            )
        ]
    return []


def _node_findings(node: ast.AST) -> list[Finding]:
    if isinstance(node, ast.Import | ast.ImportFrom):
        return _import_findings(node)
    if isinstance(node, ast.Call):
        return _call_findings(node)
    if isinstance(node, ast.Attribute) and _DUNDERS.match(node.attr):
        return [finding(node, Severity.HIGH, "globals", f"touches {node.attr}")]
    if isinstance(node, ast.Name) and node.id == "__builtins__":
        return [finding(node, Severity.HIGH, "globals", "touches __builtins__")]
    if isinstance(node, ast.Global | ast.Nonlocal):
        return [finding(node, Severity.MEDIUM, "globals", "declares global/nonlocal names")]
    return []


ENVIRONMENT = "environment"  # the category of an import the site does not allow


def _environment_findings(body: list[ast.AST], allowed: frozenset[str]) -> list[Finding]:
    imports = [node for stmt in body for node in ast.walk(stmt)
               if isinstance(node, ast.Import | ast.ImportFrom)]  # fmt: skip
    out = []
    for node in imports:
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else ["." if node.level else node.module or "."])  # fmt: skip
        for name in names:
            if name.split(".")[0] not in allowed:
                message = f"imports {name}, outside this site's code environment (refused)"
                out.append(finding(node, Severity.HIGH, ENVIRONMENT, message))
    return out


def risk_report(
    code: str, asset_args: set[str] | None = None, allowed: frozenset[str] | None = None
) -> list[Finding]:
    """Every risky construct in ``code``, worst first. ``asset_args``: the parameters bound
    to assets (default: every parameter of the first function). ``allowed``: the modules of
    the site's code environment; an import outside it is a high finding that blocks approval."""
    tree = parse(code)
    fn = function_def(tree)
    body: list[ast.AST] = list(fn.body) if fn else list(tree.body)
    findings = [f for stmt in body for node in ast.walk(stmt) for f in _node_findings(node)]
    if allowed is not None:
        findings += _environment_findings(body, allowed)
    if fn is not None:
        params = {a.arg for a in fn.args.args + fn.args.kwonlyargs}
        findings += leak_findings(fn, params if asset_args is None else asset_args & params)
    order = list(Severity)
    return sorted(findings, key=lambda f: (order.index(f.severity), f.line, f.message))
