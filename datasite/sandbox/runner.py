"""The site's handle on the sealed worker: start the zygote, run calls, read verdicts.

One ``Sandbox`` holds one warm zygote (``datasite.sandbox.worker``) inside bubblewrap and a
memory + pids cgroup where the machine allows one. ``run`` sends the code and its inputs,
waits (bounded by the wall-time limit plus a grace period) and returns an ``Execution``: the
verdict, which limit killed the call if one did, resource use and, on success, the decoded
output. Calls are serialised; a zygote that dies or stops answering is killed and restarted
on the next call. Nothing in the reply is trusted: it is decoded with strict bounds.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import select
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from datasite.sandbox import bwrap, cgroups, wire
from datasite.sandbox.errors import SandboxUnavailable
from datasite.sandbox.verdict import Execution, Limits, Verdict

log = logging.getLogger(__name__)
START_TIMEOUT_S = 180.0
GRACE_S = 30.0
ZYGOTE_MEMORY = 1536 * 1024 * 1024  # torch + numpy + a copy of the inputs
ZYGOTE_TASKS = 64


class _Spawner:
    """Starts the zygote from one thread that lives as long as the site process.

    bubblewrap's ``--die-with-parent`` is the kernel's parent-death signal, which fires when
    the *thread* that forked it exits: a zygote started from a request or warm-up thread
    would be killed as soon as that thread ends. Every start goes through this thread.
    """

    def __init__(self) -> None:
        self.jobs: queue.Queue[tuple[Callable[[], Any], queue.Queue[Any]]] = queue.Queue()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def run(self, job: Callable[[], Any]) -> Any:
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._serve, name="sandbox-spawner",
                                               daemon=True)  # fmt: skip
                self.thread.start()
        answer: queue.Queue[Any] = queue.Queue(maxsize=1)
        self.jobs.put((job, answer))
        outcome = answer.get()
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def _serve(self) -> None:
        while True:
            job, answer = self.jobs.get()
            try:
                answer.put(job())
            except BaseException as err:  # noqa: BLE001 - handed back to the caller
                answer.put(err)


_spawner = _Spawner()


class _Reader:
    """Reads a pipe with a deadline (``select``), for ``wire.read_frame``."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.deadline = 0.0

    def read(self, size: int) -> bytes:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0 or not select.select([self.fd], [], [], remaining)[0]:
            raise TimeoutError("the sandbox did not answer in time")
        return os.read(self.fd, min(size, 1 << 20))


