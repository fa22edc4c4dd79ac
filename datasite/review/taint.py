"""Does a function return or print asset-shaped data? A flow-insensitive taint walk.

A name is tainted when it holds the asset arguments or something derived from them without
a reduction: slices, copies, conversions (``np.asarray(data)``, ``data.tolist()``),
arithmetic, iteration, and results of unknown calls that take tainted arguments
(``model(x)`` gives per-sample outputs). Reductions break the taint: ``.sum()``,
``.mean()``, ``.item()``, ``len()``, ``float()``, ``.shape``, matrix products (``@``,
``np.dot``: a contraction that gradient steps use; statically we cannot tell it from a
per-sample product, so the dry run checks output shapes against the asset shapes). A ``return`` or a
``print`` whose value is tainted is reported. Deliberately conservative: a false alarm costs
the admin a look, a miss costs patient data.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from datasite.review.findings import Finding, Severity

_SAFE_ATTRS = {"shape", "dtype", "ndim", "size", "nbytes", "itemsize", "columns", "device"}
_REDUCING_METHODS = {
    "sum", "mean", "std", "var", "min", "max", "argmax", "argmin", "item", "any", "all",
    "count", "nunique", "median", "norm", "backward", "numel", "dim", "size", "__len__",
}  # fmt: skip
_REDUCING_FUNCS = {
    "len", "float", "int", "bool", "round", "abs", "isinstance", "type", "range", "sum",
    "min", "max", "mean", "std", "var", "median", "argmax", "argmin", "all", "any",
    "count_nonzero", "allclose", "array_equal", "hasattr", "id", "hash", "enumerate",
    "dot", "matmul", "einsum", "tensordot", "inner", "bincount", "histogram", "unique",
}  # fmt: skip


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


# A nested function's summary: (its return leaks through closures alone, its parameters in
# order, the parameters through which a tainted argument reaches its return).
Summary = tuple[bool, tuple[str, ...], frozenset[str]]


class _Taint:
    def __init__(self, tainted: set[str], helpers: dict[str, Summary] | None = None) -> None:
        self.tainted = set(tainted)
        self.helpers = {} if helpers is None else helpers

    def leaks(self, node: ast.AST | None) -> bool:
        if node is None:
            return False
        if isinstance(node, ast.Name):
            return node.id in self.tainted
        if isinstance(node, ast.Attribute):
            return node.attr not in _SAFE_ATTRS and self.leaks(node.value)
        if isinstance(node, ast.Call):
            return self._call_leaks(node)
        if isinstance(node, ast.Compare | ast.Constant | ast.Lambda):
            return False
        if isinstance(node, ast.IfExp):  # the condition is not part of the value
            return self.leaks(node.body) or self.leaks(node.orelse)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
            return False  # a contraction; per-sample results are caught by the dry run
        if isinstance(node, ast.Dict):
            return any(self.leaks(v) for v in node.values)
        if isinstance(node, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
            return self._comp_leaks(node)
        return any(self.leaks(child) for child in ast.iter_child_nodes(node))

    def _call_leaks(self, node: ast.Call) -> bool:
        func = node.func
        if isinstance(func, ast.Attribute) and self.leaks(func.value):
            return func.attr not in _REDUCING_METHODS
        if _name(func) in _REDUCING_FUNCS:
            return False
        args = [*node.args, *(k.value for k in node.keywords)]
        if isinstance(func, ast.Name) and func.id in self.helpers:
            by_closure, params, leaky = self.helpers[func.id]
            passed = list(zip(params, node.args, strict=False))
            passed += [(k.arg or "**", k.value) for k in node.keywords]
            unknown = any(isinstance(a, ast.Starred) for a in node.args)
            return by_closure or any(
                (unknown or name in leaky or name == "**") and self.leaks(value)
                for name, value in passed
            )
        return any(self.leaks(a) for a in args)

    def _comp_leaks(
        self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp
    ) -> bool:
        for gen in node.generators:
            if self.leaks(gen.iter):
                self.taint_target(gen.target)
        if isinstance(node, ast.DictComp):
            return self.leaks(node.value)
        return self.leaks(node.elt)

    def taint_target(self, target: ast.AST) -> bool:
        grew = False
        for sub in ast.walk(target):
            if isinstance(sub, ast.Name) and sub.id not in self.tainted:
                self.tainted.add(sub.id)
                grew = True
        return grew

    def step(self, node: ast.AST) -> bool:
        """Spread taint through one assignment-like node; True when the set grew."""
        if isinstance(node, ast.Assign) and self.leaks(node.value):
            return any([self.taint_target(t) for t in node.targets])
        if isinstance(node, ast.AnnAssign | ast.AugAssign | ast.NamedExpr) and self.leaks(
            node.value
        ):
            return self.taint_target(node.target)
        if isinstance(node, ast.For | ast.comprehension) and self.leaks(node.iter):
            return self.taint_target(node.target)
        if isinstance(node, ast.withitem) and self.leaks(node.context_expr):
            return node.optional_vars is not None and self.taint_target(node.optional_vars)
        return False


def _is_print(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and _name(node.func) in {"print", "info", "warning", "debug"}


# One analysis's memo (AST nodes hash by identity, so it must not outlive the tree): the
# fixed point below summarises the same nested function under the same taint many times over
# (measured: 1.0 s per risk report of the built-in CNN task, for every request listed).
_MEMO: ContextVar[dict[Any, Any] | None] = ContextVar("taint_memo", default=None)


def _cached(key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
    """``make()``, once per key within one analysis (outside one: every time)."""
    memo = _MEMO.get()
    if memo is None:
        return make()
    if key not in memo:
        memo[key] = make()
    return memo[key]


def _own_nodes(fn: ast.FunctionDef) -> list[ast.AST]:
    """Every node of ``fn`` except the bodies of functions and classes defined inside it."""
    nodes: list[ast.AST] = _cached(("nodes", fn), lambda: _collect_own_nodes(fn))
    return nodes


def _collect_own_nodes(fn: ast.FunctionDef) -> list[ast.AST]:
    nodes: list[ast.AST] = []
    stack: list[ast.AST] = list(fn.body)
    while stack:
        node = stack.pop()
        nodes.append(node)
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            stack.extend(ast.iter_child_nodes(node))
    return nodes


def _nested(fn: ast.FunctionDef) -> list[ast.FunctionDef]:
    return [n for n in _own_nodes(fn) if isinstance(n, ast.FunctionDef)]


def _params(fn: ast.FunctionDef) -> set[str]:
    args = fn.args
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
    return {a.arg for a in every if a is not None}


def _spread(fn: ast.FunctionDef, tainted: set[str], helpers: dict[str, Summary]) -> _Taint:
    """Taint of ``fn``'s own names, with nested functions summarised (closures included)."""
    nodes = _own_nodes(fn)
    for _ in range(4):  # summaries and taint feed each other: recompute until they settle
        taint = _Taint(tainted, helpers)  # afresh: a call taints until its summary is known
        while any([taint.step(node) for node in nodes]):
            pass
        summaries = {inner.name: _summary(inner, taint.tainted, helpers) for inner in _nested(fn)}
        if all(helpers.get(name) == leak for name, leak in summaries.items()):
            break
        helpers.update(summaries)
    return taint


