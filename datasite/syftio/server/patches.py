"""Every change this platform makes to syft 0.9.5, in one registry, applied by one install().

What a patch is: :mod:`datasite.syftio.server.patchkit`; the call-path patches of issue 14
are listed in :mod:`datasite.syftio.server.callpath_patches` and take their place here.

Each :class:`Patch` names what it changes (``target``), why (a measured defect or a platform
need), the syft version it is pinned to, and the test that fails without it (``proof``,
checked to exist by tests/unit/test_syft_patches.py). :func:`install` applies them in
``REGISTRY`` order, which matters where two patches touch the same method:

0. Import patches, before syft is first imported (how syft loads): ``fast_start``.
1. Class patches, before the Datasite object exists (they change syft's classes and module
   functions for the whole process): ``array_repr``, ``payload_walk``, ``execution_cap``,
   ``role_registry``, ``blob_refs``, ``empty_pointers``, ``sealed_execution``, ``single_run``,
   ``result_unstored``, ``result_inline``, ``assets_kept``, ``read_once``, ``args_inline``,
   ``roles_once``,
   ``state_if_changed``, ``policy_once``, ``history_counted``, ``stored_not_reread``,
   ``status_once``. ``read_once`` wraps the store read that ``assets_kept`` replaced (within
   one call, then across calls). ``sealed_execution`` replaces ``execute_byte_code`` before
   ``single_run`` wraps it: the single-run wrapper skips the mock-twin run, and the one run
   left goes to the sealed worker. ``read_once`` wraps ``_user_code_execute`` outside
   ``single_run``.
2. Worker patches, on the one Datasite object's service instances, after it exists:
   ``audit_hooks``. Instance attributes shadow the class, so the audit wrapper of
   ``ActionService._user_code_execute`` calls the class-level ``single_run`` wrapper inside it:
   one audited execution runs the code once. Then ``prune_results``, which wraps
   ``user_code._call`` outside the audit wrapper: the audit records an execution's output
   hashes before any earlier output is deleted. Then ``privacy_budget``, which wraps the audit
   wrappers of ``request.apply/undo`` and ``action._user_code_execute`` (it comes last): its
   refusals happen before syft or the audit hook act.

Every patch checks the installed syft version before touching it and refuses any other:
the patched private functions may have changed.

Removed once, then back: ``payload_walk`` (short-circuiting
``attach_attribute_to_syft_object`` for bytes and str) had no measurable effect on the HTTP
result path; its cost is on the server's *asset load* path (each blob read at each call),
which its own test now proves (payload.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from datasite.syftio.server import audit_hooks, fixes, payload, prune, sealed, startup, warmup
from datasite.syftio.server.callpath_patches import CALL_PATH
from datasite.syftio.server.patchkit import SYFT_VERSION as SYFT_VERSION
from datasite.syftio.server.patchkit import Patch as Patch
from datasite.syftio.server.patchkit import PatchError as PatchError
from datasite.syftio.server.patchkit import Runtime as Runtime
from datasite.syftio.server.patchkit import Stage as Stage
from datasite.syftio.server.patchkit import check_version as check_version

log = logging.getLogger(__name__)
FIXES_TEST = "tests/integration/test_syft_fixes.py"


def _install_pruner(runtime: Runtime) -> None:
    prune.install(runtime.worker)


def _install_audit_hooks(runtime: Runtime) -> None:
    runtime.audit = audit_hooks.install(runtime.worker, runtime.audit_dir)


def _install_privacy_budget(runtime: Runtime) -> None:
    from datasite.privacy.ledger import ledger_path
    from datasite.syftio.server import privacy

    if runtime.audit is None:
        raise PatchError("privacy_budget needs the audit hooks installed first.")
    # audit_dir is DATA_DIR/audit (SiteSettings); the ledger lives at DATA_DIR/privacy.
    privacy.install(runtime.worker, ledger_path(runtime.audit_dir.parent), runtime.audit)


REGISTRY: tuple[Patch, ...] = (
    Patch(
        name="fast_start",
        stage=Stage.IMPORT,
        target="import syft: syft/serde/third_party.py (torch.Tensor serde), "
        "syft/util/table.py (import itables)",
        why="import syft is most of launch-to-ready; torch and itables (with pandas' Styler and "
        "matplotlib) were ~30% of its CPU and serve nothing a starting server does: torch "
        "loads once the server is up (its serde registered then), itables on first use.",
        proof="tests/integration/test_fast_start.py::"
        "test_tensors_round_trip_after_a_torch_free_start",
        apply=lambda _: startup.import_syft(),
    ),
    Patch(
        name="array_repr",
        stage=Stage.CLASS,
        target="numpy print options of the datasite process, read by "
        "syft.service.action.action_object.ActionObject.__check_action_data",
        why="syft renders repr/str of every ActionObject's data on each validation and then "
        "truncates it; arrays under 1000 elements were printed in full (0.22 s of ~1.3 s of "
        "server work per training call, py-spy). Arrays above 8 elements print as their "
        "shape and dtype (a 30-layer weights dict: 24 ms -> 0.5 ms per rendering; above 64, "
        "biases and norm layers still cost 77 of 445 samples of a site's CPU per round).",
        proof="tests/integration/test_fast_start.py::test_stored_data_reprs_are_summarized",
        apply=lambda _: startup.cheap_array_reprs(),
    ),
    Patch(  # issue 14 (round overhead): a new, self-contained class patch
        name="payload_walk",
        stage=Stage.CLASS,
        target="syft.types.syft_object.attach_attribute_to_syft_object (and its import in "
        "syft.service.service), run on every service result",
        why="bytes and str are Sequences, so every blob read (each asset bound to a call, at "
        "every call) was iterated byte by byte: 247 of 809 py-spy samples of a demo training "
        "call's _user_code_execute. Their elements are never syft objects: return at once.",
        proof="tests/integration/test_payload_walk.py::"
        "test_a_blob_is_not_walked_byte_by_byte_and_objects_still_get_the_location",
        apply=lambda _: payload.skip_payload_walk(),
    ),
    Patch(
        name="execution_cap",
        stage=Stage.CLASS,
        target="syft.service.code.user_code_service.UserCodeService.is_execution_allowed",
        why="PySyft #9391: a False output_policy.is_valid() is ignored, so an approval for N "
        "executions allows any number; False becomes INVALID_OUTPUT_POLICY.",
        proof=f"{FIXES_TEST}::test_execution_cap_is_enforced_only_with_the_fix",
        apply=lambda _: fixes.fix_execution_cap(),
    ),
    Patch(
        name="role_registry",
        stage=Stage.CLASS,
        target="syft.service.service.UserServiceConfigRegistry.from_role",
        why="No read-only role: GUEST (our compliance role) may submit code; GUEST keeps only "
        "GUEST_READ_ONLY_PATHS, and code.store_execution_output (forged history) is admin-only.",
        proof=f"{FIXES_TEST}::test_compliance_guest_is_read_only_only_with_the_fix",
        apply=lambda _: fixes.fix_role_registry(),
    ),
    Patch(
        name="blob_refs",
        stage=Stage.CLASS,
        target="syft.service.action.action_service.ActionService.set",
        why="action.set stored any blob entry id an object named: a researcher could point an "
        "argument at another user's stored data and have an approved function read it for "
        "them (and a TwinObject's mock entry was made world-readable): refused unless the "
        "sender can read that entry.",
        proof=f"{FIXES_TEST}::test_an_object_naming_someone_elses_stored_data_is_refused",
        apply=lambda _: fixes.fix_blob_references(),
    ),
    Patch(
        name="empty_pointers",
        stage=Stage.CLASS,
        target="syft.service.action.action_store.ActionObjectStash.get_pointer",
        why="action.get_pointer of an object the caller may not read returned an empty copy "
        "that still named the object's blob entry (where its data are stored): the copy now "
        "names none.",
        proof=f"{FIXES_TEST}::test_an_object_naming_someone_elses_stored_data_is_refused",
        apply=lambda _: fixes.fix_empty_pointers(),
    ),
    Patch(
        name="sealed_execution",
        stage=Stage.CLASS,
        target="syft.service.action.action_service.execute_byte_code",
        why="PYSEC-2026-546 / CVE-2026-31220: syft execs approved code inside the server, with "
        "its network, files, environment and memory. It runs in a bubblewrap sandbox instead "
        "(no network, no data dir, limits, JSON + .npy only), and every output passes the "
        "egress policy and the copy check before release.",
        proof="tests/integration/test_containment.py::"
        "test_hostile_code_escapes_only_without_the_sealed_worker",
        apply=lambda _: sealed.install(),
    ),
    Patch(
        name="single_run",
        stage=Stage.CLASS,
        target="syft.service.action.action_service.ActionService._user_code_execute and "
        "syft.service.action.action_service.execute_byte_code",
        why="Every approved call also runs on the mocks to build a mock result: a training "
        "round costs two. The caller reads the private result, so the mock run is skipped.",
        proof=f"{FIXES_TEST}::test_execution_cap_is_enforced_only_with_the_fix",
        apply=lambda _: fixes.fix_single_run(),
    ),
    *CALL_PATH,
    Patch(
        name="audit_hooks",
        stage=Stage.WORKER,
        target="services request.submit/apply/undo, action._user_code_execute, "
        "user_code._call, user.create/update/delete (instance attributes)",
        why="syft's records are no audit trail (approver never stored, wrong times, forgeable "
        "output history): decisions and executions go to our hash-chained log.",
        proof="tests/integration/test_review_audit.py::"
        "test_review_approve_and_executions_are_audited",
        apply=_install_audit_hooks,
    ),
    Patch(
        name="prune_results",
        stage=Stage.WORKER,
        target="service user_code._call (instance attribute): deletes, via action.delete, the "
        "result and uploaded-argument objects of a function's earlier executions",
        why="syft keeps every call's result and arguments (two models per site per training "
        "call): the store grew every round. The audit log keeps each output's hash and "
        "shapes; syft's ExecutionOutput records stay for the execution cap.",
        proof="tests/integration/test_store_prune.py::"
        "test_earlier_results_are_pruned_and_the_cap_still_holds",
        apply=lambda runtime: _install_pruner(runtime),
    ),
    Patch(
        name="privacy_budget",
        stage=Stage.WORKER,
        target="services request.apply/undo, action._user_code_execute (instance attributes, "
        "outside the audit hooks)",
        why="The hospital owns each dataset's epsilon budget (issue 13): approval reserves a "
        "request's declared DP cost after recomputing it, each training execution is charged "
        "before it runs, non-DP requests on a budgeted dataset are refused.",
        proof="tests/integration/test_privacy.py::"
        "test_a_budget_of_3_allows_one_request_costing_2_and_refuses_a_second",
        apply=_install_privacy_budget,
    ),
    Patch(
        name="assets_warm",
        stage=Stage.WORKER,
        target="service request.apply (instance attribute, outermost): after an approval, a "
        "background read of the function's bound assets into the kept-asset store",
        why="An approved function's first call read its assets from the store and the blob "
        "store inside the first training round (a cost growing with the dataset): they are "
        "loaded once the admin approves (issue 14).",
        proof="tests/integration/test_warmup.py::"
        "test_the_first_call_finds_its_assets_loaded_at_approval",
        apply=lambda runtime: warmup.install(runtime.worker),
    ),
)


def _apply(patch: Patch, runtime: Runtime, skip: frozenset[str]) -> None:
    if patch.name in skip:
        log.warning("syft patch %s SKIPPED (DATASITE_UNSAFE_SKIP_FIXES)", patch.name)
        return
    check_version(patch)
    patch.apply(runtime)
    runtime.applied.append(patch.name)
    log.info("applied syft %s patch: %s", patch.pinned, patch.name)


_class_patches_done: set[str] = set()


def install(
    make_worker: Callable[[], Any], audit_dir: Path, skip: frozenset[str] = frozenset()
) -> Runtime:
    """Apply import and class patches (once per process), build the worker, apply worker
    patches.

    ``skip`` names patches to leave out; only the tests and benchmarks that prove a patch is
    needed use it. The audit hooks are never skipped.
    """
    runtime = Runtime(audit_dir=audit_dir)
    for patch in (p for p in REGISTRY if p.stage in (Stage.IMPORT, Stage.CLASS)):
        if patch.name not in _class_patches_done:
            _apply(patch, runtime, skip)
            _class_patches_done.add(patch.name)
    runtime.worker = make_worker()
    for patch in (p for p in REGISTRY if p.stage is Stage.WORKER):
        _apply(patch, runtime, skip - {"audit_hooks"})
    return runtime
