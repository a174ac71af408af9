"""Real JupyterLab and headless Chromium: notebook 02's form through every step of a login
(screenshots at 1024 and 1440 px under tests/artifacts/), and ``PinEntry`` against a plain
``widgets.Text`` when keys come 0 ms apart.

Needs Debian's chromium (``apt-get install -y chromium``); `.ci/run` installs it. Runs against
a temporary copy of the notebook, because JupyterLab autosaves outputs back into the file.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
import requests

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).parents[1]
NOTEBOOK = REPO / "notebooks" / "02_interactive_verification.ipynb"
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
    """A JupyterLab server on 127.0.0.1 with a random token, serving notebook 02 cut after
    its first code cell (the form, as the notebook makes it, before the tour drives it)."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    first = next(i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code")
    notebook.cells = notebook.cells[: first + 1]
    notebook.metadata.pop("widgets", None)
    nbformat.write(notebook, tmp_path / NOTEBOOK.name)
    with _serve(tmp_path) as lab:
        yield lab


@contextlib.contextmanager
def _serve(root: Path) -> Iterator[tuple[str, str]]:
    """Run JupyterLab on ``root``; yield its base URL and token. Its kernels import this
    checkout's package (a worktree's too), not whichever one the venv has installed."""
    token = secrets.token_hex(16)
    paths = [str(REPO), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    settings = root / ".lab-settings"  # no news toast over the page (and no network call)
    quiet = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    quiet.parent.mkdir(parents=True, exist_ok=True)
    quiet.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(paths),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
    }
    for _ in range(3):  # a port picked here can be taken before JupyterLab binds it: retry
        port = _free_port()
        command = [
            sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
            "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        ]  # fmt: skip
        server = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
        )
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


def test_the_form_shows_the_current_login_through_every_step_in_a_real_browser(jupyterlab) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    base, token = jupyterlab
    began = time.perf_counter()
    with playwright.sync_playwright() as pw:
        browser = _launch(pw)
        page = browser.new_page(viewport={"width": 1024, "height": 900})
        try:
            url = f"{base}/lab/tree/{NOTEBOOK.name}?reset&token={token}"
            _run_all_cells(page, url, ready=".verigator-pin-verify")
            _tour(page, _form(page))
        finally:
            ARTIFACTS.mkdir(exist_ok=True)
            page.locator(".jupyter-widgets.widget-vbox .lm-AccordionPanel-title, "
                         ".jupyter-widgets .p-Accordion-title, .widget-accordion summary, "
                         ".jupyter-widget-Collapse-header").first.click()  # fmt: skip
            for width in (1024, 1440):
                page.set_viewport_size({"width": width, "height": 900})
                page.wait_for_timeout(300)
                page.screenshot(path=str(ARTIFACTS / f"verify_form_{width}.png"), full_page=True)
            browser.close()
    print(f"\nbrowser tour of the form: {time.perf_counter() - began:.1f} s")


def _form(page):
    return page.locator(".jupyter-widgets.widget-vbox").filter(has_text="Initiate").first