def _summary(inner: ast.FunctionDef, outer: set[str], helpers: dict[str, Summary]) -> Summary:
    key = ("summary", inner, frozenset(outer), frozenset(helpers.items()))
    found: Summary = _cached(key, lambda: _summarise(inner, outer, helpers))
    return found


def _summarise(inner: ast.FunctionDef, outer: set[str], helpers: dict[str, Summary]) -> Summary:
    params = _params(inner)
    by_closure = _returns_leak(_spread(inner, outer - params, dict(helpers)), inner)
    leaky = frozenset(
        p
        for p in params
        if _returns_leak(_spread(inner, (outer - params) | {p}, dict(helpers)), inner)
    )
    args = inner.args
    ordered = tuple(a.arg for a in [*args.posonlyargs, *args.args])
    return by_closure, ordered, leaky


def _returns_leak(taint: _Taint, fn: ast.FunctionDef) -> bool:
    return any(isinstance(n, ast.Return) and taint.leaks(n.value) for n in _own_nodes(fn))


def leak_findings(fn: ast.FunctionDef, asset_args: set[str]) -> list[Finding]:
    """Findings for each return/yield/print of ``fn`` that carries asset-shaped data.

    Helpers defined inside ``fn`` are followed through their calls: a helper's return counts
    only where ``fn`` passes it on, and prints inside helpers are checked with their taint.
    """
    token = _MEMO.set({})
    try:
        return _leak_findings(fn, asset_args)
    finally:
        _MEMO.reset(token)


def _leak_findings(fn: ast.FunctionDef, asset_args: set[str]) -> list[Finding]:
    taint = _spread(fn, set(asset_args), {})
    findings = []
    for node in _own_nodes(fn):
        if isinstance(node, ast.Return | ast.Yield | ast.YieldFrom) and taint.leaks(node.value):
            findings.append(
                Finding(
                    severity=Severity.HIGH,
                    category="egress",
                    line=node.lineno,
                    message="returns data derived from an asset without a "
                    "reduction (asset-shaped output may leave the site)",
                )
            )
    findings += _print_findings(fn, taint)
    return findings


def _print_findings(fn: ast.FunctionDef, taint: _Taint) -> list[Finding]:
    found = [
        Finding(
            severity=Severity.HIGH,
            category="egress",
            line=getattr(node, "lineno", 0),
            message="prints or logs asset data (it lands in the server log)",
        )
        for node in _own_nodes(fn)
        if _is_print(node) and taint.leaks(node)
    ]
    for inner in _nested(fn):
        found += _print_findings(
            inner, _spread(inner, taint.tainted | _params(inner), dict(taint.helpers))
        )
    return found
