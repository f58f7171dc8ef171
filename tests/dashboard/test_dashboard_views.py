"""Dashboard views over HTTP: sign-in, roles, CSRF, upload, reports, rename, exports."""

from __future__ import annotations

import asyncio
import io
import re
import time
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from backend.api.app import create_app
from backend.api.dashboard.auth import SESSION_COOKIE, issue_session, read_session
from backend.api.dashboard.queries import forget
from backend.services.segments import list_segments, recluster
from backend.settings import Role, Settings
from backend.storage.engine import session_scope
from backend.storage.followup_tables import FollowupStatus
from backend.storage.segment_tables import Segment, SegmentationRun
from backend.storage.types import utcnow
from tests.helpers.auth import API_TOKENS, TOKENS, Client, csrf_of, sign_in
from tests.helpers.definitions import BROKEN_SNACKS, SNACKS
from tests.helpers.seed import KEY, definition, seed

GET_PAGES = [
    "/dashboard/",
    "/dashboard/questionnaires",
    f"/dashboard/questionnaires/{KEY}",
    f"/dashboard/questionnaires/{KEY}/responses.csv",
    "/dashboard/segments",
    f"/dashboard/segments/{KEY}",
    f"/dashboard/segments/{KEY}/segments.csv",
    "/dashboard/followups",
]
POST_PAGES = [
    "/dashboard/questionnaires",
    f"/dashboard/segments/{KEY}/1",
    f"/dashboard/segments/{KEY}/recluster",
    "/dashboard/sign-out",
]


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    forget(())


