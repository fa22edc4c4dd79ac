"""The egress check follows helpers defined inside the reviewed function."""

from __future__ import annotations

import textwrap

import pytest

from datasite.review.risk import Severity, risk_report
from fedcommon.code_env import DEFAULT_ALLOWED
from researcher.task import load_task, site_source

ASSETS = {"images", "labels", "val_images", "val_labels"}


def high(code: str, assets: set[str] | None = None) -> list[int]:
    findings = risk_report(textwrap.dedent(code), assets or {"images"})
    return [f.line for f in findings if f.severity is Severity.HIGH]


def test_the_shipped_builtin_task_has_no_high_risk_and_stays_in_the_environment() -> None:
    code = site_source(load_task(), "fl_unit_0", sorted(ASSETS))

    findings = risk_report(code, ASSETS, frozenset(DEFAULT_ALLOWED))

    assert [f for f in findings if f.severity is Severity.HIGH] == []


def test_an_import_outside_the_environment_is_a_high_finding() -> None:
    code = "def f(images):\n    import numpy\n    from scipy import ndimage\n    return 1\n"

    findings = risk_report(code, {"images"}, frozenset(DEFAULT_ALLOWED))

    assert [(f.line, f.category) for f in findings if f.severity is Severity.HIGH] == [
        (3, "environment")
    ]


@pytest.mark.parametrize(
    "code",
    [
        pytest.param(
            """
        def f(images):
            def passthrough(x):
                return x * 1
            return {"out": passthrough(images)}
        """,
            id="helper-passes-asset-through",
        ),
        pytest.param(
            """
        def f(images):
            def sneaky():
                return images[:10]
            return sneaky()
        """,
            id="helper-returns-closure-asset",
        ),
        pytest.param(
            """
        def f(images):
            rows = images.reshape(len(images), -1)
            return rows if len(rows) else None
        """,
            id="conditional-value-is-asset",
        ),
        pytest.param(
            """
        def f(images):
            def log_it(x):
                print(x)
            log_it(images)
            return 1
        """,
            id="helper-prints-asset",
        ),
    ],
)
def test_leaks_through_helpers_are_flagged(code: str) -> None:
    assert high(code) != []


@pytest.mark.parametrize(
    "code",
    [
        pytest.param(
            """
        def f(images):
            def score(x):
                return float(x.mean())
            return {"mean": score(images)}
        """,
            id="helper-reduces",
        ),
        pytest.param(
            """
        def f(images):
            return float(images.mean()) if len(images) else 0.0
        """,
            id="condition-is-not-the-value",
        ),
    ],
)
def test_reductions_through_helpers_are_not_flagged(code: str) -> None:
    assert high(code) == []


def _nested_helpers(depth: int) -> str:
    body = "return a + b + c"
    for level in range(depth, 0, -1):
        inner = textwrap.indent(body, "    ")
        body = f"def h{level}(a, b, c):\n{inner}\nreturn h{level}(a, b, c)"
    body = body.replace("return h1(a, b, c)", "return h1(images, labels, 1)")
    return "def task(images, labels):\n" + textwrap.indent(body, "    ")


def test_deeply_nested_helpers_are_followed_without_repeating_the_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every request listing reviews every request: the taint walk summarises each helper once
    per taint instead of once per path (four levels took 5349 walks, now under 600)."""
    from datasite.review import taint

    walks = {"count": 0}
    original = taint._spread

    def counted(*args: object) -> object:
        walks["count"] += 1
        return original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(taint, "_spread", counted)
    assert high(_nested_helpers(4), {"images", "labels"}) == [10]
    assert walks["count"] < 600
