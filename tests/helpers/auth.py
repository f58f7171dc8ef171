"""A bearer token per role, and signing in to the dashboard through its forms."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from backend.settings import Role

TOKENS = {
    "ops": "ops-token-0123456789",
    "marketer": "marketer-token-0123456789",
    "analyst": "analyst-token-0123456789",
}
#: ``Settings.api_tokens`` granting each role its token.
API_TOKENS = {token: Role(role) for role, token in TOKENS.items()}
CSRF = re.compile(r'name="csrf" value="([^"]+)"')

Client = TestClient[Any, Any]


def auth(role: str) -> dict[str, str]:
    """Return the Authorization header of a role."""
    return {"Authorization": f"Bearer {TOKENS[role]}"}


async def csrf_of(client: Client, path: str) -> str:
    """Return the CSRF token of the forms on a page."""
    response = await client.get(path)
    assert response.status == 200, await response.text()
    found = CSRF.search(await response.text())
    assert found is not None, f"no form on {path}"
    return found.group(1)


async def sign_in(client: Client, role: str) -> None:
    """Sign in to the dashboard with the role's token."""
    csrf = await csrf_of(client, "/dashboard/sign-in")
    response = await client.post(
        "/dashboard/sign-in",
        data={"csrf": csrf, "token": TOKENS[role], "next": "/dashboard/questionnaires"},
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