async def test_root_redirects_to_the_dashboard(sqlite_client: Client) -> None:
    response = await sqlite_client.get("/", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/dashboard/"


async def test_every_page_and_form_redirects_to_sign_in_without_a_session(
    sqlite_client: Client,
) -> None:
    for path in GET_PAGES:
        response = await sqlite_client.get(path, allow_redirects=False)
        assert response.status == 303, path
        assert response.headers["Location"] == f"/dashboard/sign-in?next={path}"
    for path in POST_PAGES:
        response = await sqlite_client.post(path, data={"csrf": "x"}, allow_redirects=False)
        assert response.status == 303, path
        assert response.headers["Location"].startswith("/dashboard/sign-in")


async def test_a_bearer_token_alone_does_not_open_the_dashboard(sqlite_client: Client) -> None:
    headers = {"Authorization": f"Bearer {TOKENS['ops']}"}
    response = await sqlite_client.get(
        "/dashboard/questionnaires", headers=headers, allow_redirects=False
    )
    assert response.status == 303


async def test_sign_in_sets_a_strict_http_only_session_and_sign_out_ends_it(
    sqlite_client: Client,
) -> None:
    csrf = await csrf_of(sqlite_client, "/dashboard/sign-in")
    wrong = await sqlite_client.post(
        "/dashboard/sign-in", data={"csrf": csrf, "token": "not-a-token-at-all"}
    )
    assert wrong.status == 401
    assert "not valid" in await wrong.text()

    csrf = await csrf_of(sqlite_client, "/dashboard/sign-in")
    response = await sqlite_client.post(
        "/dashboard/sign-in",
        data={"csrf": csrf, "token": TOKENS["marketer"], "next": "/dashboard/followups"},
        allow_redirects=False,
    )
    assert response.status == 303
    assert response.headers["Location"] == "/dashboard/followups"
    cookie = response.cookies[SESSION_COOKIE]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Strict"
    assert TOKENS["marketer"] not in cookie.value
    page = await sqlite_client.get("/dashboard/questionnaires")
    assert page.status == 200
    assert "signed in as marketer" in await page.text()

    csrf = await csrf_of(sqlite_client, "/dashboard/questionnaires")
    out = await sqlite_client.post(
        "/dashboard/sign-out", data={"csrf": csrf}, allow_redirects=False
    )
    assert out.status == 303
    after = await sqlite_client.get("/dashboard/questionnaires", allow_redirects=False)
    assert after.status == 303


async def test_sign_in_refuses_a_form_without_its_csrf_cookie(sqlite_client: Client) -> None:
    response = await sqlite_client.post(
        "/dashboard/sign-in", data={"csrf": "forged", "token": TOKENS["ops"]}
    )
    assert response.status == 403
    assert SESSION_COOKIE not in response.cookies


async def test_sign_in_never_redirects_off_the_dashboard(sqlite_client: Client) -> None:
    csrf = await csrf_of(sqlite_client, "/dashboard/sign-in")
    response = await sqlite_client.post(
        "/dashboard/sign-in",
        data={"csrf": csrf, "token": TOKENS["ops"], "next": "https://evil.example/"},
        allow_redirects=False,
    )
    assert response.headers["Location"] == "/dashboard/"


def test_sessions_are_signed_expire_and_end_when_the_token_is_removed() -> None:
    settings = Settings(api_tokens={TOKENS["marketer"]: Role.MARKETER})
    value = issue_session(settings, TOKENS["marketer"], Role.MARKETER)
    assert read_session(settings, value) is not None
    body, _, mac = value.partition(".")
    assert read_session(settings, body + "." + mac[:-2] + "AA") is None
    # A session claiming another role fails its signature.
    assert read_session(settings, value.replace(body, body[:-1] + "x")) is None
    old = issue_session(settings, TOKENS["marketer"], Role.MARKETER, now=time.time() - 9 * 3600)
    assert read_session(settings, old) is None
    rotated = Settings(
        api_tokens={TOKENS["marketer"]: Role.MARKETER, "another-token-42": Role.OPS}
    )
    assert read_session(rotated, value) is None


async def test_a_forged_cookie_is_refused(sqlite_client: Client) -> None:
    sqlite_client.session.cookie_jar.update_cookies({SESSION_COOKIE: "eyJyIjoib3BzIn0.AAAA"})
    response = await sqlite_client.get("/dashboard/questionnaires", allow_redirects=False)
    assert response.status == 303


async def test_analyst_reads_but_sees_no_forms_and_cannot_post(
    client: Client, engine: Engine
) -> None:
    seed(engine, 60, seed=3)
    recluster(engine=engine, questionnaire_key=KEY, random_state=0)
    await sign_in(client, "analyst")
    listing = await (await client.get("/dashboard/questionnaires")).text()
    assert KEY in listing
    assert 'name="definition"' not in listing
    segments = await (await client.get(f"/dashboard/segments/{KEY}")).text()
    assert "<svg" in segments
    assert "Re-cluster now" not in segments
    assert 'name="name"' not in segments
    csrf = CSRF_RE.search(segments)
    assert csrf is not None  # the sign-out form
    with session_scope(engine) as session:
        segment = list_segments(session=session, questionnaire_key=KEY)[0]
    for path, data in [
        (f"/dashboard/segments/{KEY}/{segment.id}", {"name": "Hacked"}),
        (f"/dashboard/segments/{KEY}/recluster", {}),
        ("/dashboard/questionnaires", {}),
    ]:
        response = await client.post(path, data={"csrf": csrf.group(1), **data})
        assert response.status == 403, path
        assert "read-only" in (await response.text()).lower() or "analyst" in await response.text()
    with session_scope(engine) as session:
        assert list_segments(session=session, questionnaire_key=KEY)[0].name == segment.name


CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


async def test_posts_without_the_sessions_csrf_token_are_refused(
    client: Client, engine: Engine
) -> None:
    seed(engine, 60, seed=4)
    recluster(engine=engine, questionnaire_key=KEY, random_state=0)
    await sign_in(client, "marketer")
    with session_scope(engine) as session:
        segment = list_segments(session=session, questionnaire_key=KEY)[0]
    path = f"/dashboard/segments/{KEY}/{segment.id}"
    missing = await client.post(path, data={"name": "No token"})
    assert missing.status == 403
    wrong = await client.post(path, data={"name": "No token", "csrf": "guess"})
    assert wrong.status == 403
    with session_scope(engine) as session:
        assert list_segments(session=session, questionnaire_key=KEY)[0].name == segment.name


async def test_upload_valid_then_invalid_shows_errors_beside_their_lines(
    client: Client,
) -> None:
    await sign_in(client, "marketer")
    csrf = await csrf_of(client, "/dashboard/questionnaires")
    ok = await client.post(
        "/dashboard/questionnaires",
        data={"csrf": csrf, "definition": _file("snacks.yaml", SNACKS)},
        allow_redirects=False,
    )
    assert ok.status == 303, await ok.text()
    listing = await (await client.get(ok.headers["Location"])).text()
    assert "Uploaded" in listing
    assert "snack-habits" in listing

    bad = await client.post(
        "/dashboard/questionnaires",
        data={"csrf": csrf, "definition": _file("broken.yaml", BROKEN_SNACKS)},
    )
    assert bad.status == 400
    html = await bad.text()
    assert "broken.yaml: 2 problems" in html
    rows = dict(re.findall(r'<tr id="L(\d+)" class="bad">(.*?)</tr>', html, re.S))
    assert set(rows) == {"6", "10"}
    assert "points" in rows["6"]
    assert "nowhere" in rows["10"]
    assert "broken-habits" not in (await (await client.get("/dashboard/questionnaires")).text())


async def test_upload_of_malformed_yaml_points_at_the_line(sqlite_client: Client) -> None:
    await sign_in(sqlite_client, "ops")
    csrf = await csrf_of(sqlite_client, "/dashboard/questionnaires")
    response = await sqlite_client.post(
        "/dashboard/questionnaires",
        data={"csrf": csrf, "definition": _file("x.yaml", "id: a\ntitle: [unclosed\n")},
    )
    assert response.status == 400
    assert 'class="bad"' in await response.text() or "problem" in await response.text()


BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join('*' + chr(97 + i) for _ in range(9))}]\n"
    for i in range(9)
)


