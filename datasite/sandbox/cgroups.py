"""A memory + pids cgroup around the sandbox, where the machine lets the site create one.

cgroup v1 (separate ``memory`` and ``pids`` hierarchies, as on the team's machines) and v2
(one unified hierarchy, as on most hospital servers: needs the controllers delegated to the
site's cgroup, e.g. systemd ``Delegate=yes``) are both supported. Where neither works
``create`` returns None and the sandbox relies on rlimits plus the zygote's RSS polling.

The sandbox joins the cgroup through a shell shim (``join_command``): the shell writes its
own pid into ``cgroup.procs`` and then ``exec``s bubblewrap, so every process of the sandbox
starts inside it (no race, no ``preexec_fn`` in a threaded server).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)
ROOT = Path("/sys/fs/cgroup")


def _own_paths(proc_cgroup: str) -> dict[str, str]:
    """``{controller: path}`` of this process, from /proc/self/cgroup ("" is v2)."""
    paths: dict[str, str] = {}
    for line in proc_cgroup.splitlines():
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            paths[name] = path
    return paths


@dataclass
class Cgroup:
    """The cgroup directories of one sandbox and how to read what happened in them."""

    version: int
    dirs: list[Path]
    memory_dir: Path | None
    pids_dir: Path | None

    def join_command(self, command: list[str]) -> list[str]:
        procs = " ".join(shlex.quote(str(d / "cgroup.procs")) for d in self.dirs)
        script = f'for f in {procs}; do echo $$ > "$f" || exit 97; done; exec "$@"'
        return ["/bin/sh", "-c", script, "sandbox-join", *command]

    def oom_kills(self) -> int:
        """How many processes the kernel's OOM killer has killed in this cgroup."""
        if self.memory_dir is None:
            return 0
        name = "memory.oom_control" if self.version == 1 else "memory.events"
        return _field(self.memory_dir / name, "oom_kill")

    def hit_process_limit(self) -> int:
        if self.pids_dir is None:
            return 0
        return _field(self.pids_dir / "pids.events", "max")

    def remove(self) -> None:
        for directory in self.dirs:
            with contextlib.suppress(OSError):
                directory.rmdir()


def _field(path: Path, name: str) -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in path.read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == name:
                return int(value)
    return 0


def _write(path: Path, value: str) -> None:
    path.write_text(value)


def _make(parent: Path, name: str) -> Path:
    directory = parent / name
    directory.mkdir(exist_ok=True)
    return directory


def _create_v1(paths: dict[str, str], name: str, memory: int, pids: int) -> Cgroup:
    mem = _make(ROOT / "memory" / paths["memory"].lstrip("/"), name)
    pid = _make(ROOT / "pids" / paths["pids"].lstrip("/"), name)
    _write(mem / "memory.limit_in_bytes", str(memory))
    with contextlib.suppress(OSError):  # absent without swap accounting
        _write(mem / "memory.memsw.limit_in_bytes", str(memory))
    _write(pid / "pids.max", str(pids))
    return Cgroup(version=1, dirs=[mem, pid], memory_dir=mem, pids_dir=pid)


def _create_v2(paths: dict[str, str], name: str, memory: int, pids: int) -> Cgroup:
    directory = _make(ROOT / paths[""].lstrip("/"), name)
    if not (directory / "memory.max").exists() or not (directory / "pids.max").exists():
        directory.rmdir()
        raise OSError("memory/pids controllers are not delegated to this cgroup")
    _write(directory / "memory.max", str(memory))
    with contextlib.suppress(OSError):
        _write(directory / "memory.swap.max", "0")
    _write(directory / "pids.max", str(pids))
    return Cgroup(version=2, dirs=[directory], memory_dir=directory, pids_dir=directory)


def create(name: str, memory_bytes: int, max_pids: int) -> Cgroup | None:
    """A fresh cgroup for one sandbox, or None where this machine does not allow one."""
    try:
        paths = _own_paths(Path("/proc/self/cgroup").read_text())
        if "memory" in paths and "pids" in paths and (ROOT / "memory").is_dir():
            group = _create_v1(paths, name, memory_bytes, max_pids)
        elif "" in paths and (ROOT / "cgroup.controllers").exists():
            group = _create_v2(paths, name, memory_bytes, max_pids)
        else:
            return None
    except (OSError, ValueError) as err:
        log.warning("no cgroup for the sandbox (%s); using rlimits and RSS polling", err)
        return None
    log.info("sandbox cgroup v%d: %s", group.version, ", ".join(map(str, group.dirs)))
    return group


def unique_name() -> str:
    return f"fl-sandbox-{os.getpid()}-{os.urandom(3).hex()}"
