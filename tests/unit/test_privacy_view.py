"""`requests show` prints a request's declared privacy cost from the typed request facts."""

from __future__ import annotations

from datasite.review.facts import PrivacyCost, RequestFacts
from datasite.review.view import privacy_line

FACTS = {
    "request_id": "ab" * 16, "requester": "r@x", "request_time": "t", "status": "pending",
    "code_id": "c", "function": "fl_x", "code": "def fl_x(): pass", "code_hash": "h",
    "syft_code_hash": "s" * 32, "submitted_by": "r@x", "bindings": {},
    "policies": {"input_policy": "MixedInputPolicy", "output_policy": "Count"},
    "risk": {"worst": "none"},
}  # fmt: skip


def test_the_served_privacy_cost_is_read_by_attribute() -> None:
    cost = {"dataset": "xr", "declared_epsilon": 2.001, "delta": 1e-5, "rounds": 4,
            "budget": 3.0, "remaining": 0.999}  # fmt: skip
    facts = RequestFacts.model_validate({**FACTS, "privacy": cost})

    assert isinstance(facts.privacy, PrivacyCost)
    line = privacy_line(facts.privacy)
    assert "declares epsilon 2.01" in line and "4 training rounds" in line
    assert "remaining epsilon 0.99 of budget 3" in line


def test_a_non_dp_request_on_a_budgeted_dataset_says_it_is_refused() -> None:
    facts = RequestFacts.model_validate(
        {**FACTS, "privacy": {"dataset": "xr", "budget": 8.0, "remaining": 8.0}}
    )
    assert facts.privacy is not None
    assert "NOT differentially private on xr" in privacy_line(facts.privacy)
    assert "REFUSED at approval" in privacy_line(facts.privacy)
    assert RequestFacts.model_validate(FACTS).privacy is None
