"""Dashboard sign-in: a signed, expiring session cookie made from an API token, and CSRF.

The cookie holds a session id, the role, a fingerprint of the token (never the token), a
CSRF token and an expiry (``PSYCHOGRAPH_DASHBOARD_SESSION_HOURS``), signed with HMAC-SHA256
under a key derived from the settings. A session stays valid only while its token is still
configured with the same role (removing a token from the settings signs its sessions out)
and until it is signed out: sign-out records the session id as revoked in the database, so
a copy of the cookie stops working too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web
from sqlalchemy import Engine, delete
from sqlmodel import col

from backend.api.db import read_only
from backend.settings import Role, Settings
from backend.storage.engine import session_scope
from backend.storage.models import RevokedSession

SESSION_COOKIE = "pg_session"
#: Before sign-in: a signed CSRF token for the sign-in form (double-submit).
SIGNIN_COOKIE = "pg_signin"
#: The default lifetime of a session (``Settings.dashboard_session_hours``).
SESSION_SECONDS = 8 * 3600
SIGNIN_SECONDS = 3600
#: Roles that may change things from the dashboard; analysts only read.
WRITERS = frozenset({Role.OPS, Role.MARKETER})


@dataclass(frozen=True, slots=True)
class DashboardSession:
    role: Role
    csrf: str
    expires: int
    #: Random, names the session for sign-out (older cookies have none: "").
    session_id: str = ""

    @property
    def can_write(self) -> bool:
        return self.role in WRITERS


def signing_key(settings: Settings) -> bytes:
    """Derive the cookie-signing key from the configured secrets (tokens, callback secret)."""
    material = hashlib.sha256()
    material.update(b"psychograph-dashboard-v1\0")
    for token in sorted(settings.api_tokens):
        material.update(token.encode() + b"\0")
    if settings.callback_secret is not None:
        material.update(settings.callback_secret.get_secret_value().encode())
    return hmac.new(material.digest(), b"dashboard-session", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(key: bytes, payload: Mapping[str, object]) -> str:
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    mac = hmac.new(key, body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def _unsign(key: bytes, value: str) -> dict[str, object] | None:
    body, _, mac = value.partition(".")
    if not body or not mac:
        return None
    expected = hmac.new(key, body.encode(), hashlib.sha256).digest()
    try:
        given = _unb64(mac)
        if not hmac.compare_digest(expected, given):
            return None
        payload = json.loads(_unb64(body))
    except ValueError:
        return None
    if not isinstance(payload, dict):
        return None
    expires = payload.get("e")
    if not isinstance(expires, int) or expires < time.time():
        return None
    return payload


def _fingerprint(key: bytes, token: str) -> str:
    return _b64(hmac.new(key, b"token\0" + token.encode(), hashlib.sha256).digest()[:16])


def session_seconds(settings: Settings) -> int:
    """How long a new session lasts, in seconds."""
    return max(1, int(settings.dashboard_session_hours * 3600))


def issue_session(settings: Settings, token: str, role: Role, *, now: float | None = None) -> str:
    """Return the cookie value of a new session for ``token`` (already checked to be valid)."""
    key = signing_key(settings)
    expires = int((now if now is not None else time.time()) + session_seconds(settings))
    payload = {
        "i": secrets.token_urlsafe(18),
        "r": Role(role).value,
        "f": _fingerprint(key, token),
        "c": secrets.token_urlsafe(24),
        "e": expires,
    }
    return _sign(key, payload)


def read_session(settings: Settings, value: str | None) -> DashboardSession | None:
    """Return the session a cookie holds, or None when it is forged, expired or revoked."""
    if not value:
        return None
    key = signing_key(settings)
    payload = _unsign(key, value)
    if payload is None:
        return None
    role, fingerprint, csrf = payload.get("r"), payload.get("f"), payload.get("c")
    if not isinstance(role, str) or not isinstance(fingerprint, str) or not isinstance(csrf, str):
        return None
    # The token must still be configured with the same role; every token is compared.
    still_valid = False
    for token, token_role in settings.api_tokens.items():
        same = hmac.compare_digest(_fingerprint(key, token), fingerprint)
        # str(): a role may be plain text when the settings were built without validation.
        still_valid |= same and str(token_role) == role
    if not still_valid or role not in Role.__members__.values():
        return None
    session_id = payload.get("i", "")
    if not isinstance(session_id, str) or len(session_id) > 64:
        return None
    return DashboardSession(
        role=Role(role), csrf=csrf, expires=int(str(payload["e"])), session_id=session_id
    )


def is_revoked(engine: Engine, session: DashboardSession) -> bool:
    """Whether the session was signed out (a session from before ids existed never is)."""
    if not session.session_id:
        return False
    with read_only(engine) as db:
        return db.get(RevokedSession, session.session_id) is not None


def revoke(engine: Engine, session: DashboardSession) -> None:
    """Sign a session out everywhere its cookie went, until it would have expired anyway."""
    if not session.session_id:
        return
    expires = datetime.fromtimestamp(session.expires, UTC)
    with session_scope(engine) as db:
        if db.get(RevokedSession, session.session_id) is None:
            db.add(RevokedSession(session_id=session.session_id, expires_at=expires))
        # Sessions past their expiry are refused by their signature already.
        db.execute(
            delete(RevokedSession).where(col(RevokedSession.expires_at) < datetime.now(UTC))
        )


def issue_signin_csrf(settings: Settings) -> tuple[str, str]:
    """Return a CSRF token for the sign-in form and the signed cookie value that carries it."""
    token = secrets.token_urlsafe(24)
    cookie = _sign(signing_key(settings), {"s": token, "e": int(time.time() + SIGNIN_SECONDS)})
    return token, cookie


def check_signin_csrf(settings: Settings, cookie: str | None, given: str) -> bool:
    """Check the sign-in form's CSRF field against its signed cookie."""
    payload = _unsign(signing_key(settings), cookie or "")
    expected = payload.get("s") if payload else None
    return isinstance(expected, str) and hmac.compare_digest(expected.encode(), given.encode())


def check_csrf(session: DashboardSession, given: str) -> bool:
    """Check a form's CSRF field against the one in the signed session."""
    return hmac.compare_digest(session.csrf.encode(), given.encode())


def came_over_https(request: web.Request, settings: Settings) -> bool:
    """Whether the browser reached us over HTTPS: directly, or through a trusted proxy that
    says so in X-Forwarded-Proto (the first value: the client's side of the first proxy)."""
    if request.secure:
        return True
    if not settings.trust_forwarded_proto:
        return False
    forwarded = request.headers.get("X-Forwarded-Proto", "")
    return forwarded.split(",", 1)[0].strip().lower() == "https"


def set_cookie(
    response: web.StreamResponse,
    request: web.Request,
    name: str,
    value: str,
    max_age: int,
    *,
    settings: Settings | None = None,
) -> None:
    """Set an HttpOnly, SameSite=Strict cookie, Secure when the browser came over HTTPS."""
    secure = came_over_https(request, settings) if settings is not None else request.secure
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=secure,
    )