class Sandbox:
    """A warm, sealed Python worker. Use as a context manager or call ``close``."""

    def __init__(
        self,
        limits: Limits | None = None,
        hidden: Sequence[Path] = (),
        preload: Sequence[str] = ("numpy", "torch", "pandas"),
        log_file: Path | None = None,
    ) -> None:
        self.limits = limits or Limits()
        self.hidden = list(hidden)
        self.preload = list(preload)
        self.log_file = log_file
        self.lock = threading.Lock()
        self.proc: subprocess.Popen[bytes] | None = None
        self.cgroup: cgroups.Cgroup | None = None
        self.requests: IO[bytes] | None = None
        self.replies = _Reader(-1)
        self.calls = 0

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Start the zygote and wait until it has imported its modules.

        Raises:
            SandboxUnavailable: bubblewrap is missing or cannot start here (says what to do).
        """
        with self.lock:
            if self.proc is None:
                self._start()

    def _start(self) -> None:
        if bwrap.bwrap_path() is None:
            raise SandboxUnavailable(f"bubblewrap (bwrap) is not installed. {bwrap.INSTALL_HINT}")
        memory = 2 * self.limits.memory_bytes + ZYGOTE_MEMORY
        self.cgroup = cgroups.create(
            cgroups.unique_name(), memory, self.limits.processes + ZYGOTE_TASKS
        )
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        args = ["datasite.sandbox.worker", str(req_r), str(rep_w), *self.preload]
        command = bwrap.command(args, hidden=self.hidden)
        if self.cgroup is not None:
            command = self.cgroup.join_command(command)
        stderr = self.log_file.open("ab") if self.log_file else subprocess.DEVNULL
        try:
            self.proc = _spawner.run(lambda: subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr,
                pass_fds=(req_r, rep_w), start_new_session=True, env={}, cwd="/"))  # fmt: skip
        finally:
            os.close(req_r)
            os.close(rep_w)
            if not isinstance(stderr, int):
                stderr.close()
        self.requests = os.fdopen(req_w, "wb")
        self.replies = _Reader(rep_r)
        self._await_ready()

    def _await_ready(self) -> None:
        self.replies.deadline = time.monotonic() + START_TIMEOUT_S
        try:
            frame = wire.read_frame(self.replies, max_bytes=1 << 16)
            meta, _ = wire.decode(frame or b"")
        except (TimeoutError, wire.WireError, OSError) as err:
            code = self.proc.poll() if self.proc else None
            self._stop()
            raise SandboxUnavailable(
                f"The sealed worker did not start (exit code {code}: {err}). {bwrap.INSTALL_HINT}"
            ) from None
        log.info("sandbox ready (preloaded %s)", ", ".join(meta.get("preloaded", [])))

    def close(self) -> None:
        with self.lock:
            self._stop()

    def _stop(self) -> None:
        if self.requests is not None:
            with contextlib.suppress(OSError):  # a dead zygote: the buffered flush fails
                self.requests.close()
            self.requests = None
        if self.replies.fd >= 0:
            os.close(self.replies.fd)
            self.replies = _Reader(-1)
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, 9)
            self.proc.wait()
            self.proc = None
        if self.cgroup is not None:
            _remove_when_empty(self.cgroup)
            self.cgroup = None

    # -- calls -----------------------------------------------------------------------------
    def run(self, code: str, function: str, kwargs: dict[str, Any]) -> Execution:
        """Run ``function`` (defined in ``code``) on ``kwargs`` in a fresh sandboxed child.

        Raises:
            SandboxUnavailable: the zygote cannot be (re)started.
        """
        with self.lock:
            if self.proc is None:
                self._start()
            before = self._counters()
            try:
                outcome, body = self._exchange(code, function, kwargs)
            except (TimeoutError, OSError, wire.WireError) as err:
                log.error("sandbox failed during a call: %s; restarting it", err)
                self._stop()
                return Execution(verdict=Verdict.KILLED, limit="sandbox_died", detail=str(err))
            return self._execution(outcome, body, before)

    def _exchange(self, code: str, function: str, kwargs: dict[str, Any]) -> tuple[Any, bytes]:
        assert self.requests is not None
        meta = {"code": code, "function": function, "limits": self.limits.for_worker()}
        wire.write_frame(self.requests, wire.encode(kwargs, meta))
        self.replies.deadline = time.monotonic() + self.limits.wall_s + GRACE_S
        outcome = wire.decode(wire.read_frame(self.replies, 1 << 16) or b"")[0]
        body = wire.read_frame(self.replies, self.limits.reply_bytes + 1024)
        if body is None:
            raise wire.WireError("the sandbox closed its pipe")
        self.calls += 1
        return outcome, body

    def _counters(self) -> tuple[int, int]:
        group = self.cgroup
        return (group.oom_kills(), group.hit_process_limit()) if group else (0, 0)

    def _execution(
        self, outcome: dict[str, Any], body: bytes, before: tuple[int, int]
    ) -> Execution:
        limit = outcome.get("limit")
        oom, pids = self._counters()
        if limit == "killed" and oom > before[0]:
            limit = "memory"
        usage = {k: outcome.get(k) for k in ("wall_s", "cpu_s", "peak_rss_bytes", "stdout_bytes")}
        if limit is None and outcome.get("reply_bytes", -1) > self.limits.reply_bytes:
            detail = f"reply of {outcome['reply_bytes']} bytes"
            return Execution(verdict=Verdict.REFUSED, rule="over_budget", detail=detail, **usage)
        if limit is None and body:
            return _decoded(body, self.limits.reply_bytes, usage, pids > before[1])
        if limit is None:
            limit = "no_reply"
        if pids > before[1]:
            limit = "processes"
        return Execution(verdict=Verdict.KILLED, limit=str(limit), **usage)


def _decoded(body: bytes, max_bytes: int, usage: dict[str, Any], hit_pids: bool) -> Execution:
    try:
        meta, value = wire.decode(body, wire.Bounds(max_bytes=max_bytes))
    except wire.WireError as err:
        return Execution(verdict=Verdict.REFUSED, rule="malformed_output", detail=str(err), **usage)
    if meta.get("ok") is True:
        return Execution(verdict=Verdict.OK, value=value, **usage)
    error = str(meta.get("error", "Error"))[:80]
    if error == "WireError":
        return Execution(verdict=Verdict.REFUSED, rule="unsupported_output",
                         detail=str(meta.get("detail", ""))[:400], **usage)  # fmt: skip
    limit = "processes" if hit_pids else None
    return Execution(verdict=Verdict.ERROR, error=error, limit=limit,
                     detail=str(meta.get("detail", ""))[:400], **usage)  # fmt: skip


def _remove_when_empty(group: cgroups.Cgroup) -> None:
    for _ in range(100):
        group.remove()
        if not any(d.exists() for d in group.dirs):
            return
        time.sleep(0.02)
    log.warning("sandbox cgroup %s still busy; left in place", group.dirs)
