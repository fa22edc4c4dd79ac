"""Starting a command-line tool for help, or for a command that needs no datasite connection,
does not import syft or torch (each costs seconds at every start); --help loads neither
pydicom nor numpy. Timings are in benchmarks/cli_start.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("syft", "torch")
HELP_HEAVY = (*HEAVY, "pydicom", "numpy")  # --help needs none of them

# Imports the app, renders --help for every command (as a user would, one at a time), then
# reports which heavy libraries ended up loaded.
HELP_PROBE = """
import json, sys
import typer
from typer.testing import CliRunner
from {module} import app

root = typer.main.get_command(app)
paths, stack = [[]], [([], root)]
while stack:
    prefix, command = stack.pop()
    for name, sub in getattr(command, "commands", {{}}).items():
        paths.append([*prefix, name])
        stack.append(([*prefix, name], sub))
codes = [CliRunner().invoke(app, [*p, "--help"]).exit_code for p in paths]
print(json.dumps({{"codes": codes, "heavy": [m for m in {heavy!r} if m in sys.modules]}}))
"""

RUN_PROBE = """
import json, runpy, sys
sys.argv = {argv!r}
try:
    runpy.run_module("datasite", run_name="__main__")
except SystemExit as exit:
    code = exit.code
print(json.dumps({{"code": code, "heavy": [m for m in {heavy!r} if m in sys.modules]}}))
"""


def probe(code: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("module", ["datasite.cli.app", "researcher.cli"])
def test_help_of_every_command_loads_no_heavy_library(module: str) -> None:
    result = probe(HELP_PROBE.format(module=module, heavy=HELP_HEAVY))
    assert result["codes"] and set(result["codes"]) == {0}  # type: ignore[arg-type]
    assert result["heavy"] == []


def test_synth_writes_an_export_without_loading_syft(tmp_path: Path) -> None:
    argv = ["datasite", "synth", "--out", str(tmp_path / "export"), "--site", "st-olav"]
    argv += ["--n", "4", "--rows", "64"]
    result = probe(RUN_PROBE.format(argv=argv, heavy=HEAVY))
    assert result["code"] in (0, None)
    labels = (tmp_path / "export" / "labels.csv").read_text().splitlines()
    assert len(labels) == 1 + 4  # header + one row per file written
    assert "syft" not in result["heavy"]  # type: ignore[operator]


def test_launch_refuses_a_bad_port_before_loading_syft(tmp_path: Path) -> None:
    argv = ["datasite", "launch", "--name", "x", "--port", "70000", "--data-dir", str(tmp_path)]
    result = probe(RUN_PROBE.format(argv=argv, heavy=HEAVY))
    assert result["code"] not in (0, None)
    assert result["heavy"] == []
