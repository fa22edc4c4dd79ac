"""The sealed worker contains hostile code: nothing leaves, nothing lingers, the next call works.

Each test runs researcher-style code in one shared warm sandbox (small limits so that the
bombs end quickly) and then proves the sandbox still answers a benign call.
"""

from __future__ import annotations

import os
import socket
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from datasite.sandbox import bwrap, worker
from datasite.sandbox.runner import Sandbox
from datasite.sandbox.verdict import Execution, Limits, Verdict

pytestmark = pytest.mark.skipif(
    bwrap.probe() is not None, reason="bubblewrap cannot start a sandbox on this machine"
)
LIMITS = Limits(memory_mb=700, cpu_s=6, wall_s=8, processes=16, file_mb=4, reply_mb=1)
BENIGN = "def f(x):\n    return {'total': float(x.sum())}\n"
FORK_BOMB = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
HIDDEN_ROOT = Path(__file__).resolve().parents[2] / ".sandbox-test-data"


@pytest.fixture(scope="module")
def data_dirs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Path]]:
    """Two site data dirs with secrets: one under /tmp, one inside the repository."""
    dirs = [tmp_path_factory.mktemp("site-data"), HIDDEN_ROOT]
    for directory in dirs:
        directory.mkdir(exist_ok=True)
        (directory / "identity.json").write_text('{"signing_key": "SECRET-KEY"}')
    yield dirs
    (HIDDEN_ROOT / "identity.json").unlink()
    HIDDEN_ROOT.rmdir()


@pytest.fixture(scope="module")
def sandbox(data_dirs: list[Path]) -> Iterator[Sandbox]:
    os.environ["DATASITE_ADMIN_PASSWORD"] = "never-seen-in-the-sandbox"
    with Sandbox(LIMITS, hidden=data_dirs, preload=("numpy", "torch")) as box:
        yield box
    os.environ.pop("DATASITE_ADMIN_PASSWORD")


def run(sandbox: Sandbox, body: str, **kwargs: Any) -> Execution:
    code = "def f(**kw):\n" + textwrap.indent(textwrap.dedent(body), "    ")
    return sandbox.run(code, "f", kwargs)


def assert_next_call_works(sandbox: Sandbox) -> None:
    result = sandbox.run(BENIGN, "f", {"x": np.arange(5)})
    assert result.verdict is Verdict.OK and result.value == {"total": 10.0}
    leftovers = run(
        sandbox,
        """
        import os
        procs = [p for p in os.listdir('/proc') if p.isdigit()]
        return {'procs': len(procs), 'tmp': len(os.listdir('/tmp'))}
    """,
    )
    # bwrap's init, the zygote and this call; only this call's scratch dir in /tmp
    assert leftovers.value == {"procs": 3, "tmp": 1}


def test_benign_call_returns_arrays_and_numbers(sandbox: Sandbox) -> None:
    result = run(sandbox, "return {'w': kw['w'] * 2, 'n': 3}", w=np.ones(4, np.float32))

    assert result.verdict is Verdict.OK
    assert result.value["n"] == 3 and result.value["w"].dtype == np.float32
    assert result.wall_s is not None and result.cpu_s is not None and result.peak_rss_bytes


def test_no_network_loopback_listener_receives_nothing(sandbox: Sandbox) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    received: list[bytes] = []

    def accept() -> None:
        try:
            conn, _ = listener.accept()
            received.append(conn.recv(1024))
        except OSError:
            pass

    thread = threading.Thread(target=accept)
    thread.start()
    result = run(
        sandbox,
        f"""
        import socket
        s = socket.create_connection(('127.0.0.1', {port}), timeout=2)
        s.sendall(b'private pixels')
        return {{'sent': 1}}
    """,
    )
    thread.join()
    listener.close()

    assert result.verdict is Verdict.ERROR and result.error == "ConnectionRefusedError"
    assert received == []
    assert_next_call_works(sandbox)


def test_data_dirs_identity_and_system_files_are_invisible(
    sandbox: Sandbox, data_dirs: list[Path]
) -> None:
    paths = [str(d / "identity.json") for d in data_dirs]
    paths += ["/etc/passwd", "/etc/shadow"]
    result = run(
        sandbox,
        f"""
        import os
        seen = {{path: os.path.exists(path) for path in {paths!r}}}
        for pid in [p for p in os.listdir('/proc') if p.isdigit()]:
            try:
                seen[pid] = b'never-seen' in open(f'/proc/{{pid}}/environ', 'rb').read()
            except OSError:
                pass
        parent = {str(data_dirs[1].parent)!r}
        seen['listed'] = os.path.isdir(parent) and {data_dirs[1].name!r} in os.listdir(parent)
        return {{'seen': seen}}
    """,
    )

    assert result.verdict is Verdict.OK
    assert not any(result.value["seen"].values()), result.value


def test_environment_is_empty_but_for_what_python_needs(sandbox: Sandbox) -> None:
    result = run(sandbox, "import os\nreturn {'env': dict(os.environ)}")

    assert set(result.value["env"]) <= {*bwrap.ENVIRONMENT, *bwrap.PASSED_THROUGH, "PWD"}
    assert "DATASITE_ADMIN_PASSWORD" not in result.value["env"]


