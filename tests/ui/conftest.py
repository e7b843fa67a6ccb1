"""Browser fixtures: one real ``iotcli emulate`` process and one headless Debian Chromium per session.

The browser is Debian's ``/usr/bin/chromium`` (``apt-get install chromium``), driven by Playwright
through ``executable_path``: no browser is ever downloaded. Without it (or without Playwright) the
browser tests skip and say why (under CI=true they fail instead). A failing browser test saves a
screenshot under tests/ui/artifacts/.
``IOTCLI_DOCS_SCREENSHOTS=1`` makes the tests write the documentation's screenshots (docs/img/).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import EmulatorProcess
from tests.ui.support import UI

CHROMIUM = os.environ.get("IOTCLI_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
#: The flags this machine needs: no sandbox as root, and no background connections (the network is closed).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).parent / "artifacts"
DOCS_IMG = Path(__file__).parents[2] / "docs" / "img"
#: Read at import: the suite's autouse fixture clears every IOTCLI_* variable before each test.
WRITE_DOCS_SCREENSHOTS = bool(os.environ.get("IOTCLI_DOCS_SCREENSHOTS"))


def _why_no_browser() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM}: install Debian's with 'apt-get install chromium' (CI does)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed: pip install -e '.[test]'"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    reason = _why_no_browser()
    if reason and os.environ.get("CI"):
        pytest.fail(f"CI must run the browser tests: {reason}")  # .ci/run installs chromium
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="session")
def inspector_server(browser: Any) -> Iterator[EmulatorProcess]:
    """A real emulator (scaled clock: 1 emulated second = 10 ms), shared by the browser tests."""
    with EmulatorProcess(None, extra=["--time-scale", "0.01"]) as proc:
        yield proc


@pytest.fixture
def server(inspector_server: EmulatorProcess) -> Iterator[httpx.Client]:
    """The shared emulator, reset: an API client with the account token."""
    with inspector_server.client() as http:
        assert http.post("/_emulator/reset").status_code == 200
        yield http


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.stash[FAILED] = report.failed


FAILED = pytest.StashKey[bool]()


@pytest.fixture
def page(browser: Any, inspector_server: EmulatorProcess, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context, logged in to the inspector (a phone-or-laptop sized window)."""
    context = browser.new_context(viewport={"width": 1280, "height": 860}, base_url=inspector_server.url)
    context.set_default_timeout(8000)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    pg.goto(f"{UI}/devices")
    pg.fill("#token", inspector_server.token)
    pg.press("#token", "Enter")
    pg.wait_for_url(f"**{UI}/devices")
    pg.errors = errors
    yield pg
    if request.node.stash.get(FAILED, False):
        ARTIFACTS.mkdir(exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


def docs_screenshot(pg: Any, name: str) -> None:
    """Write docs/img/inspector-NAME.png when IOTCLI_DOCS_SCREENSHOTS is set (the docs' pictures)."""
    if WRITE_DOCS_SCREENSHOTS:
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        pg.screenshot(path=str(DOCS_IMG / f"inspector-{name}.png"), full_page=False)
