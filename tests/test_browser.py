"""Notebook 02 in a real JupyterLab and headless Chromium: run it, type a PIN, click Verify.

Needs Debian's chromium (``apt-get install -y chromium``); `.ci/run` installs it. Runs against
a temporary copy of the notebook, because JupyterLab autosaves outputs back into the file.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

CHROMIUM = Path("/usr/bin/chromium")
NOTEBOOK = Path(__file__).parents[1] / "notebooks" / "02_interactive_verification.ipynb"
ARTIFACTS = Path(__file__).parent / "artifacts"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium: apt-get update && apt-get install -y chromium",
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def jupyterlab(tmp_path):
    """A JupyterLab server on 127.0.0.1 with a random token, serving a copy of notebook 02."""
    shutil.copy(NOTEBOOK, tmp_path / NOTEBOOK.name)
    token = secrets.token_hex(16)
    for _ in range(3):  # a port picked here can be taken before JupyterLab binds it: retry
        port = _free_port()
        command = [
            sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
            "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path}",
        ]  # fmt: skip
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        if _came_up(server, f"{base}/api/status?token={token}"):
            break
    else:
        pytest.fail("JupyterLab did not start on any of three ports")
    try:
        yield base, token
    finally:
        server.terminate()
        server.wait(timeout=20)


def _came_up(server: subprocess.Popen, status_url: str) -> bool:
    """True once the server answers; False if it exited (e.g. its port was taken)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            return False
        try:
            if requests.get(status_url, timeout=1).ok:
                return True
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    server.kill()
    pytest.fail("JupyterLab did not answer within 60 s")


def test_form_verifies_a_typed_pin_in_a_real_browser(jupyterlab) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    base, token = jupyterlab
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update"],
        )  # fmt: skip
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            _run_all_cells(page, f"{base}/lab/tree/{NOTEBOOK.name}?reset&token={token}")
            outcome = _play_sms_login(page)
        finally:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "verify_form.png"), full_page=True)
            browser.close()
    assert outcome == "Verified"


def _run_all_cells(page, url: str) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(url)
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    choose_kernel = page.locator(".jp-Dialog button", has_text="Select")
    with contextlib.suppress(PlaywrightTimeout):  # a fresh JupyterLab may ask for a kernel
        choose_kernel.click(timeout=5_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Run All Cells$")).click()
    page.wait_for_selector("button.jupyter-button:has-text('Initiate')", timeout=60_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)


def _settle(page) -> None:
    """Let the typed value reach the kernel before clicking: a click sent while the value's
    update is still on its way verifies the old value (the form's known Enter/typing race,
    which a loaded machine makes likely). Typing is over once the kernel is idle again."""
    page.wait_for_timeout(300)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=30_000)


def _play_sms_login(page) -> str:
    """Choose John and SMS, initiate, read the SMS, type a wrong PIN and then the right one."""
    form = page.locator(".jupyter-widgets.widget-vbox").filter(has_text="Initiate").first
    form.locator("select").nth(1).select_option(label="john.doe@example.com")
    form.locator("button", has_text=re.compile("^SMS$")).click()
    form.locator("button.jupyter-button", has_text="Initiate").click()
    form.get_by_text("Server used SMS").wait_for()
    form.locator("button.jupyter-button", has_text="Show the SMS").click()
    sms = form.get_by_text("verification code").inner_text()
    pin = re.search(r"code: (\d{6})", sms).group(1)
    pin_box = form.locator("input[placeholder*='6 digits']")
    pin_box.fill("000000" if pin != "000000" else "111111")
    _settle(page)
    form.locator("button.jupyter-button", has_text="Verify").click()
    form.get_by_text("Not verified: INVALID").wait_for()
    pin_box.fill(pin)
    _settle(page)
    form.locator("button.jupyter-button", has_text="Verify").click()
    form.get_by_text(re.compile("^Verified$")).wait_for()
    return form.get_by_text(re.compile("^Verified$")).inner_text()
