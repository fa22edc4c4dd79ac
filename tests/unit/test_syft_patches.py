"""The patch registry says exactly what exists: each patch's proof test is real, the order
is the documented one, and a patch refuses a syft version it was not written for."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from datasite.syftio.server import patches

ROOT = Path(__file__).resolve().parents[2]


def defined_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}


@pytest.mark.parametrize("patch", patches.REGISTRY, ids=lambda p: p.name)
def test_every_patch_names_a_proof_test_that_exists(patch: patches.Patch) -> None:
    file, _, name = patch.proof.partition("::")

    assert (ROOT / file).exists(), patch.proof
    assert name in defined_functions(ROOT / file), patch.proof
    assert patch.pinned == "0.9.5" and patch.why and patch.target


def test_import_then_class_then_worker_patches() -> None:
    stages = [p.stage for p in patches.REGISTRY]

    order = [patches.Stage.IMPORT, patches.Stage.CLASS, patches.Stage.WORKER]

    assert stages == sorted(stages, key=order.index)
    assert len({p.name for p in patches.REGISTRY}) == len(stages)


def test_a_patch_refuses_another_syft_version() -> None:
    patch = patches.REGISTRY[0]
    future = patches.Patch(
        name=patch.name, stage=patch.stage, target=patch.target, why=patch.why,
        proof=patch.proof, apply=patch.apply, pinned="0.9.6",
    )  # fmt: skip

    with pytest.raises(patches.PatchError, match=r"targets syft==0\.9\.6, found 0\.9\.5"):
        patches.check_version(future)
