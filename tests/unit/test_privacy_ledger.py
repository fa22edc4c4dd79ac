"""The site's epsilon ledger: reservations, spends, refusals and their messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from datasite.privacy import BudgetError, Ledger
from fedcommon.privacy import PrivacyPlan


def plan(epsilon: float, rounds: int = 2, delta: float = 1e-3) -> PrivacyPlan:
    """A plan whose epsilon grows evenly per round (the ledger does not recompute it)."""
    by_round = tuple(epsilon * k / rounds for k in range(1, rounds + 1))
    return PrivacyPlan(accountant="rdp", noise_multiplier=1.0, max_grad_norm=1.0, batch_size=8,
                       sample_rate=0.1, steps_per_round=10, rounds=rounds, delta=delta,
                       epsilon=epsilon, epsilon_by_round=by_round)  # fmt: skip


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    book = Ledger(tmp_path / "privacy" / "ledger.db")
    book.set_budget("xray", epsilon=3.0, delta=0.01, allow_non_dp=False, actor="admin@h")
    return book


def test_a_second_request_that_would_exceed_the_budget_is_refused(ledger: Ledger) -> None:
    ledger.approve("a" * 32, "xray", plan(2.0), "ada@uni", "fl_a")

    with pytest.raises(BudgetError, match=r"declares epsilon 2\.00 .* remaining epsilon 1\.00"):
        ledger.approve("b" * 32, "xray", plan(2.0), "bob@uni", "fl_b")

    shown = ledger.get("xray")
    assert shown is not None and [r.requester for r in shown.requests] == ["ada@uni"]
    assert shown.remaining == pytest.approx(1.0)


def test_spends_follow_the_declared_rounds_then_stop(ledger: Ledger) -> None:
    ledger.approve("a" * 32, "xray", plan(2.0, rounds=2), "ada@uni", "fl_a")

    first = ledger.charge("a" * 32, "xray", has_plan=True)
    second = ledger.charge("a" * 32, "xray", has_plan=True)
    with pytest.raises(BudgetError, match=r"spent its privacy share.*remaining epsilon 1\.00"):
        ledger.charge("a" * 32, "xray", has_plan=True)

    assert first is not None and second is not None
    assert (first.round, first.epsilon, second.request_spent) == (1, 1.0, 2.0)
    shown = ledger.get("xray")
    assert shown is not None and shown.spent == pytest.approx(2.0)


def test_a_revoked_request_keeps_only_what_it_spent(ledger: Ledger) -> None:
    ledger.approve("a" * 32, "xray", plan(2.0, rounds=2), "ada@uni", "fl_a")
    ledger.charge("a" * 32, "xray", has_plan=True)

    ledger.release("a" * 32)

    shown = ledger.get("xray")
    assert shown is not None and shown.remaining == pytest.approx(2.0)
    with pytest.raises(BudgetError, match="no active share"):
        ledger.charge("a" * 32, "xray", has_plan=True)


def test_non_dp_requests_need_the_admins_permission(ledger: Ledger) -> None:
    with pytest.raises(BudgetError, match="not differentially private"):
        ledger.approve("c" * 32, "xray", None, "ada@uni", "fl_c")
    ledger.set_budget("xray", epsilon=3.0, delta=0.01, allow_non_dp=True, actor="admin@h")

    assert ledger.approve("c" * 32, "xray", None, "ada@uni", "fl_c") is not None
    assert ledger.charge("c" * 32, "xray", has_plan=False) is None


def test_deltas_add_up_against_the_budget_delta(ledger: Ledger) -> None:
    ledger.approve("a" * 32, "xray", plan(0.5, delta=0.006), "ada@uni", "fl_a")

    with pytest.raises(BudgetError, match=r"delta 0\.006.*allows delta 0\.01"):
        ledger.approve("b" * 32, "xray", plan(0.5, delta=0.006), "ada@uni", "fl_b")


def test_a_dataset_without_budget_is_not_tracked(tmp_path: Path) -> None:
    book = Ledger(tmp_path / "ledger.db")

    assert book.approve("a" * 32, "other", plan(50.0), "ada@uni", "fl_a") is None
    assert book.charge("a" * 32, "other", has_plan=True) is None
    assert book.show() == []
