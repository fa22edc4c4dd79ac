"""The site's asset index (datasite/syftio/server/requests.py::asset_index), which every
approved call reads three times (audit record, privacy charge, pruner): built from the
deserialized datasets only when their stored rows changed, and always what the store holds."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import syft as sy
    from syft.service.dataset.dataset import Dataset
    from syft.store.db.stash import ObjectStash
    from datasite.syftio.server.requests import asset_index
    reads = []
    original = ObjectStash.row_as_obj
    def row_as_obj(self, row):
        obj = original(self, row)
        if isinstance(obj, Dataset):
            reads.append(obj.name)
        return obj
    ObjectStash.row_as_obj = row_as_obj
    server = sy.orchestra.launch(name="asset-index", reset=True)
    admin = server.login(email="info@openmined.org", password="changethis")
    worker = server.python_server
    def upload(name):
        data = np.arange(4, dtype=np.float32)
        asset = sy.Asset(name="x", data=data, mock=data * 0)
        admin.upload_dataset(sy.Dataset(name=name, asset_list=[asset]))
    def look(tag):
        reads.clear()
        names = sorted(v["name"] for v in asset_index(worker).values())
        print(tag, len(reads), ",".join(names))
    for name in ("a", "b", "c"):
        upload(name)
    look("FIRST")
    look("AGAIN")
    index = asset_index(worker)
    index.clear()  # a caller changing its copy changes nothing kept
    look("COPY")
    upload("d")
    look("NEW")
    look("AGAIN")
    admin.api.services.dataset.delete(uid=admin.datasets["b"].id)
    look("DELETED")
    """
)


def test_the_asset_index_is_rebuilt_only_when_the_datasets_change(tmp_path: Path) -> None:
    script = tmp_path / "index.py"
    script.write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300
    )
    tags = ("FIRST", "AGAIN", "COPY", "NEW", "DELETED")
    lines = [x.split() for x in done.stdout.splitlines() if x.startswith(tags)]
    assert len(lines) == 6, done.stdout[-2000:] + done.stderr[-2000:]
    # [tag, datasets deserialized, the assets the index names]
    assert lines[0] == ["FIRST", "3", "a/x,b/x,c/x"]
    assert lines[1] == ["AGAIN", "0", "a/x,b/x,c/x"]  # syft 0.9.5 store: 3 each time
    assert lines[2] == ["COPY", "0", "a/x,b/x,c/x"]
    assert lines[3] == ["NEW", "4", "a/x,b/x,c/x,d/x"]  # an upload shows at once
    assert lines[4] == ["AGAIN", "0", "a/x,b/x,c/x,d/x"]
    assert lines[5][0] == "DELETED" and "b/x" not in lines[5][2]