async def test_upload_of_an_alias_bomb_is_refused_quickly_by_the_checker(
    sqlite_client: Client,
) -> None:
    await sign_in(sqlite_client, "marketer")
    csrf = await csrf_of(sqlite_client, "/dashboard/questionnaires")
    started = time.perf_counter()
    response = await sqlite_client.post(
        "/dashboard/questionnaires", data={"csrf": csrf, "definition": _file("bomb.yaml", BOMB)}
    )
    assert response.status == 400
    assert time.perf_counter() - started < 5
    assert "alias" in (await response.text()).lower()


async def test_upload_with_a_bad_byte_names_its_line(sqlite_client: Client) -> None:
    await sign_in(sqlite_client, "marketer")
    csrf = await csrf_of(sqlite_client, "/dashboard/questionnaires")
    buffer = io.BytesIO(b"id: a\ntitle: caf\xe9\n")
    buffer.name = "latin1.yaml"
    response = await sqlite_client.post(
        "/dashboard/questionnaires", data={"csrf": csrf, "definition": buffer}
    )
    assert response.status == 400
    html = await response.text()
    assert re.search(r'<tr id="L2" class="bad">.*?UTF-8', html, re.S), html


def _file(name: str, text: str) -> io.BytesIO:
    """A file field for a multipart form (aiohttp takes the file name from ``name``)."""
    buffer = io.BytesIO(text.encode())
    buffer.name = name
    return buffer


async def test_questionnaire_page_counts_the_funnel_and_answers_in_sql(
    client: Client, engine: Engine
) -> None:
    seeded = seed(engine, 120, seed=5, completed_share=0.75)
    await sign_in(client, "analyst")
    response = await client.get(f"/dashboard/questionnaires/{KEY}")
    assert response.status == 200
    html = await response.text()
    summary = html.split('id="funnel-summary"')[1].split("</p>")[0]
    assert f"<strong>{seeded.started}</strong> started" in summary
    assert f"<strong>{seeded.completed}</strong> completed" in summary
    # "completed" is said once, and no stray period after the counts
    assert summary.count("completed") == 1
    assert " ." not in summary
    funnel = html.split('id="funnel"')[1].split("</figure>")[0]
    questions = definition().questions()
    marked: list[int] = []
    plain: list[int] = []
    for number, (question, answered) in enumerate(seeded.answered.items(), start=1):
        reached = answered + seeded.stopped[question]
        stopped = seeded.stopped[question]
        text = questions[question].text
        assert isinstance(text, str)
        # bars are labelled with the question's text, not its id
        row = re.search(
            rf'<tr( class="drop")?><td class="label">{number}\. '
            rf"{re.escape(text)}"
            rf'</td>.*?<td class="value">{reached:,}( · {stopped:,} left here [^<]*)?</td>',
            funnel,
            re.S,
        )
        assert row is not None, question
        (marked if row.group(1) else plain).append(stopped)
    # the places most people left are marked, at most three of them
    assert 1 <= len(marked) <= 3
    assert min(marked) >= max(plain)
    # Likert answers carry the scale's labels
    assert "1 · Disagree" in html
    assert "5 · Agree" in html
    assert "Where do you shop most?" in html
    assert f'<td class="value">{seeded.channel_online} (' in html
    reliability = html.split('id="reliability"')[1].split("</table>")[0]
    assert reliability.count('class="group"') == 4
    assert reliability.count("<tr>") == 1 + 4 * 3
    verdicts = html.split('id="verdicts"')[1].split("</ul>")[0]
    assert verdicts.count("<li>") == 4
    assert 'class="empty"' not in html


