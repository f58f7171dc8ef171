"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright.

Signs in, uploads a valid and an invalid questionnaire, reads the errors, opens the segments
of a demo-sized run, renames a segment and sees the new name everywhere. Then every page, at
1280 px and at 390 px (a phone), is checked for console errors, sideways scrolling and broken
links, and its key figures; a screenshot of each is saved under ``artifacts/screenshots/``.
The sandbox's chat view gets the same checks. Without /usr/bin/chromium the tests skip,
saying why, unless CI is set: then they fail.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import Engine

from backend.api.app import create_app
from backend.followups import import_pack, load_content
from backend.services.segments import enqueue_assignments, list_segments, recluster
from backend.settings import Settings
from backend.storage.engine import session_scope
from tests.helpers.auth import API_TOKENS, TOKENS
from tests.helpers.definitions import BROKEN_SNACKS, SNACKS
from tests.helpers.seed import DIMENSIONS, KEY, seed

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
WIDTHS = {"desktop": 1280, "phone": 390}
PACK = f"""
id: habits-followups
questionnaire: {KEY}
title: Habit tips
items:
  - id: outdoors
    target: {{rule: {{adventure: high}}}}
    text: "Hi {{{{ first_name }}}}, a <b>new trail</b> opened near you."
    buttons: [{{text: See the trail, url: "https://example.org/trail"}}]
  - id: weekly
    target: {{default: true}}
    send_after: 7d
    variants:
      - {{id: short, text: "Your week in habits, {{{{ first_name }}}}."}}
      - {{id: long, text: "Here is what people like you tried this week, {{{{ first_name }}}}."}}
"""


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