def _tour(page, form) -> None:
    """Points 1-5 of the form's issue, as a person in Chromium does them, typing at machine
    speed and never waiting for the kernel between typing and Enter."""
    from playwright.sync_api import expect

    expect.set_options(timeout=20_000)  # a loaded machine (the suite runs in parallel) is slow
    john, mari = "john.doe@example.com", "mari@example.ee"
    pin_box = form.locator(".verigator-pin-input")
    login, outcome = form.locator(".verigator-login"), form.locator(".verigator-outcome")
    message, user_side = form.locator(".verigator-message"), form.locator(".verigator-user-side")

    def type_and_enter(text: str) -> None:
        pin_box.fill("")  # a refused PIN comes back into the box: select it and retype
        pin_box.focus()
        page.keyboard.type(text, delay=0)
        page.keyboard.press("Enter")

    def shown_pin() -> str:
        form.locator("button.jupyter-button", has_text="Show SMS").click()
        expect(user_side).to_contain_text("verification code")
        return re.search(r"code: (\d{6})", user_side.inner_text()).group(1)

    def calls() -> int:  # the log panel's count, once the kernel has drawn everything
        page.wait_for_timeout(300)
        _idle(page)
        page.wait_for_timeout(200)
        return int(re.search(r"(\d+) calls?", form.inner_text()).group(1))

    # TOTP asked for John, who has no app: SMS, with the expiry and the tries left.
    form.locator("button.jupyter-button", has_text="Initiate").click()
    expect(login).to_contain_text("fell back to SMS")
    expect(login).to_contain_text("5 tries left")
    pin = shown_pin()
    # A typo is refused in the form, and spends no try.
    type_and_enter(f"{pin[:4]} x")
    expect(message).to_contain_text("A PIN is 6 digits, nothing else")
    expect(login).to_contain_text("5 tries left")
    # The right PIN at machine speed, Enter at once: the value the person sees is verified.
    type_and_enter(pin)
    expect(outcome).to_have_text("Verified")
    expect(message).to_have_text("")
    # A double click on Initiate starts one login; the old SMS leaves the screen.
    before = calls()
    form.locator("button", has_text=re.compile("^SMS$")).click()
    form.locator("button.jupyter-button", has_text="Initiate").dblclick()
    expect(login).to_contain_text("Server used SMS (asked SMS")
    assert calls() == before + 1, "a double click must start one login"
    expect(user_side).to_have_text("")
    expect(outcome).to_have_text("")
    # A double click on Verify sends the PIN once: one try spent, no line beside the outcome.
    before = calls()
    pin_box.fill("12 34 56")
    form.locator(".verigator-pin-verify").dblclick()
    expect(login).to_contain_text("4 tries left")
    assert calls() == before + 1, "a double click on Verify must send one verify"
    expect(login).to_contain_text("4 tries left")
    expect(message).to_have_text("")
    # The sandbox clock: the countdown follows, and the PIN expires.
    pin = shown_pin()
    form.locator("button.jupyter-button", has_text="+5 min").click()
    expect(login).to_contain_text("PIN expired")
    type_and_enter(pin)
    expect(outcome).to_contain_text("Not verified: EXPIRED")
    # Another user: nothing of John's login stays on screen.
    form.locator("select").nth(1).select_option(label=mari)
    expect(login).to_have_text("")
    expect(outcome).to_have_text("")
    # Ten wrong PINs in a row lock John (the wrong and expired ones above count too): the
    # message says what to do, and the detail waits under Details.
    form.locator("select").nth(1).select_option(label=john)
    expect(login).to_have_text("")
    wrong = "000000" if pin != "000000" else "111111"
    for _ in range(14):
        if "no tries left" in login.inner_text() or not login.inner_text():
            form.locator("button.jupyter-button", has_text="Initiate").click()
            calls()  # waits until the kernel has drawn the answer
            if "This user is locked" in message.inner_text():
                break
            expect(login).to_contain_text("5 tries left")
        type_and_enter(wrong)
        calls()
    else:
        pytest.fail("ten wrong PINs in a row did not lock the user")
    expect(message).to_contain_text("This user is locked")
    expect(message).to_contain_text("Wait up to 15 minutes")
    detail = message.locator("details")
    expect(detail.locator("code")).not_to_be_visible()
    detail.locator("summary").click()
    expect(detail.locator("code")).to_contain_text("HTTP 409")


def _idle(page) -> None:
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=30_000)


def _launch(pw):
    return pw.chromium.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--disable-background-networking", "--disable-component-update"],
    )  # fmt: skip


def _run_all_cells(page, url: str, *, ready: str) -> None:
    """Open ``url``, run every cell, and wait until the ``ready`` selector shows."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(url)
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    choose_kernel = page.locator(".jp-Dialog button", has_text="Select")
    with contextlib.suppress(PlaywrightTimeout):  # a fresh JupyterLab may ask for a kernel
        choose_kernel.click(timeout=5_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Run All Cells$")).click()
    page.wait_for_selector(ready, timeout=60_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)


def _settle(page) -> None:
    """Let the typed value reach the kernel before clicking: a click sent while the value's
    update is still on its way verifies the old value (the form's known Enter/typing race,
    which a loaded machine makes likely). Typing is over once the kernel is idle again."""
    page.wait_for_timeout(300)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=30_000)


# The kernel side of the PinEntry race test: every submitted text is appended to a list shown
# as JSON in a Label, for a PinEntry and for a plain Text (which reads its synced .value).
PIN_RACE_CELLS = [
    """\
import json
import warnings

import ipywidgets as widgets

from verigator_nb.widgets import PinEntry


