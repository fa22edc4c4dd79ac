"""policy_once (datasite/syftio/server/callpath.py): a function's stored input policy is
deserialized once per process and every call works on its own copy."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from datasite.syftio.server import callpath


def test_each_call_gets_its_own_copy_of_the_policy_deserialized_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(callpath, "_built", callpath.collections.OrderedDict())
    built: list[bytes] = []

    def build(code: Any) -> Any:
        built.append(code.input_policy_state)
        return SimpleNamespace(rules={"config": {"lr": 0.1}}) if code.input_policy_state else None

    code = SimpleNamespace(id="f", input_policy_state=b"v1")
    first = callpath._copy_of_built(("f", b"v1"), build, code)
    first.rules["config"]["lr"] = 99.0  # what one call does to its policy
    second = callpath._copy_of_built(("f", b"v1"), build, code)
    assert built == [b"v1"] and second.rules["config"]["lr"] == 0.1

    changed = SimpleNamespace(id="f", input_policy_state=b"v2")  # new bytes: read again
    callpath._copy_of_built(("f", b"v2"), build, changed)
    assert built == [b"v1", b"v2"]

    unreadable = SimpleNamespace(id="g", input_policy_state=b"")
    assert callpath._copy_of_built(("g", b"x"), build, unreadable) is None
    assert ("g", b"x") not in callpath._built  # nothing kept for a policy syft cannot read


def test_only_the_most_recently_used_policies_stay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(callpath, "_built", callpath.collections.OrderedDict())
    for n in range(callpath.BUILT_KEPT + 5):
        code = SimpleNamespace(id=n, input_policy_state=b"p")
        callpath._copy_of_built((n, b"p"), lambda c: {"n": c.id}, code)
    assert len(callpath._built) == callpath.BUILT_KEPT
    assert (0, b"p") not in callpath._built and (callpath.BUILT_KEPT + 4, b"p") in callpath._built
