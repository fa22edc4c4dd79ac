"""The researcher's training notebook runs in JupyterLab, in a real (headless) browser.

Notebooks 00-02 prepare two tiny datasites with nbclient (as tests/integration/
test_notebooks.py does); then JupyterLab serves notebooks/, headless Chromium opens
03-researcher-federated-training, runs every cell from the Run menu, and the metrics plot
must be rendered as an image. Needs the `lab` extra and Debian's chromium + chromium-driver
(scripts/setup installs them); missing, the test skips, except in CI (REQUIRE_POSTGRES set
by .ci/run), where it fails.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab.process import free_port
from lab.sites import stop_launched
from tests.integration.test_notebooks import NOTEBOOKS, ORDER, _environment, _run

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--window-size=1400,1000",
)  # fmt: skip


def _require_browser() -> None:
    missing = [tool for tool in ("chromium", "chromedriver") if shutil.which(tool) is None]
    try:
        import jupyterlab  # noqa: F401
        import selenium  # noqa: F401
    except ImportError as err:
        missing.append(f"python package {err.name} (the `lab` extra)")
    if missing:
        message = f"missing {', '.join(missing)}: run scripts/setup (as root for chromium)"
        if os.environ.get("REQUIRE_POSTGRES"):  # CI: never skip silently
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def lab_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Sites prepared by notebooks 00-02, then JupyterLab on loopback; yields its URL."""
    _require_browser()
    env = _environment(tmp_path)
    env["DATASITE_USER_PASSWORD"] = env["DEMO_USER_PASSWORD"]  # notebook 00's add_user reads it
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("FL_SITES_FILE", raising=False)
    token, port = secrets.token_hex(16), free_port()
    server = None
    # JupyterLab saves the notebook it runs into notebooks/: restore the committed files after.
    committed = {path: path.read_bytes() for path in NOTEBOOKS.glob("*.ipynb")}
    try:
        for name in ORDER[:3]:
            _run(name, tmp_path)
        command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
                   "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
                   f"--notebook-dir={NOTEBOOKS}", "--LabApp.news_url=",
                   "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]  # fmt: skip
        command += ["--allow-root"] if os.geteuid() == 0 else []  # CI containers run as root
        log = (tmp_path / "jupyterlab.log").open("wb")
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        _wait(lambda: is_ready_lab(url, token), 120, "JupyterLab did not start")
        yield f"{url}/lab/tree/{ORDER[3]}.ipynb?token={token}"
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=60)
        for path, data in committed.items():
            path.write_bytes(data)
        stop_launched(tmp_path / "work")


def is_ready_lab(url: str, token: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{url}/api/status?token={token}", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _wait(ready: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = ready()
        if found:
            return found
        time.sleep(1.0)
    raise AssertionError(f"{what} within {timeout:.0f} s")


def _browser() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-')}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)


def _click_menu(driver: Any, menu: str, item: str) -> None:
    from selenium.webdriver.common.by import By

    bar = f"//div[contains(@class,'lm-MenuBar-itemLabel') and normalize-space()='{menu}']"
    _wait(lambda: driver.find_elements(By.XPATH, bar), 60, f"menu {menu}")[0].click()
    entry = f"//div[contains(@class,'lm-Menu-itemLabel') and normalize-space()='{item}']"
    _wait(lambda: driver.find_elements(By.XPATH, entry), 30, f"menu item {item}")[0].click()


def _accept_dialogs(driver: Any) -> None:
    """Accept any modal JupyterLab opened (in a full run under load one intercepted the click
    on the Run menu; which one was not captured, so its button's text is printed)."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By

    accept = "//dialog[contains(@class,'jp-Dialog')]//button[contains(@class,'jp-mod-accept')]"
    for button in driver.find_elements(By.XPATH, accept):
        try:
            print(f"accepting a JupyterLab dialog: {button.text!r}")
            button.click()
        except WebDriverException:
            pass  # it closed by itself meanwhile


def _run_all_cells(driver: Any) -> None:
    """Run > Run All Cells, again if no cell started: the execution indicator can read idle
    before the kernel's connection is ready, and a loaded machine then drops the first run
    or opens a dialog first (accepted here)."""
    from selenium.common.exceptions import ElementClickInterceptedException
    from selenium.webdriver.common.by import By

    started = "//div[contains(@class,'jp-InputPrompt') and (contains(.,'*') or contains(.,'1'))]"

    def cell_started() -> list[Any]:
        _accept_dialogs(driver)
        found: list[Any] = driver.find_elements(By.XPATH, started)
        return found

    for _attempt in range(4):
        _accept_dialogs(driver)
        try:
            _click_menu(driver, "Run", "Run All Cells")
        except ElementClickInterceptedException:
            continue  # a dialog came up first: accepted at the top of the next try
        try:
            _wait(cell_started, 30, "a cell started")
            return
        except AssertionError:
            continue
    raise AssertionError("Run All Cells did not start the notebook in 4 tries")


def test_training_notebook_renders_its_metrics_plot_in_jupyterlab(lab_server: str) -> None:
    from selenium.webdriver.common.by import By

    driver = _browser()
    try:
        driver.get(lab_server)
        idle = "//*[contains(@class,'jp-Notebook-ExecutionIndicator') and @data-status='idle']"
        _wait(lambda: driver.find_elements(By.XPATH, idle), 180, "the kernel was not idle")
        _run_all_cells(driver)
        plots = "//div[contains(@class,'jp-OutputArea-output')]//img[starts-with(@src,'data:image/png')]"  # noqa: E501

        def rendered() -> list[Any]:
            images = driver.find_elements(By.XPATH, plots)
            width = [driver.execute_script("return arguments[0].naturalWidth", i) for i in images]
            return images if len(images) >= 2 and min(width) > 200 else []

        images = _wait(rendered, 900, "the metrics and timing plots were not rendered")
        errors = driver.find_elements(
            By.CSS_SELECTOR, ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']"
        )
    finally:
        driver.quit()

    assert len(images) >= 2
    assert errors == []