async def test_an_empty_questionnaire_explains_how_to_get_respondents(
    aiohttp_client: Callable[..., Awaitable[Client]],
    sqlite_engine: Engine,
    dashboard_settings: Settings,
) -> None:
    from types import SimpleNamespace

    bot = SimpleNamespace(bot=SimpleNamespace(username="habits_bot"))
    app = create_app(dashboard_settings, sqlite_engine, bot=bot)  # type: ignore[arg-type]
    client = await aiohttp_client(app)
    await sign_in(client, "marketer")
    csrf = await csrf_of(client, "/dashboard/questionnaires")
    uploaded = await client.post(
        "/dashboard/questionnaires",
        data={"csrf": csrf, "definition": _file("snacks.yaml", SNACKS)},
    )
    assert uploaded.status == 200
    after = await uploaded.text()
    link = "https://t.me/habits_bot?start=snack-habits"
    # right after the upload: the link to share and its QR code
    share = after.split('id="share"')[1].split("</section>")[0]
    assert f'href="{link}"' in share
    assert "<svg" in share
    html = await (await client.get("/dashboard/questionnaires/snack-habits")).text()
    empty = html.split('id="empty"')[1].split("</section>")[0]
    assert "No respondents yet" in empty
    assert link in empty
    assert "<svg" in empty  # the QR code
    # no funnel of zeros, no empty charts, no alarms
    assert 'id="funnel"' not in html
    assert 'class="weak"' not in html
    assert 'id="reliability"' not in html
    # without the bot in the process the link is explained, with no QR code
    plain = await aiohttp_client(create_app(dashboard_settings, sqlite_engine))
    await sign_in(plain, "marketer")
    html = await (await plain.get("/dashboard/questionnaires/snack-habits")).text()
    assert "https://t.me/&lt;bot&gt;?start=snack-habits" in html
    assert "<svg" not in html


async def test_answers_split_by_segment_show_each_segments_shares(
    client: Client, engine: Engine
) -> None:
    seed(engine, 150, seed=12)
    report = recluster(engine=engine, questionnaire_key=KEY, random_state=0)
    await sign_in(client, "analyst")
    html = await (await client.get(f"/dashboard/questionnaires/{KEY}?by=segment")).text()
    with session_scope(engine) as session:
        names = [s.name for s in list_segments(session=session, questionnaire_key=KEY)]
    tables = html.split('class="split"')[1:]
    assert len(tables) == 2 + 12  # two choice questions and twelve Likert items
    first = tables[0].split("</table>")[0]
    for name in names:
        assert name in first
    assert first.count("<tr>") == 1 + 2  # online, in a store
    shares = re.findall(r"<td>Online</td>(.*?)</tr>", first)[0]
    assert len(re.findall(r"(\d+)%", shares)) == report.k
    assert 'href="/dashboard/questionnaires/habits">Show everyone together' in html


