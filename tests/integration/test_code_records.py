"""A function's stored record is deserialized once per version (datasite/syftio/server/
codecache.py): calls read it without deserializing it again, each read gets its own copy, a
changed record is read fresh, and syft's permission filter still decides who reads it."""

from __future__ import annotations

import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.integration.test_call_path import APPROVED_TOTAL, COUNTING, tagged_lines

pytestmark = pytest.mark.integration

RECORDS = (
    COUNTING
    + textwrap.dedent(
        """
        if sys.argv[1] == "patched":
            from datasite.syftio.server import codecache
            codecache.keep_code_records()
        """
    )
    + APPROVED_TOTAL.replace("LIMIT", "5")
    + textwrap.dedent(
        """
        from syft.service.context import AuthedServiceContext
        worker = server.python_server
        codes = worker.services.user_code
        code_id = codes.stash.get_all(worker.verify_key).unwrap()[0].id
        client.code.total(x=asset).get()
        reads.clear()  # the second call: the first one also initialises the policies' state
        value = client.code.total(x=asset).get()
        second = reads[str(code_id)]
        # A copy changed by its reader does not reach the next reader.
        mine = codes.stash.get_by_uid(worker.verify_key, code_id).unwrap()
        mine.raw_code = "tampered"
        intact = int(codes.stash.get_by_uid(worker.verify_key, code_id).unwrap().raw_code
                     != "tampered")
        # A changed record (a new limit, written by the server) is read fresh.
        code = codes.stash.get_by_uid(worker.verify_key, code_id).unwrap()
        code.output_policy = OutputPolicyExecuteCount(limit=7)
        root = AuthedServiceContext(server=worker, credentials=worker.verify_key)
        codes.update_code_state(root, code)
        fresh = codes.stash.get_by_uid(worker.verify_key, code_id).unwrap()
        limit = fresh._get_output_policy().limit
        # Another researcher still cannot read it.
        pw = "pw-12345678"
        admin.register(name="b", email="b@x.org", password=pw, password_verify=pw)
        other = server.login(email="b@x.org", password="pw-12345678")
        hidden = int(codes.stash.get_by_uid(other.verify_key, code_id).is_err())
        print("RECORDS", second, value, intact, limit, hidden)
        """
    )
)


def test_a_function_record_is_deserialized_once_per_version(tmp_path: Path) -> None:
    script = tmp_path / "records.py"
    script.write_text(RECORDS)

    def run(mode: str) -> list[float]:
        return tagged_lines(script, mode, "RECORDS")["RECORDS"]

    with ThreadPoolExecutor(2) as pool:
        plain, patched = pool.map(run, ("plain", "patched"))
    # [record deserializations in the second call, its value, a reader's change kept to its
    # own copy, the limit read after the server changed it, another researcher refused]
    assert plain[0] >= 2 and plain[1:] == [66.0, 1.0, 7.0, 1.0]
    assert patched == [0.0, 66.0, 1.0, 7.0, 1.0]
