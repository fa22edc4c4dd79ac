"""The payload_walk patch: syft's result walk no longer iterates a blob byte by byte, and
still attaches the server's location to every syft object it reaches."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


class CountedBytes(bytes):
    """Bytes that count how often something iterates them."""

    iterations = 0

    def __iter__(self):  # type: ignore[no-untyped-def]
        type(self).iterations += 1
        return super().__iter__()


def test_a_blob_is_not_walked_byte_by_byte_and_objects_still_get_the_location() -> None:
    from datasite.syftio.server import payload, startup

    startup.import_syft()
    from syft.service import service
    from syft.service.action.action_object import ActionObject
    from syft.types.uid import UID

    blob = CountedBytes(b"\x00" * 4096)
    service.attach_attribute_to_syft_object(result=blob, attr_dict={})
    walked_before = CountedBytes.iterations

    payload.skip_payload_walk()
    service.attach_attribute_to_syft_object(result=blob, attr_dict={})
    location = UID()
    inner = ActionObject.from_obj(3)
    service.attach_attribute_to_syft_object(
        result=[b"abc", "text", inner], attr_dict={"syft_server_location": location}
    )

    assert walked_before == 1  # syft 0.9.5 iterates the bytes
    assert CountedBytes.iterations == 1  # not again with the patch
    assert inner.syft_server_location == location  # objects in a result still get it