async def test_export_with_the_session_matches_the_api_csv(client: Client, engine: Engine) -> None:
    seed(engine, 30, seed=6)
    await sign_in(client, "analyst")
    mine = await client.get(f"/dashboard/questionnaires/{KEY}/responses.csv")
    assert mine.status == 200
    assert mine.headers["Content-Type"].startswith("text/csv")
    api = await client.get(
        f"/api/questionnaires/{KEY}/responses.csv",
        headers={"Authorization": f"Bearer {TOKENS['analyst']}"},
    )
    assert api.status == 200
    assert await mine.text() == await api.text()
    assert len((await mine.text()).splitlines()) == 1 + 24


async def test_the_session_cookie_does_not_open_the_api(sqlite_client: Client) -> None:
    await sign_in(sqlite_client, "ops")
    response = await sqlite_client.get("/api/questionnaires")
    assert response.status == 401


async def test_rename_persists_and_an_empty_name_is_explained(
    client: Client, engine: Engine
) -> None:
    seed(engine, 150, seed=7)
    recluster(engine=engine, questionnaire_key=KEY, random_state=0)
    await sign_in(client, "marketer")
    with session_scope(engine) as session:
        segment = list_segments(session=session, questionnaire_key=KEY)[0]
    csrf = await csrf_of(client, f"/dashboard/segments/{KEY}")
    path = f"/dashboard/segments/{KEY}/{segment.id}"
    saved = await client.post(
        path,
        data={"csrf": csrf, "name": "Weekend <explorers>", "description": "Best buyers."},
        allow_redirects=False,
    )
    assert saved.status == 303
    page = await (await client.get(saved.headers["Location"])).text()
    assert "Weekend &lt;explorers&gt;" in page
    assert "<explorers>" not in page
    with session_scope(engine) as session:
        stored = list_segments(session=session, questionnaire_key=KEY)
    renamed = next(s for s in stored if s.id == segment.id)
    assert (renamed.name, renamed.description, renamed.name_edited) == (
        "Weekend <explorers>",
        "Best buyers.",
        True,
    )
    empty = await client.post(path, data={"csrf": csrf, "name": "  ", "description": ""})
    assert empty.status == 400
    assert "cannot be empty" in await empty.text()
    unknown = await client.post(
        f"/dashboard/segments/{KEY}/999999", data={"csrf": csrf, "name": "x"}
    )
    assert unknown.status == 404


async def test_segments_page_shows_profiles_cards_and_runs(client: Client, engine: Engine) -> None:
    seed(engine, 150, seed=8)
    first = recluster(engine=engine, questionnaire_key=KEY, random_state=0)
    seed(engine, 60, seed=18)
    report = recluster(engine=engine, questionnaire_key=KEY, random_state=0)
    await sign_in(client, "ops")
    with session_scope(engine) as session:
        segments = list_segments(session=session, questionnaire_key=KEY)
    long_name = "Weekend explorers who shop online and cook at home every single day"
    csrf = await csrf_of(client, f"/dashboard/segments/{KEY}")
    await client.post(
        f"/dashboard/segments/{KEY}/{segments[0].id}", data={"csrf": csrf, "name": long_name}
    )
    html = await (await client.get(f"/dashboard/segments/{KEY}")).text()
    assert html.count('class="card"') == report.k
    # the profile plot: a mean and a confidence whisker per segment and dimension
    profile = html.split('id="profile"')[1].split("</figure>")[0]
    assert profile.count("<circle") == report.k * 4
    assert "95% CI" in profile
    assert profile.count("1–5</text>") == 4  # each dimension's own scale
    assert long_name in profile  # the legend, in HTML: never cut
    heatmap = html.split('id="heatmap"')[1].split("</table>")[0]
    assert heatmap.count('class="cell"') == report.k * 4 + 4
    assert long_name in heatmap
    assert "SD</small>" in heatmap
    legend = html.split('id="legend"')[1].split("</div>")[0]
    assert "Below average" in legend
    assert "above average" in legend
    card = html.split(f'id="segment-{segments[0].id}"')[1].split("</section>")[0]
    assert re.search(r"than average: \d\.\d vs \d\.\d on the 1–5 scale", card)
    # two runs: the size trend has two points
    assert "Size over the last 2 runs" in card
    assert "<polyline" in card
    assert '<details class="rename"><summary>Rename' in card
    # soft membership: how sure the segmenter is of this segment's members
    sure = re.search(
        r"segmenter is ([\d.]+)% sure of a member; ([\d.]+)% of members are uncertain", card
    )
    assert sure is not None, card
    assert 0 < float(sure.group(1)) <= 100
    runs = html.split('id="runs"')[1].split("</table>")[0]
    assert f'<td class="num">{report.k}</td>' in runs
    assert "BIC" in runs  # the run's readable reason for its number of segments
    explain = html.split('id="explain"')[1].split("</dl>")[0]
    assert "adjusted Rand index" in explain
    transition = html.split(f'id="transition-{report.run_id}"')[1].split("</details>")[0]
    assert f"from run {first.run_id}" in transition
    assert long_name in transition
    export = await client.get(f"/dashboard/segments/{KEY}/segments.csv")
    assert export.status == 200
    assert len((await export.text()).splitlines()) == 1 + 120 + 48


