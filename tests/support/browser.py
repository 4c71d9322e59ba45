"""The browser the portal's browser tests drive: Debian's headless Chromium
(`/usr/bin/chromium`, never a downloaded build), and the screenshots they leave in
artifacts/screenshots/ (kept by CI as an artefact)."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page

from tests.support.data import ROOT

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "artifacts" / "screenshots"


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


WIDTHS = (1280, 375)

# Whether the page scrolls sideways, and any control that sticks out of the window.
OVERFLOW = """() => {
  const width = window.innerWidth;
  const controls = Array.from(
    document.querySelectorAll("main a, main button, main input, main select, main textarea")
  ).filter((el) => {
    const box = el.getBoundingClientRect();
    return box.width > 1 && box.height > 1 && getComputedStyle(el).visibility !== "hidden";
  });
  const outside = controls
    .filter((el) => el.getBoundingClientRect().right > width + 1)
    .map((el) => `${el.tagName.toLowerCase()}#${el.id || el.name || el.textContent.trim()}`);
  return { scroll: document.documentElement.scrollWidth, width, outside };
}"""


def check_widths(page: Page, url: str, name: str, lang: str) -> list[str]:
    """Open `url` at each width: no sideways scroll of the page, no control cut off."""
    problems = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(url)
        assert page.locator("html").get_attribute("lang") == lang
        found = page.evaluate(OVERFLOW)
        shot(page, f"layout-{lang}-{width}-{name}")
        if found["scroll"] > found["width"] or found["outside"]:
            problems.append(f"{name} ({lang}, {width} px): {found}")
    return problems
