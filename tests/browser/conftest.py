"""The browser tests' fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.support.browser import CHROMIUM


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    # A failure, not a skip: these tests must run wherever the suite runs.
    if not CHROMIUM.is_file():
        pytest.fail(
            f"Debian's chromium is missing ({CHROMIUM}): `apt-get install -y chromium`"
            " (deploy/local/test.sh installs it)"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield browser
        finally:
            browser.close()
