"""The five role notebooks, executed in order with nbclient on a tiny configuration.

Notebook 00 launches two real datasites (no FL_SITES_FILE); the others find them through
the work dir. The kernel is the project's venv python, from a kernelspec written into a temp
dir: nothing here reads the user's home. Every launched site is stopped at the end.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from lab.sites import STATE_FILE, _alive, stop_launched
from tests.conftest import ADMIN, RESEARCHER_PASSWORD

pytestmark = pytest.mark.integration
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
ORDER = (
    "00-admin-launch-and-ingest",
    "01-researcher-explore-and-submit",
    "02-admin-review-and-approve",
    "03-researcher-federated-training",
    "04-compliance-review",
)
KERNEL = "fl-notebooks-venv"
ROUNDS = 2


def _environment(tmp: Path) -> dict[str, str]:
    kernel_dir = tmp / "jupyter" / "kernels" / KERNEL
    kernel_dir.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec = {"argv": argv, "display_name": "venv", "language": "python"}
    (kernel_dir / "kernel.json").write_text(json.dumps(spec))
    return {
        "JUPYTER_PATH": str(tmp / "jupyter"), "JUPYTER_DATA_DIR": str(tmp / "jupyter"),
        "JUPYTER_CONFIG_DIR": str(tmp / "jupyter-config"),
        "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"), "IPYTHONDIR": str(tmp / "ipython"),
        "MPLCONFIGDIR": str(tmp / "mpl"), "FL_NOTEBOOK_DIR": str(tmp / "work"),
        "FL_SITE_NAMES": "north,south", "FL_N_IMAGES": "40", "FL_IMAGE_SIZE": "32",
        "FL_ROUNDS": str(ROUNDS), "DATASITE_ADMIN_EMAIL": ADMIN.email,
        "DATASITE_ADMIN_PASSWORD": ADMIN.password, "DEMO_RESEARCHER_EMAIL": "r@uni.example",
        "DEMO_USER_PASSWORD": RESEARCHER_PASSWORD, "COLUMNS": "120",
    }  # fmt: skip


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Run every notebook in order; yield the executed notebooks and the work dir."""
    tmp = tmp_path_factory.mktemp("notebooks")
    work = tmp / "work"
    with pytest.MonkeyPatch.context() as patch:
        for key, value in _environment(tmp).items():
            patch.setenv(key, value)
        patch.delenv("FL_SITES_FILE", raising=False)
        patch.delenv("DATASITE_USER_EMAIL", raising=False)
        state = work / STATE_FILE
        try:
            books = {name: _run(name, tmp) for name in ORDER}
            pids = json.loads(state.read_text())
            yield {"books": books, "work": work, "pids": pids}
        finally:
            launched = json.loads(state.read_text()) if state.exists() else {}
            stop_launched(work)
    left = [n for n, i in launched.items() if _alive(int(i["pid"]), str(i["data_dir"]))]
    assert not left, f"datasites still running after the notebooks: {left}"


def _run(name: str, tmp: Path) -> Any:
    book = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    client = NotebookClient(
        book, timeout=300, kernel_name=KERNEL, resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    try:
        client.execute()
    finally:
        nbformat.write(book, tmp / f"{name}.executed.ipynb")  # kept for a failing run
    return book


def _text(book: Any) -> str:
    """Every output a user would see (text and HTML), one string."""
    parts = []
    for cell in book.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            data = out.get("data", {})
            parts += [data.get("text/plain", ""), data.get("text/html", "")]
    return "\n".join(parts)


def test_admin_launches_two_sites_ingests_and_registers(executed: dict[str, Any]) -> None:
    text = _text(executed["books"]["00-admin-launch-and-ingest"])
    assert sorted(executed["pids"]) == ["north", "south"]
    assert "PASS" in text and "FAIL" not in text  # PHI verify at both sites
    assert "r@uni.example" in text and "auditor@hospital.example" in text
    assert (executed["work"] / "sites.toml").exists()


def test_researcher_submits_to_both_sites(executed: dict[str, Any]) -> None:
    text = _text(executed["books"]["01-researcher-explore-and-submit"])
    assert "'north': 'submitted'" in text and "'south': 'submitted'" in text
    assert "pending" in text


def test_admin_review_shows_what_would_leave_then_approves(executed: dict[str, Any]) -> None:
    book = executed["books"]["02-admin-review-and-approve"]
    text = _text(book)
    assert "would leave the site" in text and "weights." in text
    assert "  approved  " in _text(nbformat.v4.new_notebook(cells=book.cells[-2:-1]))


def test_training_runs_every_round_and_shows_plots(executed: dict[str, Any]) -> None:
    book = executed["books"]["03-researcher-federated-training"]
    summary = json.loads((executed["work"] / "runs" / "nb_fedavg" / "summary.json").read_text())
    images = [
        o for c in book.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})
    ]
    assert summary["rounds_completed"] == ROUNDS
    assert sorted(summary["sites_used"]) == ["north", "south"]
    assert 0.0 <= summary["final_global_metrics"]["accuracy"] <= 1.0
    assert len(images) == 3  # metrics and timing plots, then built-in vs notebook task


def test_a_task_written_in_a_cell_is_checked_submitted_and_trained(
    executed: dict[str, Any],
) -> None:
    text = _text(executed["books"]["03-researcher-federated-training"])
    own = executed["work"] / "runs" / "nb_fedavg_own" / "summary.json"
    summary = json.loads(own.read_text())
    assert "'declared weights'" in text and "'mock metrics'" in text
    assert "'north': 'submitted'" in text and "'south': 'submitted'" in text
    assert summary["rounds_completed"] == ROUNDS
    assert sorted(summary["sites_used"]) == ["north", "south"]
    assert 0.0 <= summary["final_global_metrics"]["accuracy"] <= 1.0


def test_compliance_verifies_the_chain_and_renders_the_packet(executed: dict[str, Any]) -> None:
    text = _text(executed["books"]["04-compliance-review"])
    assert "'north': ('intact'" in text and "'south': ('intact'" in text
    assert "<iframe srcdoc=" in text and "approved" in text
    assert (executed["work"] / "audit" / "north.html").exists()
