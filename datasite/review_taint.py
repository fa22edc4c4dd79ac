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

from datasite.review import Finding, Severity

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


class _Taint:
    def __init__(self, tainted: set[str]) -> None:
        self.tainted = set(tainted)

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


def leak_findings(fn: ast.FunctionDef, asset_args: set[str]) -> list[Finding]:
    """Findings for each return/yield/print that carries asset-shaped data."""
    taint = _Taint(asset_args)
    nodes = list(ast.walk(fn))
    while any([taint.step(node) for node in nodes]):
        pass
    findings = []
    for node in nodes:
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
        elif _is_print(node) and taint.leaks(node):
            findings.append(
                Finding(
                    severity=Severity.HIGH,
                    category="egress",
                    line=getattr(node, "lineno", 0),
                    message="prints or logs asset data (it lands in the server log)",
                )
            )
    return findings
