"""Headless Chromium for the board's tests: Debian's `chromium`, driven by Playwright with
`executable_path` (no browser download). Missing it, the tests skip saying why, except under
CI=true, where `.ci/run` installs it and a missing one is a failure.

Every page records its console errors and uncaught exceptions; a test ends by asserting
there were none (`Page.errors`), except network errors it caused on purpose.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def chromium_binary() -> str:
    for name in CANDIDATES:
        found = shutil.which(name)
        if found is not None:
            return found
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is missing under CI=true (.ci/run installs it)")
    pytest.skip("chromium is not installed (apt-get install chromium)")


@dataclass
class PageLog:
    """What a page said went wrong."""

    errors: list[str] = field(default_factory=list)

    def real_errors(self, *, allow_network: bool = False) -> list[str]:
        """Console errors, less the browser's own network errors when a test took the
        server down on purpose."""
        if not allow_network:
            return list(self.errors)
        network = ("net::ERR_", "WebSocket connection", "Failed to load resource")
        return [e for e in self.errors if not any(n in e for n in network)]


def watch(page: Any) -> PageLog:
    log = PageLog()

    def on_console(message: Any) -> None:
        if message.type == "error":
            log.errors.append(f"console: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: log.errors.append(f"pageerror: {error}"))
    return log


@asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """A headless Chromium browser (one per test: tests stay independent)."""
    binary = chromium_binary()
    from playwright.async_api import async_playwright

    async with async_playwright() as driver:
        browser = await driver.chromium.launch(
            executable_path=binary,
            headless=True,
            # Root in a container has no user namespace for the sandbox.
            args=["--no-sandbox", "--disable-dev-shm-usage"],
        )
        try:
            yield browser
        finally:
            await browser.close()


def artifact(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name
