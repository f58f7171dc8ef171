"""Dashboard sessions: Secure behind a trusted TLS proxy, revoked on sign-out, expiring.

Before: the cookie never got ``Secure`` behind the documented TLS proxy, and sign-out only
deleted the browser's cookie, so a copy of it kept working.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from http.cookies import SimpleCookie
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import Engine, func
from sqlmodel import select

from backend.api.app import create_app
from backend.api.dashboard.auth import SESSION_COOKIE, issue_session, read_session
from backend.settings import Role, Settings
from backend.storage.engine import session_scope
from backend.storage.models import RevokedSession
from tests.helpers.auth import API_TOKENS, TOKENS, csrf_of, sign_in

Client = TestClient[Any, Any]
Factory = Callable[..., Awaitable[Client]]


def settings_with(**overrides: Any) -> Settings:
    return Settings(
        database_url="sqlite://",
        api_tokens=API_TOKENS,
        **overrides,
    )


async def dashboard(aiohttp_client: Factory, engine: Engine, settings: Settings) -> Client:
    return await aiohttp_client(create_app(settings, engine))


def set_cookies(response: Any) -> dict[str, Any]:
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.getall("Set-Cookie", []):
        jar.load(header)
    return {name: jar[name] for name in jar}


async def sign_in_response(client: Client, headers: dict[str, str]) -> Any:
    page = await client.get("/dashboard/sign-in", headers=headers)
    signin_cookie = set_cookies(page)["pg_signin"]
    csrf = await csrf_of(client, "/dashboard/sign-in")
    response = await client.post(
        "/dashboard/sign-in",
        data={"csrf": csrf, "token": TOKENS["ops"], "next": "/dashboard/questionnaires"},
        headers=headers,
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
    return signin_cookie, set_cookies(response)[SESSION_COOKIE]


async def test_behind_a_trusted_tls_proxy_the_cookies_are_secure(
    aiohttp_client: Factory, sqlite_engine: Engine
) -> None:
    client = await dashboard(
        aiohttp_client, sqlite_engine, settings_with(trust_forwarded_proto=True)
    )
    signin, session = await sign_in_response(client, {"X-Forwarded-Proto": "https"})
    assert signin["secure"]
    assert session["secure"]
    assert session["httponly"]
    assert session["samesite"] == "Strict"


@pytest.mark.parametrize(
    ("trust", "forwarded"),
    [(False, "https"), (True, "http"), (True, ""), (True, "http, https")],
)
async def test_without_trust_or_https_the_cookie_is_not_secure(
    aiohttp_client: Factory, sqlite_engine: Engine, trust: bool, forwarded: str
) -> None:
    # a client reaching the service directly cannot make it believe it came over HTTPS
    client = await dashboard(
        aiohttp_client, sqlite_engine, settings_with(trust_forwarded_proto=trust)
    )
    headers = {"X-Forwarded-Proto": forwarded} if forwarded else {}
    _, session = await sign_in_response(client, headers)
    assert not session["secure"]


async def test_sign_out_revokes_the_session_on_the_server(
    aiohttp_client: Factory, engine: Engine
) -> None:
    client = await dashboard(aiohttp_client, engine, settings_with())
    await sign_in(client, "ops")
    copied = client.session.cookie_jar.filter_cookies(client.make_url("/"))[SESSION_COOKIE].value
    page = await client.get("/dashboard/questionnaires", allow_redirects=False)
    assert page.status == 200

    csrf = await csrf_of(client, "/dashboard/questionnaires")
    out = await client.post("/dashboard/sign-out", data={"csrf": csrf}, allow_redirects=False)
    assert out.status == 303

    client.session.cookie_jar.clear()
    replay = await client.get(
        "/dashboard/questionnaires",
        headers={"Cookie": f"{SESSION_COOKIE}={copied}"},
        allow_redirects=False,
    )
    assert replay.status == 303
    assert replay.headers["Location"].startswith("/dashboard/sign-in")
    with session_scope(engine) as session:
        assert session.exec(select(func.count()).select_from(RevokedSession)).one() == 1


async def test_another_session_of_the_same_token_stays_signed_in(
    aiohttp_client: Factory, engine: Engine
) -> None:
    first = await dashboard(aiohttp_client, engine, settings_with())
    second = await dashboard(aiohttp_client, engine, settings_with())
    await sign_in(first, "ops")
    await sign_in(second, "ops")
    csrf = await csrf_of(first, "/dashboard/questionnaires")
    await first.post("/dashboard/sign-out", data={"csrf": csrf}, allow_redirects=False)

    still = await second.get("/dashboard/questionnaires", allow_redirects=False)
    assert still.status == 200


async def test_sessions_expire_after_the_configured_lifetime(
    aiohttp_client: Factory, sqlite_engine: Engine
) -> None:
    settings = settings_with(dashboard_session_hours=0.5)
    client = await dashboard(aiohttp_client, sqlite_engine, settings)
    _, session = await sign_in_response(client, {})
    assert int(session["max-age"]) == 1800

    fresh = issue_session(settings, TOKENS["ops"], Role.OPS, now=time.time() - 1700)
    stale = issue_session(settings, TOKENS["ops"], Role.OPS, now=time.time() - 1900)
    assert read_session(settings, fresh) is not None
    assert read_session(settings, stale) is None
    client.session.cookie_jar.clear()
    response = await client.get(
        "/dashboard/questionnaires",
        headers={"Cookie": f"{SESSION_COOKIE}={stale}"},
        allow_redirects=False,
    )
    assert response.status == 303


@pytest.mark.parametrize("hours", [0, -1, 721])
def test_a_session_lifetime_out_of_range_is_refused(hours: float) -> None:
    with pytest.raises(ValueError, match="dashboard_session_hours"):
        settings_with(dashboard_session_hours=hours)


async def test_tokens_injected_without_validation_still_sign_in(
    aiohttp_client: Factory, sqlite_engine: Engine
) -> None:
    # The demo adds its token with model_copy, which skips validation: the role is plain
    # text. Signing in with it answered 500 (`role.value` on a str).
    settings = settings_with().model_copy(
        update={"api_tokens": {"demo-token-0123456789": "ops", "reader-0123456789": "analyst"}}
    )
    client = await dashboard(aiohttp_client, sqlite_engine, settings)
    csrf = await csrf_of(client, "/dashboard/sign-in")
    response = await client.post(
        "/dashboard/sign-in",
        data={"csrf": csrf, "token": "demo-token-0123456789", "next": "/dashboard/questionnaires"},
        allow_redirects=False,
    )
    assert response.status == 303
    page = await client.get("/dashboard/questionnaires", allow_redirects=False)
    assert page.status == 200
    refused = await client.delete(
        "/api/respondents/1", headers={"Authorization": "Bearer reader-0123456789"}
    )
    assert refused.status == 403
    assert "analyst" in (await refused.json())["error"]