async def test_segments_index_says_when_the_next_run_is(
    aiohttp_client: Callable[..., Awaitable[Client]], sqlite_engine: Engine
) -> None:
    seed(sqlite_engine, 60, seed=3)
    recluster(engine=sqlite_engine, questionnaire_key=KEY, random_state=0)
    tokens = API_TOKENS
    off = Settings(api_tokens=tokens, recluster_cron="", recluster_after_completions=0)
    client = await aiohttp_client(create_app(off, sqlite_engine))
    await sign_in(client, "analyst")
    html = await (await client.get("/dashboard/segments")).text()
    assert "Scheduled re-clustering is off" in html
    assert "not scheduled: re-cluster by hand" in html
    assert "scheduled</td>" not in html
    row = html.split('id="schedule"')[1].split("</table>")[0]
    assert " UTC, succeeded" in row  # the last run
    daily = Settings(api_tokens=tokens, recluster_cron="0 3 * * *")
    client = await aiohttp_client(create_app(daily, sqlite_engine))
    await sign_in(client, "analyst")
    html = await (await client.get("/dashboard/segments")).text()
    assert re.search(r"\d{4}-\d\d-\d\d 03:00 UTC</td>", html)


async def test_recluster_button_runs_in_the_background(client: Client, engine: Engine) -> None:
    seed(engine, 90, seed=9)
    await sign_in(client, "marketer")
    csrf = await csrf_of(client, f"/dashboard/segments/{KEY}")
    response = await client.post(
        f"/dashboard/segments/{KEY}/recluster", data={"csrf": csrf}, allow_redirects=False
    )
    assert response.status == 303
    assert "notice=started" in response.headers["Location"]
    for _ in range(200):
        with session_scope(engine) as session:
            done = session.exec(select(SegmentationRun)).all()
        if done and done[0].finished_at is not None:
            break
        await asyncio.sleep(0.05)
    assert done
    assert done[0].trigger == "manual"
    assert done[0].k is not None
    html = await (await client.get(f"/dashboard/segments/{KEY}")).text()
    assert 'class="card"' in html
    assert "reload this page" not in html


