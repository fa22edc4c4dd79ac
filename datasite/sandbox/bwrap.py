"""The bubblewrap command line of the sealed worker, and a probe that it can start here.

What the sandbox sees: the system's ``/usr`` (and its ``/lib``/``/bin`` links), the Python
installation and virtual environment, read-only; the platform's ``datasite`` package
read-only at ``/opt/fl``; ``/etc/ld.so.cache`` only; fresh ``/proc``, ``/dev`` and a private
``/tmp`` tmpfs. Nothing else: no data dir, database, keys, audit log, other datasets, home
directories, ``/etc/passwd``. It runs in new user, pid, network, IPC, UTS and cgroup
namespaces (no network at all: not even loopback), as uid 65534 with every capability
dropped, in its own session, with an empty environment plus what Python needs (and the
site's ``OMP_NUM_THREADS``-style thread counts, when set), and dies with the site. Paths
named in ``hidden`` are covered by an empty tmpfs if they happen to lie inside something
bound.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

PACKAGE_MOUNT = "/opt/fl"
SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin")
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/localtime")
ENVIRONMENT = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/tmp",
    # getpass.getuser() reads these before the user database, which the sandbox does not
    # show (no /etc/passwd): MONAI and torch's compile caches ask for a user name at import.
    "USER": "nobody",
    "LOGNAME": "nobody",
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONHASHSEED": "0",
    "MPLBACKEND": "Agg",
}
# Compute tuning the admin set for the site (no secrets): how many threads torch / numpy may
# start per call. Without it, every call of every site on a shared machine starts one thread
# per core and they spin against each other (measured: 1.3 CPU-s calls took 10 CPU-s).
PASSED_THROUGH = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
INSTALL_HINT = (
    "Install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; it is what Flatpak uses). "
    "In a container the site needs user namespaces or CAP_SYS_ADMIN (see README, 'Running "
    "in a container')."
)


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def _python_roots() -> list[str]:
    """Directories the interpreter and its packages live in (deduplicated, outermost)."""
    candidates = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                  str(Path(os.path.realpath(sys.executable)).parent.parent)}  # fmt: skip
    roots = sorted({os.path.realpath(p) for p in candidates})
    outer = [r for r in roots if not any(r != o and r.startswith(o + "/") for o in roots)]
    return [r for r in outer if not any(r == d or r.startswith(d + "/") for d in SYSTEM_DIRS)]


def _system_mounts() -> list[str]:
    args: list[str] = []
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in SYSTEM_FILES:
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    return args


def package_dir() -> Path:
    """The ``datasite`` package directory (the worker imports ``datasite.sandbox``)."""
    return Path(__file__).resolve().parents[1]


def command(module_args: Sequence[str], hidden: Sequence[Path] = ()) -> list[str]:
    """The bwrap command that runs ``python -I -m <module_args>`` sealed (module from /opt/fl)."""
    binary = bwrap_path()
    if binary is None:
        raise FileNotFoundError("bwrap")
    args = [binary, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--uid", "65534", "--gid", "65534", "--hostname", "sandbox"]  # fmt: skip
    args += _system_mounts()
    for root in _python_roots():
        args += ["--ro-bind", root, root]
    args += ["--ro-bind", str(package_dir()), f"{PACKAGE_MOUNT}/datasite"]
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--chdir", "/tmp"]
    for path in hidden:
        if _inside_bound(Path(path).resolve()):
            args += ["--tmpfs", str(Path(path).resolve())]
    args += ["--remount-ro", "/", "--clearenv"]  # the root's own tmpfs: no writes anywhere
    for key, value in environment().items():
        args += ["--setenv", key, value]
    bootstrap = (
        f"import sys, runpy; sys.path.insert(0, {PACKAGE_MOUNT!r}); module = sys.argv.pop(1); "
        "runpy.run_module(module, run_name='__main__', alter_sys=True)"
    )
    return [*args, "--", sys.executable, "-I", "-c", bootstrap, *module_args]


def environment() -> dict[str, str]:
    """The sandbox's whole environment: what Python needs, plus the site's thread counts
    when they are plain numbers."""
    tuning = {key: os.environ[key] for key in PASSED_THROUGH if os.environ.get(key, "").isdigit()}
    return {**ENVIRONMENT, **tuning}


def _inside_bound(path: Path) -> bool:
    bound = [*_python_roots(), str(package_dir()), *SYSTEM_DIRS]
    text = str(path)
    return any(text == b or text.startswith(b.rstrip("/") + "/") for b in bound)


def probe(timeout_s: float = 30.0) -> str | None:
    """None when a sealed Python can start here, else why not (with what to do)."""
    if bwrap_path() is None:
        return f"bubblewrap (bwrap) is not installed. {INSTALL_HINT}"
    try:
        done = subprocess.run(
            command(["datasite.sandbox.wire"]),
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"bubblewrap could not start a sealed Python ({err}). {INSTALL_HINT}"
    if done.returncode != 0:
        detail = (done.stderr or "").strip().splitlines()[-1:] or ["no message"]
        return f"bubblewrap could not start a sealed Python: {detail[0]}. {INSTALL_HINT}"
    return None