def _seed_everything(engine: Engine) -> int:
    """A demo-sized questionnaire with two runs and follow-ups; returns the latest k."""
    from sqlalchemy import update
    from sqlmodel import col, select

    from backend.storage.followup_tables import FollowupMessage, FollowupStatus
    from backend.storage.segment_tables import SegmentAssignment
    from backend.storage.types import utcnow

    seed(engine, 300, seed=11, completed_share=0.85)
    recluster(engine=engine, questionnaire_key=KEY, random_state=0)
    seed(engine, 60, seed=12, completed_share=0.8)
    report = recluster(engine=engine, questionnaire_key=KEY, random_state=0)
    with session_scope(engine) as session:
        import_pack(session=session, pack=load_content(PACK, dimensions=list(DIMENSIONS)))
        enqueue_assignments(session=session, rows=session.exec(select(SegmentAssignment)).all())
    with session_scope(engine) as session:
        ids = list(
            session.exec(
                select(FollowupMessage.id).where(FollowupMessage.item_id == "outdoors")
            ).all()
        )
        session.execute(
            update(FollowupMessage)
            .where(col(FollowupMessage.id).in_(ids[: len(ids) // 2]))
            .values(status=FollowupStatus.SENT, sent_at=utcnow())
        )
    return report.k


#: (name, path, text every width must show)
PAGES = [
    ("questionnaires", "/dashboard/questionnaires", "Everyday habits"),
    ("questionnaire", f"/dashboard/questionnaires/{KEY}", "Where people leave"),
    ("questionnaire-by-segment", f"/dashboard/questionnaires/{KEY}?by=segment", "Show everyone"),
    ("questionnaire-empty", "/dashboard/questionnaires/snack-habits", "No respondents yet"),
    ("segments-index", "/dashboard/segments", "Next run"),
    ("segments", f"/dashboard/segments/{KEY}", "What sets it apart"),
    ("followups", "/dashboard/followups", "Results per segment"),
]


async def _check_page(page: Any, base: str, name: str, width: str, expected: str) -> None:
    """No console errors, no sideways scrolling, no broken links; save a screenshot."""
    overflow = await page.evaluate(
        "() => document.documentElement.scrollWidth - window.innerWidth"
    )
    assert overflow <= 0, f"{name} at {width} scrolls sideways by {overflow} px"
    await expect_text(page, expected)
    hrefs = await page.eval_on_selector_all(
        "a[href]", "links => [...new Set(links.map(a => a.href))]"
    )
    for href in hrefs:
        if not href.startswith(base):
            continue
        response = await page.request.get(href.split("#")[0], max_redirects=0)
        assert response.status < 400, f"{name}: link {href} answers {response.status}"
    await page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)


async def expect_text(page: Any, text: str) -> None:
    from playwright.async_api import expect

    await expect(page.locator("main")).to_contain_text(text)


async def test_marketer_uses_the_dashboard_in_chromium(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    sqlite_engine: Engine,
    tmp_path: Path,
) -> None:
    _require_browser()
    from playwright.async_api import async_playwright, expect

    k = _seed_everything(sqlite_engine)
    settings = Settings(api_tokens=API_TOKENS)
    # The bot's username, as python-telegram-bot knows it after get_me: the deep links.
    bot = SimpleNamespace(bot=SimpleNamespace(username="psychograph_sandbox_bot"))
    app = create_app(settings, sqlite_engine, bot=bot)  # type: ignore[arg-type]
    server = await aiohttp_server(app)
    base = str(server.make_url("")).rstrip("/")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("dashboard-*.png"):
        old.unlink()
    valid = tmp_path / "snacks.yaml"
    valid.write_text(SNACKS)
    invalid = tmp_path / "broken.yaml"
    invalid.write_text(BROKEN_SNACKS)

    async with async_playwright() as driver:
        browser = await driver.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        errors: list[str] = []
        try:
            for width, pixels in WIDTHS.items():
                context = await browser.new_context(viewport={"width": pixels, "height": 900})
                page = await context.new_page()
                errors.clear()
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: errors.append(str(e)))

                # Without a session every page leads to the sign-in form.
                await page.goto(f"{base}/dashboard/segments/{KEY}")
                await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
                await _check_page(page, base, "dashboard-sign-in", width, "API token")
                await page.fill("#token", "wrong-token-123456")
                await page.click("main button[type=submit]")
                await expect(page.get_by_role("alert")).to_contain_text("not valid")
                errors.clear()  # the refused sign-in answers 401, which Chromium logs
                await page.fill("#token", TOKENS["marketer"])
                await page.click("main button[type=submit]")
                await expect(page).to_have_url(f"{base}/dashboard/segments/{KEY}")
                await expect(page.locator(".card")).to_have_count(k)

                if width == "desktop":
                    await page.goto(f"{base}/dashboard/questionnaires")
                    await page.set_input_files("#definition", str(valid))
                    await page.click("form[enctype] button[type=submit]")
                    await expect(page.get_by_role("status")).to_contain_text(
                        "Uploaded snack-habits"
                    )
                    await expect(page.locator("#share")).to_contain_text(
                        "https://t.me/psychograph_sandbox_bot?start=snack-habits"
                    )
                    await expect(page.locator("#share svg.segno")).to_be_visible()
                await page.goto(f"{base}/dashboard/questionnaires")
                await page.set_input_files("#definition", str(invalid))
                await page.click("form[enctype] button[type=submit]")
                await expect(page.get_by_role("alert")).to_contain_text("broken.yaml: 2 problems")
                await expect(page.locator("#L6.bad")).to_contain_text("points")
                await expect(page.locator("#L10.bad")).to_contain_text("nowhere")
                errors.clear()  # the refused upload answers 400, which Chromium logs
                await _check_page(page, base, "dashboard-upload-errors", width, "Problems in")

                for name, path, expected in PAGES:
                    await page.goto(base + path)
                    await _check_page(page, base, f"dashboard-{name}", width, expected)
                    assert not errors, f"{name} at {width}: {errors}"

                # The key figures: the funnel, the profile plot, the cards.
                await page.goto(f"{base}/dashboard/questionnaires/{KEY}")
                await expect(page.locator("#funnel tr.drop").first).to_be_visible()
                await expect(page.locator("#reliability")).to_contain_text("Adventure")
                await page.goto(f"{base}/dashboard/segments/{KEY}")
                await expect(page.locator("#profile svg circle")).to_have_count(k * 4)
                await expect(page.locator("#heatmap td.cell")).to_have_count(k * 4 + 4)
                await expect(page.locator(".card").first).to_contain_text("Size over the last")
                await page.close()
                await context.close()

            # Rename in place, and the new name is everywhere.
            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            page = await context.new_page()
            await page.goto(f"{base}/dashboard/sign-in")
            await page.fill("#token", TOKENS["marketer"])
            await page.click("main button[type=submit]")
            await page.goto(f"{base}/dashboard/segments/{KEY}")
            first = page.locator(".card").first
            card_id = await first.get_attribute("id")
            await first.locator("details.rename summary").click()
            await first.locator("input[name=name]").fill("Weekend explorers")
            await first.locator("textarea[name=description]").fill("Outdoorsy and curious.")
            await first.locator("button[type=submit]").click()
            await expect(page.get_by_role("status")).to_contain_text("Saved")
            card = page.locator(f"#{card_id}")
            await expect(card.locator(".segment-name")).to_have_text("Weekend explorers")
            await expect(card).to_contain_text("Outdoorsy and curious.")
            await expect(page.locator("#heatmap")).to_contain_text("Weekend explorers")
            await page.goto(f"{base}/dashboard/followups")
            segment_id = (card_id or "").removeprefix("segment-")
            await expect(page.locator(f"#results a[href$='#segment-{segment_id}']")).to_have_text(
                "Weekend explorers"
            )
            await page.click("header >> text=Sign out")
            await page.goto(f"{base}/dashboard/questionnaires")
            await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
            await context.close()
        finally:
            await browser.close()

    with session_scope(sqlite_engine) as session:
        names = {s.name for s in list_segments(session=session, questionnaire_key=KEY)}
    assert "Weekend explorers" in names
    saved = sorted(p.name for p in SCREENSHOTS.glob("dashboard-*.png"))
    assert len(saved) == (len(PAGES) + 2) * len(WIDTHS), saved


async def test_the_sandbox_chat_view_in_chromium(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
) -> None:
    _require_browser()
    from playwright.async_api import async_playwright, expect
    from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup

    from bot.sandbox import SandboxClient, SandboxConfig, create_sandbox_app

    config = SandboxConfig(rate_limit_enabled=False)
    server = await aiohttp_server(create_sandbox_app(config))
    base = str(server.make_url("")).rstrip("/")
    async with (
        SandboxClient(base) as respondent,
        Bot(config.token, base_url=f"{base}/bot") as bot,
    ):
        user = await respondent.create_user(first_name="Ada")
        await respondent.send_command(user.id, "start", KEY)
        await bot.get_updates(timeout=0)
        question = await bot.send_message(
            user.id,
            "<b>Where do you shop most?</b>\nPick one; this is a long question that must wrap "
            "on a phone without pushing the page sideways.",
            parse_mode="HTML",
            reply_markup=InlineKeyboardMarkup(
                [
                    [InlineKeyboardButton("Online", callback_data="a.0")],
                    [InlineKeyboardButton("In a store", callback_data="a.1")],
                ]
            ),
        )
        await respondent.press(user.id, question.message_id, data="a.0")
        *_, update = await bot.get_updates(timeout=0)
        assert update.callback_query is not None
        await bot.answer_callback_query(update.callback_query.id, "Saved")
        await bot.edit_message_text(
            "<b>Where do you shop most?</b> Online",
            user.id,
            question.message_id,
            parse_mode="HTML",
        )
        await bot.send_message(user.id, "Your profile: <i>Curious</i>", parse_mode="HTML")
        await bot.get_updates(offset=update.update_id + 1, timeout=0)
        await bot.send_message(
            user.id,
            "Hi Ada, a new trail opened near you.",
            reply_markup=InlineKeyboardMarkup(
                [[InlineKeyboardButton("See the trail", url="https://example.org/trail")]]
            ),
        )
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        async with async_playwright() as driver:
            browser = await driver.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
            errors: list[str] = []
            try:
                for width, pixels in WIDTHS.items():
                    page = await browser.new_page(viewport={"width": pixels, "height": 900})
                    errors.clear()
                    page.on(
                        "console",
                        lambda m: errors.append(m.text) if m.type == "error" else None,
                    )
                    await page.goto(f"{base}/sandbox/view/chats")
                    await _check_page(page, base, "sandbox-chats", width, "Ada")
                    await page.click("text=Ada")
                    await expect(page.locator("main")).to_contain_text("pressed “Online”")
                    await expect(page.locator("main")).to_contain_text("toast: Saved")
                    await expect(page.locator("main strong").first).to_have_text(
                        "Where do you shop most?"
                    )
                    await expect(page.locator(".tag")).to_contain_text("on its own")
                    await _check_page(page, base, "sandbox-chat", width, "See the trail")
                    assert not errors, errors
                    await page.close()
            finally:
                await browser.close()
