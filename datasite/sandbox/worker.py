"""The zygote: runs inside bubblewrap, imports numpy/torch once, forks one child per call.

Started by ``datasite.sandbox.runner`` as ``python -I ... worker REQ_FD REPLY_FD MODULES``.
Per request frame (``meta``: code, function, limits; ``value``: the call's kwargs) it forks a
child that runs the function in a fresh scratch dir with rlimits, enforces wall time and
memory (RSS polling) itself, then kills every other process in the sandbox (``kill(-1)``:
nothing lingers), wipes the scratch dir and answers with the verdict, resource use and the
child's reply frame (forwarded as bytes: the site decodes it strictly).

Imports only the standard library, numpy and ``datasite.sandbox.wire``.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import os
import resource
import shutil
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from datasite.sandbox import wire

POLL_S = 0.02
REPLY_FILE = "reply.bin"
STDOUT_FILE = "stdout.txt"
PR_SET_DUMPABLE = 4
PAGE = os.sysconf("SC_PAGE_SIZE")
WRITABLE = ("/tmp", "/dev/shm", "/dev/mqueue")


def _dumpable(flag: int) -> None:
    """0 in the zygote: calls (same uid) cannot ptrace it or open its fds through /proc.
    1 in a call's child, so that the zygote may read its memory use (/proc/PID/smaps_rollup)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, flag, 0, 0, 0)


