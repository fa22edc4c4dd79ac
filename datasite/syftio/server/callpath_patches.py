"""The call-path patches of issue 14 (round overhead), in the order they apply: each removes
a cost syft 0.9.5 adds to every approved call (datasite/syftio/server/callpath.py and the
modules named below). Part of the one registry, :data:`datasite.syftio.server.patches.REGISTRY`.
"""

from __future__ import annotations

from datasite.syftio.server import assetcache, callpath, codecache, history, replyonly
from datasite.syftio.server.patchkit import Patch, Stage

CALL_PATH_TEST = "tests/integration/test_call_path.py"

CALL_PATH: tuple[Patch, ...] = (
    Patch(  # issue 14 (round overhead); applied first: result_inline and args_inline wrap it
        name="result_unstored",
        stage=Stage.CLASS,
        target="syft.service.action.action_service.ActionService.set_result_to_store during "
        "syft.service.code.user_code_service.UserCodeService._call",
        why="Every call's result was stored (blob file, row, permissions), read back for the "
        "reply and deleted a call later: a call that carried its arguments (the researcher "
        "client's protocol) gets its result in its reply only, nothing stored; syft's own "
        "client, errors, admins and jobs keep syft's path (replyonly.py).",
        proof="tests/integration/test_reply_only.py::test_a_carried_call_leaves_no_result_in_the_store",
        apply=lambda _: replyonly.install(),
    ),
    Patch(  # issue 14 (round overhead)
        name="result_inline",
        stage=Stage.CLASS,
        target="syft.service.code.user_code_service.UserCodeService._call",
        why="A researcher's result came back as an empty pointer and the client fetched it "
        "with two more requests (action.get, has_storage_permission): the call now answers "
        "that action.get itself, with the caller's credentials (syft's READ check decides).",
        proof=f"{CALL_PATH_TEST}::test_a_call_returns_its_result_without_a_second_request",
        apply=lambda _: callpath.return_readable_results(),
    ),
    Patch(  # issue 14 (round overhead); applied before read_once, which wraps it
        name="assets_kept",
        stage=Stage.CLASS,
        target="syft.service.action.action_store.ActionObjectStash.get (the server's own reads)",
        why="Every call deserialized each bound asset again and reloaded its data from the "
        "blob store (a cost growing with the dataset, paid every round): the server's reads of "
        "an asset are kept between calls, within DATASITE_ASSET_CACHE_MB, and re-read as soon "
        "as the stored row changes.",
        proof=f"{CALL_PATH_TEST}::test_an_asset_is_kept_between_calls",
        apply=lambda _: assetcache.keep_assets(assetcache.budget_mb()),
    ),
    Patch(  # issue 14 (round overhead)
        name="read_once",
        stage=Stage.CLASS,
        target="syft.service.action.action_store.ActionObjectStash.get during "
        "syft.service.action.action_service.ActionService._user_code_execute",
        why="Each bound asset was read from the store and deserialized three times per call "
        "(flatten_action_arg, the input policy's is_valid and filter_kwargs), its blob "
        "reloaded each time: the server's own reads during one execution are kept.",
        proof=f"{CALL_PATH_TEST}::test_each_object_and_role_is_read_once_per_call",
        apply=lambda _: callpath.read_each_object_once(),
    ),
    Patch(  # issue 14 (round overhead)
        name="args_inline",
        stage=Stage.CLASS,
        target="syft.service.code.user_code_service.UserCodeService._call",
        why="syft's client stored each argument of a call with a request of its own "
        "(action.set, echoing the value back) before the call: a call may now carry arguments "
        "the store does not hold (roles that may call action.set only). Plain values are used "
        "for that call and never stored (owned by the caller for the input policy); anything "
        "else is stored first by the caller's own action.set; a link to another stored object "
        "is refused; ids already stored are left to syft (datasite/syftio/server/carried.py).",
        proof=f"{CALL_PATH_TEST}::test_a_call_carries_its_own_arguments",
        apply=lambda _: callpath.store_inline_arguments(),
    ),
    Patch(  # issue 14 (round overhead)
        name="roles_once",
        stage=Stage.CLASS,
        target="syft.store.db.stash.ObjectStash.get_role during "
        "syft.service.code.user_code_service.UserCodeService._call",
        why="Every store access looked up the caller's role by reading and deserializing "
        "their user record (dozens of times per call); during one code call (which changes "
        "no user) each account's role is looked up once.",
        proof=f"{CALL_PATH_TEST}::test_each_object_and_role_is_read_once_per_call",
        apply=lambda _: callpath.look_up_roles_once(),
    ),
    Patch(  # issue 14 (round overhead)
        name="state_if_changed",
        stage=Stage.CLASS,
        target="syft.service.code.user_code_service.UserCodeService.update_code_state",
        why="After every execution syft rewrote the whole UserCode (serialize, check, update, "
        "read back) to save an output-policy state that a counting policy never changes: the "
        "record is written only when it differs from the stored row.",
        proof=f"{CALL_PATH_TEST}::test_each_object_and_role_is_read_once_per_call",
        apply=lambda _: callpath.write_code_state_if_changed(),
    ),
    Patch(  # issue 14 (round overhead)
        name="policy_once",
        stage=Stage.CLASS,
        target="syft.service.code.user_code.UserCode._get_input_policy during "
        "syft.service.code.user_code_service.UserCodeService._call",
        why="Each call deserialized the function's input policy twice (in _call and in "
        "_user_code_execute) from the same stored bytes (22 ms each for ours): the bytes are "
        "deserialized once per process and each call gets its own copy.",
        proof=f"{CALL_PATH_TEST}::test_each_object_and_role_is_read_once_per_call",
        apply=lambda _: callpath.build_input_policy_once(),
    ),
    Patch(  # issue 14 (round overhead)
        name="history_counted",
        stage=Stage.CLASS,
        target="syft.service.policy.policy.OutputPolicyExecuteCount.count (server side), "
        "syft.service.code.user_code.UserCode.get_output_history",
        why="Each call read every earlier execution record of the function twice, each one "
        "deserialized (growing with the rounds): the cap counts the rows without "
        "deserializing them, and _call's read of the history (used only when a call is "
        "refused) happens when it is first looked at.",
        proof=f"{CALL_PATH_TEST}::test_each_object_and_role_is_read_once_per_call",
        apply=lambda _: history.install(),
    ),
    Patch(  # issue 14 (round overhead)
        name="stored_not_reread",
        stage=Stage.CLASS,
        target="syft.store.db.stash.ObjectStash.set (its read-back through get_by_uid)",
        why="Each object stored (a call's arguments, result, execution record) was read back "
        "after its insert, the arguments a call carried again by its execution: set returns "
        "the object its check read, and that call's reads of its arguments get it too "
        "(tests/integration/test_call_reuse.py).",
        proof=f"{CALL_PATH_TEST}::test_a_stored_object_is_not_read_back_and_the_approval_once",
        apply=lambda _: callpath.return_checked_object(),
    ),
    Patch(  # issue 14 (round overhead)
        name="code_kept",
        stage=Stage.CLASS,
        target="syft.service.code.user_code_stash.UserCodeStash.row_as_obj",
        why="Every call deserialized the function's whole stored record (source, signature, "
        "policies) each time it read it: the store is still queried with syft's permission "
        "filter, and a record whose stored fields are unchanged is handed out as a deep copy "
        "of the one deserialized before (a changed record is read fresh).",
        proof="tests/integration/test_code_records.py::"
        "test_a_function_record_is_deserialized_once_per_version",
        apply=lambda _: codecache.keep_code_records(),
    ),
    Patch(  # issue 14 (round overhead)
        name="status_once",
        stage=Stage.CLASS,
        target="syft.service.code.user_code.UserCode.get_status during UserCodeService._call",
        why="Each call read the function's approval record eight times: once per call now.",
        proof=f"{CALL_PATH_TEST}::test_a_stored_object_is_not_read_back_and_the_approval_once",
        apply=lambda _: callpath.read_status_once(),
    ),
)
