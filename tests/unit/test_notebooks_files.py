"""The role notebooks are committed clean, and their settings resolve as documented."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from lab.notebooks import NotebookConfigError, settings

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


def test_all_five_role_notebooks_exist() -> None:
    assert [p.stem.split("-")[1] for p in NOTEBOOKS] == [
        "admin", "researcher", "admin", "researcher", "compliance"
    ]  # fmt: skip


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    book = nbformat.read(path, as_version=4)
    nbformat.validate(book)
    code = [cell for cell in book.cells if cell.cell_type == "code"]
    assert code, "a notebook without code"
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code), (
        f"{path.name} has outputs: strip them (Clear All Outputs, then save)"
    )


def test_relative_paths_resolve_against_the_repository_root(tmp_path: Path) -> None:
    env = {"FL_NOTEBOOK_DIR": "work", "FL_SITES_FILE": "out/demo/sites.toml"}
    cfg = settings(env, root=tmp_path)
    assert cfg.workdir == tmp_path / "work"
    assert cfg.sites_file == tmp_path / "out" / "demo" / "sites.toml" and cfg.sites_given
    assert cfg.experiment_file == tmp_path / "work" / "experiment.toml"


def test_defaults_launch_two_sites_into_the_work_dir(tmp_path: Path) -> None:
    cfg = settings({}, root=tmp_path)
    assert not cfg.sites_given and cfg.sites_file == tmp_path / "out/notebooks/sites.toml"
    assert cfg.site_names == ("st-olav", "karolinska") and cfg.image_size == 64


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param({"FL_ROUNDS": "two"}, "FL_ROUNDS='two' is not a whole number", id="text"),
        pytest.param({"FL_N_IMAGES": "0"}, "FL_N_IMAGES=0: must be at least 1", id="zero"),
        pytest.param({"FL_SITE_NAMES": " , "}, "FL_SITE_NAMES lists no site", id="no-sites"),
    ],
)
def test_bad_settings_say_which_variable(env: dict[str, str], message: str, tmp_path: Path) -> None:
    with pytest.raises(NotebookConfigError, match=message):
        settings(env, root=tmp_path)
