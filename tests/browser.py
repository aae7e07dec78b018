"""Browser fixtures: Debian's Chromium (/usr/bin/chromium) driven by Playwright, and the web app
served by uvicorn on a loopback port (web/server.py, as `newswatch run` serves it).

Playwright's own browser download is never used (these machines cannot reach it): when
/usr/bin/chromium is missing and we are root with apt-get, the session installs Debian's
``chromium`` package once; otherwise the browser tests skip with that reason (and fail under
NEWSWATCH_REQUIRE_SERVICES=1). A test module takes these with
``pytest_plugins = ("tests.browser",)`` (and imports nothing from it, which would stop pytest
rewriting its asserts)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import need

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
# this network is closed: nothing in the browser may try to reach out (updates, sync, QUIC)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PHONE, DESKTOP = 390, 1280  # the widths screenshots are taken at


def chromium_problem() -> str | None:
    """None when /usr/bin/chromium is there (installed now if we can), else why not."""
    if CHROMIUM.exists():
        return None
    apt = shutil.which("apt-get")
    if os.geteuid() != 0 or apt is None:
        return (
            f"{CHROMIUM} is missing and cannot be installed here (needs root and apt-get): "
            "`apt-get install chromium`"
        )
    log = Path("/tmp/newswatch-test-apt.log")
    environment = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    with log.open("wb") as out:
        for command in ([apt, "update", "-qq"], [apt, "install", "-y", "-qq", "chromium"]):
            done = subprocess.run(
                command, stdout=out, stderr=subprocess.STDOUT, env=environment, timeout=900
            )
            if done.returncode != 0:
                return f"`{' '.join(command[1:])}` failed (exit {done.returncode}; see {log})"
    return None if CHROMIUM.exists() else f"installing chromium left no {CHROMIUM} (see {log})"


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """One headless Debian Chromium for the session."""
    problem = chromium_problem()
    need(problem is None, problem or "")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


class Dialogs:
    """Every JavaScript dialog (alert, confirm, prompt) a page opened: an injected
    ``<script>`` that ran would show up here."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, dialog: Any) -> None:
        self.seen.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A fresh browser context and page at desktop width; ``page.dialogs`` lists the dialogs
    it opened (none, in a page that escapes what it shows)."""
    context = chromium.new_context(viewport={"width": DESKTOP, "height": 900})
    context.set_default_timeout(15_000)
    opened = context.new_page()
    dialogs = Dialogs()
    opened.on("dialog", dialogs)
    opened.dialogs = dialogs
    try:
        yield opened
    finally:
        context.close()


def artifacts_dir() -> Path:
    """Where the tests leave what a person looks at afterwards: ``test-artifacts/`` in the
    repository, or $NEWSWATCH_TEST_ARTIFACTS."""
    return Path(os.environ.get("NEWSWATCH_TEST_ARTIFACTS") or ROOT / "test-artifacts")


@pytest.fixture
def screenshot() -> Callable[[Any, str, int], Path]:
    """Takes the whole page at a width as ``<artefacts>/screenshots/<name>-<width>.png``."""
    return take_screenshot


def take_screenshot(page: Any, name: str, width: int) -> Path:
    """The whole page at ``width`` px as ``screenshots/<name>-<width>.png``."""
    folder = artifacts_dir() / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{width}.png"
    page.set_viewport_size({"width": width, "height": 900})
    page.screenshot(path=str(path), full_page=True)
    return path
