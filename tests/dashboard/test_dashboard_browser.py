"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright.

Signs in, uploads a valid and an invalid questionnaire, reads the errors, opens the segments
of a demo-sized run, renames a segment and sees the name persist; a screenshot of every page
is saved under ``artifacts/screenshots/``. Without /usr/bin/chromium the test skips, saying
why, unless CI is set: then it fails.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import Engine

from backend.api.app import create_app
from backend.dashboard import setup_dashboard
from backend.services.segments import list_segments, recluster
from backend.settings import Settings
from backend.storage.engine import session_scope
from tests.dashboard.conftest import TOKENS
from tests.dashboard.dashboard_seed import KEY, seed
from tests.dashboard.test_dashboard_views import INVALID, VALID

CHROMIUM = Path("/usr/bin/chromium")
#: No network here: without these Chromium keeps trying to reach Google's services.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _require_browser() -> None:
    reason = None
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (apt-get install -y chromium)"
    else:
        try:
            import playwright.async_api  # noqa: F401
        except ImportError:
            reason = "the playwright package is missing (pip install -e '.[test]')"
    if reason is None:
        return
    if _in_ci():
        pytest.fail(f"CI is set but the browser test cannot run: {reason}", pytrace=False)
    pytest.skip(f"browser test skipped: {reason}")


async def test_marketer_uses_the_dashboard_in_chromium(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    sqlite_engine: Engine,
    tmp_path: Path,
) -> None:
    _require_browser()
    from playwright.async_api import async_playwright, expect

    seed(sqlite_engine, 300, seed=11, completed_share=0.9)
    report = recluster(sqlite_engine, KEY, random_state=0)
    settings = Settings(api_tokens=",".join(f"{r}:{t}" for r, t in TOKENS.items()))
    app = create_app(settings, sqlite_engine)
    setup_dashboard(app)
    server = await aiohttp_server(app)
    base = str(server.make_url("")).rstrip("/")
    if SCREENSHOTS.exists():
        shutil.rmtree(SCREENSHOTS)
    SCREENSHOTS.mkdir(parents=True)
    valid = tmp_path / "snacks.yaml"
    valid.write_text(VALID)
    invalid = tmp_path / "broken.yaml"
    invalid.write_text(INVALID)

    async with async_playwright() as driver:
        browser = await driver.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})

            async def shot(name: str) -> None:
                await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

            # Without a session every page leads to the sign-in form.
            await page.goto(f"{base}/dashboard/segments/{KEY}")
            await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
            await shot("01-sign-in")
            await page.fill("#token", "wrong-token-123456")
            await page.click("button[type=submit]")
            await expect(page.get_by_role("alert")).to_contain_text("not valid")
            await page.fill("#token", TOKENS["marketer"])
            await page.click("button[type=submit]")
            # Back where the sign-in interrupted: the segments of the demo-sized run.
            await expect(page).to_have_url(f"{base}/dashboard/segments/{KEY}")
            await expect(page.locator(".card")).to_have_count(report.k)
            await expect(page.locator("#heatmap svg")).to_be_visible()

            await page.goto(f"{base}/dashboard/questionnaires")
            await page.set_input_files("#definition", str(valid))
            await page.click("form[enctype] button[type=submit]")
            await expect(page.get_by_role("status")).to_contain_text("Uploaded snack-habits")
            await expect(page.locator("#questionnaires")).to_contain_text("snack-habits")
            await shot("02-questionnaires-uploaded")

            await page.set_input_files("#definition", str(invalid))
            await page.click("form[enctype] button[type=submit]")
            await expect(page.get_by_role("alert")).to_contain_text("broken.yaml: 2 problems")
            await expect(page.locator("#L6.bad")).to_contain_text("points")
            await expect(page.locator("#L10.bad")).to_contain_text("nowhere")
            await expect(page.locator("#L2")).not_to_have_class("bad")
            await page.locator("#problems").scroll_into_view_if_needed()
            await shot("03-upload-errors")

            await page.click(f"a[href='/dashboard/questionnaires/{KEY}']")
            await expect(page.locator("#funnel svg")).to_be_visible()
            await expect(page.locator("#reliability")).to_contain_text("Adventure")
            await shot("04-questionnaire")

            await page.click("header >> text=Segments")
            await expect(page).to_have_url(f"{base}/dashboard/segments/{KEY}")
            first = page.locator(".card").first
            card_id = await first.get_attribute("id")
            await first.locator("input[name=name]").fill("Weekend explorers")
            await first.locator("textarea[name=description]").fill("Outdoorsy and curious.")
            await first.locator("button[type=submit]").click()
            await expect(page.get_by_role("status")).to_contain_text("Saved")
            await page.reload()
            card = page.locator(f"#{card_id}")
            await expect(card.locator(".segment-name")).to_have_text("Weekend explorers")
            await expect(card).to_contain_text("Outdoorsy and curious.")
            await expect(page.locator("#heatmap")).to_contain_text("Weekend explorers")
            await shot("05-segments")

            await page.click("header >> text=Follow-ups")
            await expect(page.get_by_role("heading", name="Follow-ups")).to_be_visible()
            await shot("06-followups")

            await page.click("header >> text=Sign out")
            await page.goto(f"{base}/dashboard/questionnaires")
            await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        finally:
            await browser.close()

    with session_scope(sqlite_engine) as session:
        names = {s.name for s in list_segments(KEY, session=session)}
    assert "Weekend explorers" in names
    saved = sorted(p.name for p in SCREENSHOTS.glob("*.png"))
    assert len(saved) == 6, saved