def _set_limits(limits: dict[str, int]) -> None:
    cpu, size = limits["cpu_s"], limits["file_bytes"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    nproc = limits["processes"] + _tasks_in_sandbox()
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    if limits.get("address_space_bytes"):
        space = limits["address_space_bytes"]
        resource.setrlimit(resource.RLIMIT_AS, (space, space))
    with contextlib.suppress(OSError), open("/proc/self/oom_score_adj", "w") as handle:
        handle.write("1000")  # the kernel's OOM killer takes a call before the zygote


def _tasks_in_sandbox() -> int:
    return sum(len(os.listdir(f"/proc/{p}/task")) for p in _other_pids(include_self=True))


def _other_pids(include_self: bool = False) -> list[int]:
    """Live processes in the sandbox other than bwrap's init (1) and, by default, us."""
    skip = {1} if include_self else {1, os.getpid()}
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in skip:
            continue
        try:
            state = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in ("Z", "X"):
            pids.append(int(name))
    return pids


def _rss_bytes(pids: list[int]) -> int:
    """Resident set size of ``pids`` (cheap: /proc/PID/statm). Shared pages count once per
    process, so this overstates; ``_memory_bytes`` is the exact figure."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    return total


def _memory_bytes(pids: list[int], deadline: float) -> int:
    """Proportional set size of ``pids``: pages shared with the zygote or each other count
    once in total (plain RSS would count the zygote's torch pages once per process).

    Stops at ``deadline`` with what it has summed: each read takes the process's memory-map
    lock, and during a fork bomb (measured: ~130 forking copies of a torch process) one scan
    took 19-26 s, which delayed the wall-time kill by as long."""
    total = 0
    for pid in pids:
        if time.monotonic() > deadline:
            break
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
                    break
    return total


def _over_memory(limit: int, deadline: float) -> bool:
    """Whether the call's processes use more than ``limit`` (PSS only when RSS says maybe)."""
    pids = _other_pids()
    return _rss_bytes(pids) > limit and _memory_bytes(pids, deadline) > limit


def _kill_everything_else() -> None:
    """SIGKILL every process in the sandbox but init and us, until none is left."""
    for _ in range(200):
        with contextlib.suppress(ProcessLookupError):
            os.kill(-1, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        if not _other_pids():
            return
        time.sleep(0.005)


def _child(meta: dict[str, Any], kwargs: dict[str, Any], scratch: Path) -> None:
    """Runs in the forked child; never returns."""
    code = 1
    try:
        os.setsid()
        _dumpable(1)
        null = os.open(os.devnull, os.O_RDONLY)
        out = os.open(scratch / STDOUT_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.closerange(3, 1024)
        os.chdir(scratch)
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)  # Python ignores it: die at the limit
        _set_limits(meta["limits"])
        namespace: dict[str, Any] = {"__name__": "request", "__builtins__": __builtins__}
        exec(compile(meta["code"], "request.py", "exec"), namespace)
        result = namespace[meta["function"]](**kwargs)
        frame = wire.encode(result, {"ok": True})
        code = 0
    except BaseException as err:  # noqa: BLE001 - any failure of the code is the result
        traceback.print_exc()
        detail = f"{type(err).__name__}: {str(err)[:300]}"
        frame = wire.encode(None, {"ok": False, "error": type(err).__name__, "detail": detail})
    with contextlib.suppress(BaseException):
        (scratch / (REPLY_FILE + ".part")).write_bytes(frame)
        os.rename(scratch / (REPLY_FILE + ".part"), scratch / REPLY_FILE)
    os._exit(code)


def _watch(pid: int, limits: dict[str, int], started: float) -> tuple[int, Any, str | None]:
    """Wait for the child; kill it at the wall-time or memory limit. (status, rusage, limit).

    The wall-time check is cheap and runs every poll; the memory check reads /proc per process
    and backs off to at most a fifth of the zygote's time (a fork bomb must not starve it)."""
    next_memory, deadline = started, started + limits["wall_s"]
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return status, usage, None
        now = time.monotonic()
        over = "wall_time" if now > deadline else None
        if over is None and now >= next_memory:
            over = "memory" if _over_memory(limits["memory_bytes"], deadline) else None
            next_memory = time.monotonic() + max(POLL_S, 4 * (time.monotonic() - now))
        if over:
            _kill_everything_else()
            _, status, usage = os.wait4(pid, 0) if _alive(pid) else (0, status, usage)
            return status, usage, over
        time.sleep(POLL_S)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _limit_from_status(status: int, usage: Any, limits: dict[str, int]) -> str | None:
    if not os.WIFSIGNALED(status):
        return None
    sig = os.WTERMSIG(status)
    cpu = usage.ru_utime + usage.ru_stime if usage else 0.0
    if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= limits["cpu_s"]):
        return "cpu_time"
    if sig == signal.SIGXFSZ:
        return "file_size"
    if sig == signal.SIGKILL:
        return "killed"  # not by us: the site checks its cgroup for an OOM kill
    return f"signal_{signal.Signals(sig).name}"


def run_call(
    meta: dict[str, Any], kwargs: dict[str, Any], number: int
) -> tuple[dict[str, Any], bytes]:
    """Run one call in a forked child: (what happened, the child's reply frame or b"")."""
    limits = meta["limits"]
    scratch = Path(f"/tmp/call-{number}")
    scratch.mkdir(mode=0o700)
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        _child(meta, kwargs, scratch)
    status, usage, limit = _watch(pid, limits, started)
    wall = time.monotonic() - started
    _kill_everything_else()
    limit = limit or _limit_from_status(status, usage, limits)
    reply = scratch / REPLY_FILE
    size = reply.stat().st_size if reply.exists() else -1
    body = reply.read_bytes() if 0 <= size <= limits["reply_bytes"] and not limit else b""
    outcome = {
        "limit": limit,
        "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "reply_bytes": size,
        "stdout_bytes": _size(scratch / STDOUT_FILE),
        "wall_s": round(wall, 4),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 4) if usage else None,
        "peak_rss_bytes": int(usage.ru_maxrss) * 1024 if usage else None,
    }
    _wipe()
    return outcome, body


def _unlock(top: str) -> None:
    """Make a tree the code left behind removable again (it may have chmod-ed dirs to 000)."""
    with contextlib.suppress(OSError):
        os.chmod(top, 0o700)
    for root, dirs, _ in os.walk(top):
        for name in dirs:
            with contextlib.suppress(OSError):
                os.chmod(os.path.join(root, name), 0o700)


def _wipe() -> None:
    """Empty every writable place (scratch dirs and whatever else calls left there)."""
    for place in WRITABLE:
        with contextlib.suppress(OSError):
            for entry in os.scandir(place):
                if entry.is_dir(follow_symlinks=False):
                    _unlock(entry.path)
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def serve(requests: Any, replies: Any) -> None:
    """Answer request frames until the site closes the pipe."""
    number = 0
    bounds = wire.Bounds(max_bytes=1 << 40, max_header=1 << 30, max_string=1 << 20,
                         max_nodes=1_000_000, allow_tables=True)  # fmt: skip
    while True:
        frame = wire.read_frame(requests, max_bytes=1 << 40)
        if frame is None:
            return
        meta, kwargs = wire.decode(frame, bounds)
        number += 1
        outcome, body = run_call(meta, kwargs, number)
        del frame, kwargs
        wire.write_frame(replies, wire.encode(None, outcome))
        wire.write_frame(replies, body)


def main(argv: list[str]) -> None:
    _dumpable(0)
    requests = os.fdopen(int(argv[0]), "rb", buffering=0)
    replies = os.fdopen(int(argv[1]), "wb")
    loaded = [name for name in argv[2:] if name and _preload(name)]
    wire.write_frame(replies, wire.encode(None, {"ready": True, "preloaded": loaded}))
    serve(requests, replies)


def _preload(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    if name == "torch":
        _warm_torch()
    return True


def _warm_torch() -> None:
    """Run a tiny CNN step once, single-threaded, so that every call's child inherits torch's
    lazily built kernels instead of building them again (measured: ~2 s per call). One
    thread: no OpenMP pool exists at fork time, each child starts its own."""
    import torch

    threads, environment = torch.get_num_threads(), dict(os.environ)
    torch.set_num_threads(1)
    try:
        model = torch.nn.Sequential(
            torch.nn.Conv2d(1, 4, 3, padding=1),
            torch.nn.BatchNorm2d(4),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.AdaptiveMaxPool2d(1),
            torch.nn.Flatten(),
            torch.nn.Linear(4, 2),
        )
        for optimizer in (
            torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
            torch.optim.Adam(model.parameters(), lr=0.1),
        ):
            loss = torch.nn.functional.cross_entropy(
                model(torch.rand(4, 1, 16, 16)), torch.tensor([0, 1, 0, 1])
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            torch.softmax(model.eval()(torch.rand(2, 1, 16, 16)), dim=1)
    finally:
        torch.set_num_threads(threads)
        os.environ.clear()
        os.environ.update(environment)  # torch sets cache paths: calls see the clean env


if __name__ == "__main__":
    main(sys.argv[1:])