def test_the_sites_thread_count_reaches_torch_in_the_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three demo sites share two cores with OMP_NUM_THREADS=1: the sealed calls must use one
    thread too (the sandbox's empty environment dropped it, and calls spun on two threads)."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MKL_NUM_THREADS", "1; rm -rf /")  # not a number: not passed
    code = "def f():\n    import os, torch\n    return {'threads': torch.get_num_threads(), 'mkl': os.environ.get('MKL_NUM_THREADS', '')}\n"  # noqa: E501
    with Sandbox(LIMITS, preload=("torch",)) as box:
        result = box.run(code, "f", {})
    assert result.verdict is Verdict.OK
    assert result.value == {"threads": 1, "mkl": ""}


def test_writes_outside_scratch_fail_and_nothing_appears(sandbox: Sandbox, tmp_path: Path) -> None:
    target = tmp_path / "leak.txt"
    repo_target = HIDDEN_ROOT.parent / "leak.txt"
    result = run(
        sandbox,
        f"""
        done = []
        for path in {[str(target), str(repo_target), "/usr/leak.txt", "/opt/fl/datasite/x.py"]!r}:
            try:
                open(path, 'w').write('x')
                done.append(path)
            except OSError:
                pass
        open('inside-scratch.txt', 'w').write('fine')
        return {{'written': len(done)}}
    """,
    )

    assert result.value == {"written": 0}
    assert not target.exists() and not repo_target.exists()
    assert_next_call_works(sandbox)


def test_subprocess_and_os_system_run_sealed_and_die(sandbox: Sandbox) -> None:
    result = run(
        sandbox,
        """
        import os, subprocess
        status = os.system('cat /etc/passwd > /dev/null 2>&1')
        subprocess.Popen(['sleep', '1000'], start_new_session=True)
        return {'status': status}
    """,
    )

    assert result.verdict is Verdict.OK and result.value["status"] != 0
    assert_next_call_works(sandbox)


def test_lingering_thread_and_daemon_do_not_survive_the_call(sandbox: Sandbox) -> None:
    result = run(
        sandbox,
        """
        import os, threading, time
        def spin():
            while True:
                open('/tmp/still-here', 'w').write(str(time.time()))
                time.sleep(0.01)
        threading.Thread(target=spin, daemon=False).start()
        if os.fork() == 0:
            os.setsid()
            spin()
        return {'started': 1}
    """,
    )

    assert result.verdict is Verdict.OK
    assert_next_call_works(sandbox)


@pytest.mark.parametrize(
    ("body", "limits"),
    [
        pytest.param("while True:\n    pass", {"wall_time", "cpu_time"}, id="infinite-loop"),
        pytest.param(
            "blocks = []\nwhile True:\n    blocks.append(bytearray(32 * 2**20))",
            {"memory"},
            id="memory-bomb",
        ),
        pytest.param(
            FORK_BOMB,
            {"processes", "wall_time", "cpu_time"},
            id="fork-bomb",
        ),
        pytest.param(
            "open('big', 'wb').write(b'0' * 8 * 2**20)\nreturn {}", {"file_size"}, id="file-size"
        ),
        pytest.param(
            "import os\nos.kill(os.getppid(), 9)\nreturn {}",
            {"sandbox_died"},
            id="kills-the-zygote",
        ),
    ],
)
def test_limits_kill_the_call_and_the_sandbox_recovers(
    sandbox: Sandbox, body: str, limits: set[str]
) -> None:
    result = run(sandbox, body)

    assert result.verdict is Verdict.KILLED and result.limit in limits, result
    assert_next_call_works(sandbox)


def test_a_fork_bomb_of_a_torch_process_is_killed_at_the_wall_limit() -> None:
    """With the site's process limit (64) and torch preloaded, the zygote's memory scan of
    the bomb's copies (one memory-map lock per read, each held up by forking) took 19-26 s
    and the wall-time kill waited for it: the site gave up on the sandbox (CI, stop 24)."""
    limits = LIMITS.model_copy(update={"processes": 64, "memory_mb": 768})
    with Sandbox(limits, preload=("numpy", "torch")) as box:
        result = run(box, FORK_BOMB)
        assert result.verdict is Verdict.KILLED and result.limit in {"processes", "wall_time"}
        assert result.wall_s is not None and result.wall_s < limits.wall_s + 6, result
        assert_next_call_works(box)


def test_the_memory_scan_stops_at_the_deadline() -> None:
    me = [os.getpid()]
    assert worker._memory_bytes(me, deadline=time.monotonic() + 60) > 0
    assert worker._memory_bytes(me, deadline=time.monotonic() - 1) == 0


def test_oversized_reply_is_refused(sandbox: Sandbox) -> None:
    result = run(sandbox, "import numpy as np\nreturn {'x': np.zeros(2**18)}")

    assert result.verdict is Verdict.REFUSED and result.rule == "over_budget"


def test_unsupported_output_type_is_refused(sandbox: Sandbox) -> None:
    result = run(sandbox, "return {'x': object()}")

    assert result.verdict is Verdict.REFUSED and result.rule == "unsupported_output"


def test_code_cannot_touch_the_site_process_state(sandbox: Sandbox) -> None:
    import datasite.sandbox.wire as site_module

    result = run(
        sandbox,
        """
        import sys
        sys.path.insert(0, '/opt/fl')
        import datasite.sandbox.wire as w
        w.MAGIC = b'HACKED'
        return {'ok': 1}
    """,
    )

    # the child may spoil its own copy of the reply format: the site then refuses the reply
    assert result.verdict is Verdict.REFUSED and result.rule == "malformed_output"
    assert site_module.MAGIC == b"FLSB1\n"
    assert_next_call_works(sandbox)


def test_sandbox_started_from_a_thread_that_ends_keeps_working() -> None:
    """A site warms its sandbox in a background thread and runs calls from request threads;
    bubblewrap's parent-death signal must not kill the zygote when the starting thread ends."""
    box = Sandbox(LIMITS, preload=())
    starter = threading.Thread(target=box.start)
    starter.start()
    starter.join()
    time.sleep(1.0)
    try:
        result = box.run(BENIGN, "f", {"x": np.arange(4)})
        assert result.verdict is Verdict.OK and result.value == {"total": 6.0}
    finally:
        box.close()
