"""The Flower half of ``benchmarks.vs_flower``; runs in Flower's own virtualenv.

``python flower_side.py SPEC.json`` starts a Flower server (FedAvg, gRPC on loopback) and one
client process per site (``--client I``). Each client trains and evaluates with the very
task our sites run (the built-in CNN, ``examples/tasks/cnn.py``) on the same arrays, from the
same initial weights, so only the framework differs. Writes per-round wall times and the
final sample-weighted validation metrics to the spec's ``result`` path.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import flwr as fl
import numpy as np

TASK_FILE = Path(__file__).resolve().parents[1] / "examples" / "tasks" / "cnn.py"


def _builtin_task() -> Any:
    """The built-in CNN task, loaded from its file (Flower's venv has no project packages)."""
    namespace: dict[str, Any] = {}
    exec(compile(TASK_FILE.read_text(), str(TASK_FILE), "exec"), namespace)
    return namespace["cnn_task"]


federated_step = _builtin_task()


def load_spec(path: str) -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(Path(path).read_text())
    return spec


class SiteClient(fl.client.NumPyClient):  # type: ignore[misc]
    def __init__(self, spec: dict[str, Any], index: int) -> None:
        self.config = spec["config"]
        self.names: list[str] = spec["weight_names"]
        self.arrays = dict(np.load(Path(spec["data_dir"]) / f"site{index}.npz"))

    def _run(self, parameters: list[Any], task: str, round_index: int) -> dict[str, Any]:
        weights = dict(zip(self.names, parameters, strict=True))
        started = time.process_time()
        reply: dict[str, Any] = federated_step(self.arrays, weights, task, round_index, self.config)
        return {**reply, "compute_seconds": time.process_time() - started}

    def fit(self, parameters: list[Any], config: dict[str, Any]) -> tuple[Any, int, Any]:
        reply = self._run(parameters, "train", int(config["round"]))
        weights = [reply["weights"][name] for name in self.names]
        return weights, reply["n_samples"], {"compute_s": reply["compute_seconds"]}

    def evaluate(self, parameters: list[Any], config: dict[str, Any]) -> tuple[Any, int, Any]:
        reply = self._run(parameters, "evaluate", int(config["round"]))
        metrics = {**reply["metrics"], "compute_s": reply["compute_seconds"]}
        return reply["metrics"]["loss"], reply["n_samples"], metrics


def weighted(metrics: list[tuple[int, dict[str, float]]]) -> dict[str, float]:
    total = sum(n for n, _ in metrics) or 1
    keys = metrics[0][1].keys() if metrics else []
    return {k: sum(n * m[k] for n, m in metrics) / total for k in keys if k != "compute_s"}


class TimedFedAvg(fl.server.strategy.FedAvg):  # type: ignore[misc]
    """FedAvg that records each round's wall time (fit + evaluate) and final metrics."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.started: dict[int, float] = {}
        self.rounds: list[dict[str, float]] = []
        self.fit_compute = 0.0

    def configure_fit(self, server_round: int, *args: Any, **kwargs: Any) -> Any:
        instructions = super().configure_fit(server_round, *args, **kwargs)  # waits for clients
        self.started[server_round] = time.perf_counter()
        return instructions

    def aggregate_fit(self, server_round: int, results: Any, failures: Any) -> Any:
        self.fit_compute = max((r.metrics["compute_s"] for _, r in results), default=0.0)
        return super().aggregate_fit(server_round, results, failures)

    def aggregate_evaluate(self, server_round: int, results: Any, failures: Any) -> Any:
        out = super().aggregate_evaluate(server_round, results, failures)
        metrics = weighted([(r.num_examples, r.metrics) for _, r in results])
        wall = time.perf_counter() - self.started[server_round]
        slowest = max((r.metrics["compute_s"] for _, r in results), default=0.0)
        compute = self.fit_compute + slowest
        self.rounds.append({"round": server_round, "wall_s": wall, "compute_s": compute, **metrics})
        return out


def serve(spec: dict[str, Any], spec_path: str) -> None:
    initial = np.load(Path(spec["data_dir"]) / "initial.npz")
    params = fl.common.ndarrays_to_parameters([initial[n] for n in spec["weight_names"]])
    n_sites = int(spec["n_sites"])
    on_round = {"on_fit_config_fn": lambda r: {"round": r},
                "on_evaluate_config_fn": lambda r: {"round": r}}  # fmt: skip
    strategy = TimedFedAvg(
        fraction_fit=1.0, fraction_evaluate=1.0, min_fit_clients=n_sites,
        min_evaluate_clients=n_sites, min_available_clients=n_sites,
        initial_parameters=params, **on_round,
    )  # fmt: skip
    clients = [
        subprocess.Popen([sys.executable, __file__, spec_path, "--client", str(i)])
        for i in range(n_sites)
    ]
    try:
        fl.server.start_server(
            server_address=f"127.0.0.1:{spec['port']}",
            config=fl.server.ServerConfig(num_rounds=int(spec["rounds"])),
            strategy=strategy,
        )
    finally:
        for client in clients:
            client.wait(timeout=60)
    Path(spec["result"]).write_text(json.dumps({"rounds": strategy.rounds}))


def main() -> None:
    spec = load_spec(sys.argv[1])
    if "--client" in sys.argv:
        index = int(sys.argv[sys.argv.index("--client") + 1])
        client = SiteClient(spec, index).to_client()
        fl.client.start_client(server_address=f"127.0.0.1:{spec['port']}", client=client)
        return
    serve(spec, sys.argv[1])


if __name__ == "__main__":
    main()