async def test_followups_page_shows_items_per_segment_and_outbox(
    client: Client, engine: Engine
) -> None:
    from sqlalchemy import update

    from backend.followups import import_pack, load_content
    from backend.services.segments import enqueue_assignments
    from backend.storage.followup_tables import FollowupClick, FollowupMessage
    from backend.storage.models import Respondent
    from backend.storage.segment_tables import SegmentAssignment

    seed(engine, 90, seed=10)
    recluster(engine=engine, questionnaire_key=KEY, random_state=0)
    pack = load_content(
        f"""
id: habits-followups
questionnaire: {KEY}
title: Habit tips
items:
  - id: outdoors
    target: {{rule: {{adventure: high}}}}
    text: "Hi {{{{ first_name }}}}, try a new trail."
  - id: everyone
    target: {{default: true}}
    send_after: 2d
    variants:
      - {{id: a, text: "Tip A for {{{{ segment_name }}}}"}}
      - {{id: b, text: "Tip B for {{{{ segment_name }}}}"}}
""",
        dimensions=["adventure", "thrift", "health", "social"],
    )
    with session_scope(engine) as session:
        import_pack(session=session, pack=pack)
        enqueue_assignments(session=session, rows=session.exec(select(SegmentAssignment)).all())
    with session_scope(engine) as session:
        rows = session.exec(
            select(FollowupMessage)
            .where(FollowupMessage.item_id == "everyone")
            .order_by(col(FollowupMessage.id))
        ).all()
        segment_key = rows[0].segment_key
        mine = [r for r in rows if r.segment_key == segment_key]
        now = utcnow()
        for row in mine[:4]:
            row.status, row.sent_at = FollowupStatus.SENT, now
        mine[4].status, mine[4].reason = FollowupStatus.FAILED, "blocked: Forbidden"
        mine[5].status = FollowupStatus.EXPIRED
        mine[6].reason = "deferred: quiet hours until 2026-01-01 09:00 UTC"
        mine[6].deferred_reason = "quiet_hours"
        for row in mine:
            session.add(row)
        session.flush()
        session.add(FollowupClick(message_id=mine[0].id or 0))
        session.add(FollowupClick(message_id=mine[0].id or 0))  # one person, two presses
        session.add(FollowupClick(message_id=mine[1].id or 0))
        session.execute(
            update(Respondent)
            .where(col(Respondent.id) == mine[3].respondent_id)
            .values(opted_out=True)
        )
        variants = {r.variant for r in mine[:4]}
        every_segment = set(session.exec(select(FollowupMessage.segment_key)).all())
    await sign_in(client, "marketer")
    # renamed after the rows were queued: the page shows the new name only
    with session_scope(engine) as session:
        segment = session.get(Segment, int(segment_key))
        assert segment is not None
        old_name = segment.name
    csrf = await csrf_of(client, f"/dashboard/segments/{KEY}")
    await client.post(
        f"/dashboard/segments/{KEY}/{segment_key}", data={"csrf": csrf, "name": "Trail lovers"}
    )
    response = await client.get("/dashboard/followups")
    html = await response.text()
    assert response.status == 200, html
    assert old_name not in html
    items = html.split('class="items"')[1].split("</table>")[0]
    assert "Hi {{ first_name }}, try a new trail." in items
    assert "<strong>a:</strong> Tip A for {{ segment_name }}" in items
    assert "2 days after joining the segment" in items
    assert "as soon as a respondent joins the segment" in items
    assert f'#segment-{segment_key}">Trail lovers</a>' in items
    results = html.split('id="results"')[1].split("</table>")[0]
    groups = results.split('class="group"')[1:]
    # every segment's rows sit together under its current name
    assert len(groups) == len(every_segment)
    trail = next(g for g in groups if "Trail lovers" in g)
    cells = [
        [
            int(n.replace(",", "")) if n.replace(",", "").isdigit() else n
            for n in re.findall(r'<td class="num">([^<]*)', row)
        ]
        for row in trail.split("<tr>")[1:]
        if "everyone</a>" in row
    ]
    totals = [
        sum(c[i] for c in cells if isinstance(c[i], int)) for i in range(len(cells[0])) if i != 6
    ]
    queued, waiting, _deferred, sent, delivered, clicked, opted, blocked, expired, failed = totals
    assert (queued, sent, delivered, clicked) == (len(mine), 4, 4, 2)
    assert (opted, blocked, expired, failed) == (1, 1, 1, 0)
    assert waiting == len(mine) - 7
    assert "quiet hours: 1" in trail
    assert len(variants) >= 1
    assert 'id="outbox"' in html


async def test_the_favicon_is_served(sqlite_client: Client) -> None:
    response = await sqlite_client.get("/favicon.ico")
    assert response.status == 200
    assert response.content_type == "image/svg+xml"
    assert "<svg" in await response.text()


async def test_a_page_that_breaks_answers_with_a_page_not_json(
    sqlite_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backend.api.dashboard import questionnaires

    def broken(*_: object) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(questionnaires, "_questionnaire_list", broken)
    await sign_in(sqlite_client, "ops")
    response = await sqlite_client.get("/dashboard/questionnaires")
    assert response.status == 500
    assert response.content_type == "text/html"
    html = await response.text()
    assert "Something went wrong" in html
    assert "database went away" not in html
