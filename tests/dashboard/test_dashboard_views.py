"""Dashboard views over HTTP: sign-in, roles, CSRF, upload, reports, rename, exports."""

from __future__ import annotations

import asyncio
import io
import re
import time

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from backend.dashboard.auth import SESSION_COOKIE, issue_session, read_session
from backend.dashboard.queries import forget
from backend.services.segments import list_segments, recluster
from backend.settings import Role, Settings
from backend.storage.engine import session_scope
from backend.storage.segment_tables import SegmentationRun
from tests.dashboard.conftest import TOKENS, Client, csrf_of, sign_in
from tests.dashboard.dashboard_seed import KEY, seed

VALID = """\
id: snack-habits
title: Snack habits
sections:
  - id: main
    questions:
      - {id: sweet, type: likert, text: I like sweet snacks}
      - {id: salty, type: likert, text: I like salty snacks}
dimensions:
  - id: snacking
    label: Snacking
    items: [{question: sweet}, {question: salty}]
"""

#: Line 6 has a Likert scale of one point and line 9 names an unknown question.
INVALID = """\
id: broken-habits
title: Broken habits
sections:
  - id: main
    questions:
      - {id: sweet, type: likert, points: 1, text: I like sweet snacks}
dimensions:
  - id: snacking
    label: Snacking
    items: [{question: nowhere}]
"""

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
    settings = Settings(api_tokens=f"marketer:{TOKENS['marketer']}")
    value = issue_session(settings, TOKENS["marketer"], Role.MARKETER)
    assert read_session(settings, value) is not None
    body, _, mac = value.partition(".")
    assert read_session(settings, body + "." + mac[:-2] + "AA") is None
    # A session claiming another role fails its signature.
    assert read_session(settings, value.replace(body, body[:-1] + "x")) is None
    old = issue_session(settings, TOKENS["marketer"], Role.MARKETER, now=time.time() - 9 * 3600)
    assert read_session(settings, old) is None
    rotated = Settings(api_tokens=f"marketer:{TOKENS['marketer']},ops:another-token-42")
    assert read_session(rotated, value) is None


async def test_a_forged_cookie_is_refused(sqlite_client: Client) -> None:
    sqlite_client.session.cookie_jar.update_cookies({SESSION_COOKIE: "eyJyIjoib3BzIn0.AAAA"})
    response = await sqlite_client.get("/dashboard/questionnaires", allow_redirects=False)
    assert response.status == 303


async def test_analyst_reads_but_sees_no_forms_and_cannot_post(
    client: Client, engine: Engine
) -> None:
    seed(engine, 60, seed=3)
    recluster(engine, KEY, random_state=0)
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
        segment = list_segments(KEY, session=session)[0]
    for path, data in [
        (f"/dashboard/segments/{KEY}/{segment.id}", {"name": "Hacked"}),
        (f"/dashboard/segments/{KEY}/recluster", {}),
        ("/dashboard/questionnaires", {}),
    ]:
        response = await client.post(path, data={"csrf": csrf.group(1), **data})
        assert response.status == 403, path
        assert "read-only" in (await response.text()).lower() or "analyst" in await response.text()
    with session_scope(engine) as session:
        assert list_segments(KEY, session=session)[0].name == segment.name


CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


async def test_posts_without_the_sessions_csrf_token_are_refused(
    client: Client, engine: Engine
) -> None:
    seed(engine, 60, seed=4)
    recluster(engine, KEY, random_state=0)
    await sign_in(client, "marketer")
    with session_scope(engine) as session:
        segment = list_segments(KEY, session=session)[0]
    path = f"/dashboard/segments/{KEY}/{segment.id}"
    missing = await client.post(path, data={"name": "No token"})
    assert missing.status == 403
    wrong = await client.post(path, data={"name": "No token", "csrf": "guess"})
    assert wrong.status == 403
    with session_scope(engine) as session:
        assert list_segments(KEY, session=session)[0].name == segment.name


async def test_upload_valid_then_invalid_shows_errors_beside_their_lines(
    client: Client,
) -> None:
    await sign_in(client, "marketer")
    csrf = await csrf_of(client, "/dashboard/questionnaires")
    ok = await client.post(
        "/dashboard/questionnaires",
        data={"csrf": csrf, "definition": _file("snacks.yaml", VALID)},
        allow_redirects=False,
    )
    assert ok.status == 303, await ok.text()
    listing = await (await client.get(ok.headers["Location"])).text()
    assert "Uploaded" in listing
    assert "snack-habits" in listing

    bad = await client.post(
        "/dashboard/questionnaires",
        data={"csrf": csrf, "definition": _file("broken.yaml", INVALID)},
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
    assert f"{seeded.started} started, {seeded.completed} completed" in html
    for question, answered in seeded.answered.items():
        reached = answered + seeded.stopped[question]
        stopped = seeded.stopped[question]
        assert re.search(
            rf"<code>{question}</code>[^<]*</td>\s*<td class=\"num\">{reached:,}</td>"
            rf"<td class=\"num\">{stopped:,}</td>",
            html,
        ), question
    assert "Answers to channel" in html
    assert f">{seeded.channel_online}</text>" in html
    assert html.count("<svg") >= 1 + len(seeded.answered)
    reliability = html.split('id="reliability"')[1].split("</table>")[0]
    assert reliability.count("<tr>") == 1 + 4


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
    recluster(engine, KEY, random_state=0)
    await sign_in(client, "marketer")
    with session_scope(engine) as session:
        segment = list_segments(KEY, session=session)[0]
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
        stored = list_segments(KEY, session=session)
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
    report = recluster(engine, KEY, random_state=0)
    await sign_in(client, "ops")
    html = await (await client.get(f"/dashboard/segments/{KEY}")).text()
    assert html.count('class="card"') == report.k
    heatmap = html.split('id="heatmap"')[1].split("</figure>")[0]
    assert heatmap.count("<rect") == report.k * 4 + report.k
    runs = html.split('id="runs"')[1].split("</table>")[0]
    assert f'<td class="num">{report.k}</td>' in runs
    assert "silhouette" in runs
    export = await client.get(f"/dashboard/segments/{KEY}/segments.csv")
    assert export.status == 200
    assert len((await export.text()).splitlines()) == 1 + 120


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


async def test_followups_page_shows_items_per_segment_and_outbox(
    client: Client, engine: Engine
) -> None:
    from backend.followups import enqueue_for_assignments, import_pack, load_content
    from backend.storage.segment_tables import SegmentAssignment

    seed(engine, 90, seed=10)
    recluster(engine, KEY, random_state=0)
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
    variants:
      - {{id: a, text: "Tip A for {{{{ segment_name }}}}"}}
      - {{id: b, text: "Tip B for {{{{ segment_name }}}}"}}
""",
        dimensions=["adventure", "thrift", "health", "social"],
    )
    with session_scope(engine) as session:
        import_pack(pack, session=session)
        enqueue_for_assignments(session, session.exec(select(SegmentAssignment)).all())
    await sign_in(client, "analyst")
    response = await client.get("/dashboard/followups")
    html = await response.text()
    assert response.status == 200, html
    assert "habits-followups: <code>" in html
    assert 'id="outbox"' in html
    assert "pending" in html
    items = html.split('id="items"')[1].split("</table>")[0]
    assert "<code>everyone</code>" in items or "<code>outdoors</code>" in items
