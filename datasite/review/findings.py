"""The vocabulary of a review: findings, their severity, and the code under review.

Pure Python (``ast``): nothing here imports syft or runs the code under review.

- ``normalized_hash``: sha256 of the code's AST, so whitespace and comments do not change it
  but any change to what runs does (decorator and policy arguments included).
- ``function_stem`` / ``code_diff``: how versions of one function are matched and compared.
"""

from __future__ import annotations

import ast
import difflib
import functools
import hashlib
import re
import textwrap
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel

from datasite.errors import DatasiteError
from fedcommon.exitcodes import DatasiteExit


class ReviewError(DatasiteError):
    exit_code = DatasiteExit.REVIEW


class Severity(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Finding(BaseModel):
    severity: Severity
    category: str
    line: int
    message: str


def parse(code: str) -> ast.Module:
    try:
        return ast.parse(textwrap.dedent(code))
    except SyntaxError as err:
        raise ReviewError(
            f"The request's code does not parse (line {err.lineno}): {err.msg}."
        ) from None


@functools.lru_cache(maxsize=64)
def normalized_hash(code: str) -> str:
    """Same code -> same hash; whitespace/comments do not matter, semantics do. Memoized: the
    audit hashes the same approved code at every call (12 ms of parsing each)."""
    dump = ast.dump(parse(code), annotate_fields=True, include_attributes=False)
    return hashlib.sha256(dump.encode()).hexdigest()


def function_def(tree: ast.Module, name: str | None = None) -> ast.FunctionDef | None:
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    named = [d for d in defs if d.name == name] if name else defs
    return named[0] if named else None


def finding(node: ast.AST, severity: Severity, category: str, message: str) -> Finding:
    return Finding(
        severity=severity, category=category, line=getattr(node, "lineno", 0), message=message
    )


def worst(findings: list[Finding]) -> Literal["high", "medium", "low", "none"]:
    """ "high", "medium", "low" or "none": the headline of a risk report."""
    if not findings:
        return "none"
    top = min((f.severity for f in findings), key=list(Severity).index)
    return "high" if top is Severity.HIGH else ("medium" if top is Severity.MEDIUM else "low")


_VERSION_SUFFIX = re.compile(r"(?:_?v\d+|_\d+)$", re.IGNORECASE)


def function_stem(name: str) -> str:
    """``train_v2`` / ``train_3`` / ``trainv4`` -> ``train``: how versions of one function
    are matched (syft needs a new name per resubmitted version)."""
    stem = _VERSION_SUFFIX.sub("", name)
    return stem or name


def code_diff(old: str, new: str, old_label: str, new_label: str) -> str:
    lines = difflib.unified_diff(
        textwrap.dedent(old).splitlines(keepends=True),
        textwrap.dedent(new).splitlines(keepends=True),
        fromfile=old_label,
        tofile=new_label,
    )
    return "".join(lines)