def recorder(css_class):
    got, shown = [], widgets.Label("[]").add_class(css_class)

    def record(text):
        got.append(text)
        shown.value = json.dumps(got)

    return record, shown""",
    """\
pin = PinEntry(placeholder="6 digits, Enter submits")
record_pin, pin_shown = recorder("pin-received")
pin.on_submit(record_pin)

text = widgets.Text(description="Text", placeholder="plain ipywidgets.Text").add_class("plain-text")
record_text, text_shown = recorder("text-received")
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    text.on_submit(lambda box: record_text(box.value))

clear, lock = widgets.Button(description="Clear PIN"), widgets.Button(description="Lock PIN")
clear.on_click(lambda _: pin.clear())
lock.on_click(lambda _: setattr(pin, "disabled", True))
widgets.VBox([pin, pin_shown, text, text_shown, widgets.HBox([clear, lock])])""",
]
TYPED = ["123456", "654321", "000001", "987650", "314159", "271828", "161803"]


@pytest.fixture
def pin_race_lab(tmp_path):
    """A JupyterLab server serving a notebook made here from ``PIN_RACE_CELLS``."""
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source) for source in PIN_RACE_CELLS],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )
    nbformat.write(notebook, tmp_path / "pin_race.ipynb")
    with _serve(tmp_path) as lab:
        yield lab


def test_pin_entry_delivers_machine_speed_typing_exactly(pin_race_lab) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    base, token = pin_race_lab
    with playwright.sync_playwright() as pw:
        browser = _launch(pw)
        page = browser.new_page(viewport={"width": 1024, "height": 768})
        try:
            url = f"{base}/lab/tree/pin_race.ipynb?reset&token={token}"
            _run_all_cells(page, url, ready=".verigator-pin-verify")
            pin_got = _type_into_pin_entry(page, TYPED)
            text_got = _type_into_plain_text(page, TYPED)
            _clear_then_lock(page)
            assert _received(page, "pin-received") == TYPED, "Clear or Lock submitted something"
        finally:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "pin_entry.png"), full_page=True)
            browser.close()
    stale = [(typed, got) for typed, got in zip(TYPED, text_got, strict=True) if typed != got]
    print(
        f"\nmachine-speed typing, {len(TYPED)} submits each: plain Text stale {len(stale)}/"
        f"{len(TYPED)} {stale}; PinEntry stale "
        f"{sum(t != g for t, g in zip(TYPED, pin_got, strict=True))}/{len(TYPED)}"
    )
    assert pin_got == TYPED


def _type_into_pin_entry(page, values: list[str]) -> list[str]:
    """Type each value with no delay and submit it at once, Enter and the button in turn,
    never waiting for the kernel in between; then return what the kernel received."""
    box, verify = page.locator(".verigator-pin-input"), page.locator(".verigator-pin-verify")
    for index, value in enumerate(values):
        box.focus()
        page.keyboard.type(value, delay=0)
        if index % 2 == 0:
            page.keyboard.press("Enter")
        else:
            verify.click()
    return _received(page, "pin-received", count=len(values))


def _clear_then_lock(page) -> None:
    """Type without submitting, have the kernel clear the box, then disable the widget."""
    box = page.locator(".verigator-pin-input")
    box.fill("999")
    page.locator("button.jupyter-button", has_text="Clear PIN").click()
    page.wait_for_function("box => box.value === ''", arg=box.element_handle())
    page.locator("button.jupyter-button", has_text="Lock PIN").click()
    page.wait_for_selector(".verigator-pin-input:disabled")
    assert page.locator(".verigator-pin-verify").is_disabled()


def _type_into_plain_text(page, values: list[str]) -> list[str]:
    """The same typing into a plain ``widgets.Text`` and Enter; the box is emptied and the
    kernel idle before each value, so only the race between typing and Enter is measured."""
    box = page.locator(".plain-text input")
    for index, value in enumerate(values):
        box.fill("")
        _settle(page)
        box.focus()
        page.keyboard.type(value, delay=0)
        page.keyboard.press("Enter")
        _received(page, "text-received", count=index + 1)
    return _received(page, "text-received")


def _received(page, css_class: str, *, count: int = 0) -> list[str]:
    """What the kernel recorded, read from its Label once it holds ``count`` entries and the
    kernel is idle (so a duplicate submit on its way would show too)."""
    page.wait_for_function(
        "([css, count]) => JSON.parse(document.querySelector(`.${css}`).textContent).length"
        " >= count",
        arg=[css_class, count],
        timeout=30_000,
    )
    _settle(page)
    return list(json.loads(page.locator(f".{css_class}").text_content() or "[]"))


SAMPLE = REPO / "data" / "sample_outcome_log.parquet"
LOCAL = ("file:", "data:")


def test_the_report_sorts_its_tables_and_shows_chart_values_offline_at_1440px(tmp_path) -> None:
    """The 30k-call sample's report from a file:// URL with every other request refused: a
    header click sorts its table (a second click reverses it, Enter works too), a chart point
    under the mouse carries its value, print shows the PNGs, and nothing is wider than the page."""
    playwright = pytest.importorskip("playwright.sync_api")
    import pandas as pd

    from verigator_nb import report

    began = time.perf_counter()
    path = report.write(pd.read_parquet(SAMPLE), tmp_path / "report.html")
    left: list[str] = []

    def refuse_the_network(route) -> None:
        if route.request.url.startswith(LOCAL):
            route.continue_()
        else:
            left.append(route.request.url)
            route.abort()

    with playwright.sync_playwright() as pw:
        browser = _launch(pw)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.on("request", lambda r: None if r.url.startswith(LOCAL) else left.append(r.url))
        page.route("**/*", refuse_the_network)
        try:
            page.goto(path.as_uri())
            folded = page.locator("#over-time details").first  # a day-by-day table
            assert not folded.locator("table").is_visible()
            folded.locator("summary").click()  # opens on a click
            _sort_a_table(folded.locator("table.sortable"))
            _hover_a_point(page)
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"the page is {overflow} px wider than a 1440 px window"
            page.emulate_media(media="print")
            assert not page.locator(".chart svg").first.is_visible()
            assert page.locator(".chart .print img").first.is_visible()
            page.emulate_media(media="screen")
        finally:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "report_1440.png"), full_page=True)
            browser.close()
    assert left == [], f"the report asked the network for {left}"
    print(f"\nreport in a browser, built and driven: {time.perf_counter() - began:.1f} s")


def _column(table, header: str) -> list[str]:
    index = table.locator("thead th").all_inner_texts().index(header)
    return table.locator(f"tbody tr td:nth-child({index + 1})").all_inner_texts()


def _sort_a_table(table) -> None:
    """Counts ("1,234") and rates ("94.2%") sort as numbers, both ways, by mouse and key."""
    header = table.locator("thead th", has_text=re.compile("^n$"))
    counts = [int(text.replace(",", "")) for text in _column(table, "n")]
    assert counts != sorted(counts), "the sample's daily counts come unsorted"
    header.click()
    assert header.get_attribute("aria-sort") == "ascending"
    assert [int(text.replace(",", "")) for text in _column(table, "n")] == sorted(counts)
    header.click()
    assert header.get_attribute("aria-sort") == "descending"
    shown = [int(text.replace(",", "")) for text in _column(table, "n")]
    assert shown == sorted(counts, reverse=True)
    rate = table.locator("thead th", has_text=re.compile("^rate$"))
    rate.focus()
    rate.press("Enter")
    assert (
        rate.get_attribute("aria-sort") == "ascending" and header.get_attribute("aria-sort") is None
    )
    rates = [float(text.rstrip("%")) for text in _column(table, "rate")]
    assert rates == sorted(rates) and len(rates) > 10


def _hover_a_point(page) -> None:
    """The element under the mouse on a rate chart's point has a <title> with that day's
    rate, as the table beside it prints it."""
    point = page.locator("#over-time .chart svg use:has(> title)").nth(10)
    point.scroll_into_view_if_needed()
    box = point.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    tip = page.evaluate(
        "([x, y]) => document.elementFromPoint(x, y)?.querySelector(':scope > title')"
        "?.textContent ?? null",
        [x, y],
    )
    assert tip is not None, "no tooltip under the mouse"
    day, rate = re.match(r"(\d{4}-\d\d-\d\d): (\d+\.\d%) \(", tip).groups()
    table = page.locator("#over-time table.sortable").first
    row = table.locator("tbody tr", has=page.locator(f"td:first-child:text-is('{day}')"))
    assert rate in row.inner_text(), f"tooltip {tip!r} against the table's row for {day}"
