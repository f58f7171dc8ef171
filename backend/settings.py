"""Settings: one pydantic-settings class, built in the entry point and passed down."""

from __future__ import annotations

import hashlib
import hmac
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "PSYCHOGRAPH_"
TELEGRAM_BASE_URL = "https://api.telegram.org/bot"
#: Where ``psychograph sandbox`` listens by default, and the token it answers to.
SANDBOX_BASE_URL = "http://127.0.0.1:8081/bot"
SANDBOX_TOKEN = "123456789:AAsandbox-local-token-not-for-telegram00"
TOKEN_NEEDED = (
    "PSYCHOGRAPH_TELEGRAM=telegram needs PSYCHOGRAPH_BOT_TOKEN (the token @BotFather gave the bot)"
)


class Role(StrEnum):
    """What an API token may do."""

    OPS = "ops"
    MARKETER = "marketer"
    ANALYST = "analyst"


class SettingsError(Exception):
    """A setting is missing or invalid; the message is one line naming the variable."""


class Settings(BaseSettings):
    """Everything Psychograph reads from its environment (prefix ``PSYCHOGRAPH_``)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    database_url: str = Field(
        default="sqlite:///psychograph.db",
        description="SQLAlchemy URL: sqlite:///path.db (embedded) or postgresql+psycopg://…",
    )
    db_pool_size: int | None = Field(
        default=None,
        ge=1,
        le=100,
        description="PostgreSQL connections each process keeps open, and the bot's database "
        "threads; up to 10 more open at a burst. Default: 4.",
    )
    telegram: Literal["sandbox", "telegram"] = Field(
        default="sandbox",
        description="Which Bot API the bot talks to: sandbox (the local one of `psychograph "
        "sandbox`, the demo and the tests) or telegram (needs PSYCHOGRAPH_BOT_TOKEN).",
    )
    bot_token: SecretStr | None = Field(
        default=None,
        description="Telegram bot token from @BotFather; the sandbox's own when unset in "
        "sandbox mode.",
    )
    telegram_base_url: str | None = Field(
        default=None,
        description=f"Bot API base URL, the token is appended; default: {TELEGRAM_BASE_URL} "
        f"(telegram) or {SANDBOX_BASE_URL} (sandbox).",
    )
    api_tokens: Annotated[dict[str, Role], NoDecode] = Field(
        default_factory=dict,
        description="Comma-separated role:token pairs, e.g. ops:s3cret,marketer:t0ken.",
    )
    callback_secret: SecretStr | None = Field(
        default=None,
        description="Key that signs button data; default: derived from the bot token.",
    )
    erasure_secret: SecretStr | None = Field(
        default=None,
        description="Key of the hashes that recognise erased users' late updates; default: "
        "derived from the callback secret or the bot token.",
    )
    webhook_url: str | None = Field(
        default=None, description="Public HTTPS URL Telegram posts updates to; unset polls."
    )
    webhook_secret: SecretStr | None = Field(
        default=None, description="Secret Telegram sends in X-Telegram-Bot-Api-Secret-Token."
    )
    recluster_cron: str | None = Field(
        default="0 3 * * *",
        description="Cron expression (minute hour day month weekday) for re-clustering.",
    )
    recluster_after_completions: int = Field(
        default=500, ge=0, description="Also re-cluster after this many new completions (0: off)."
    )
    segmentation_seed: int | None = Field(
        default=0,
        description="Seed of re-clustering's random choices: the same answers give the same "
        "segments. Empty: a fresh draw each run.",
    )
    dispatch_interval_seconds: float = Field(
        default=10.0, gt=0, description="How often the follow-up dispatcher looks for due items."
    )
    dashboard_session_hours: float = Field(
        default=8.0,
        gt=0,
        le=24 * 30,
        description="How long a dashboard sign-in lasts before the browser must sign in again.",
    )
    trust_forwarded_proto: bool = Field(
        default=False,
        description="Believe the proxy's X-Forwarded-Proto: https marks the dashboard cookie "
        "Secure. Only behind a proxy that sets the header itself.",
    )
    followup_quiet_hours: str = Field(
        default="21:00-09:00",
        description="Local time in which follow-ups wait (HH:MM-HH:MM, or off); applies to "
        "respondents who told the bot their time zone. A content pack may set its own.",
    )
    followup_frequency_cap: int = Field(
        default=3,
        ge=0,
        description="At most this many follow-ups to one respondent per cap period (0: no "
        "cap); more wait. A content pack may set its own.",
    )
    followup_cap_days: float = Field(
        default=7.0, gt=0, description="The frequency cap's period, in days."
    )
    http_host: str = Field(default="127.0.0.1", description="Address the HTTP server binds to.")
    http_port: int = Field(default=8080, ge=1, le=65535, description="Port of the HTTP server.")
    log_format: str = Field(default="text", pattern="^(text|json)$", description="text or json.")

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        scheme = value.split(":", 1)[0].split("+", 1)[0]
        if scheme not in {"sqlite", "postgresql"}:
            raise ValueError(f"expected a sqlite:/// or postgresql:// URL, got {scheme!r}")
        return value

    @field_validator("telegram_base_url", "webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value

    @field_validator("recluster_cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        # Loaded when settings are built, not by modules that only read the constants above.
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(value)
        except ValueError as exc:
            raise ValueError(f"not a cron expression ({exc}): {value!r}") from None
        return value

    @field_validator("followup_quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str) -> str:
        # The followups package loads the storage layer: only when settings are built.
        from backend.followups.policy import parse_quiet_hours

        parse_quiet_hours(value)
        return value

    @field_validator("segmentation_seed", mode="before")
    @classmethod
    def _seed(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("api_tokens", mode="before")
    @classmethod
    def _tokens(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        tokens: dict[str, str] = {}
        for pair in filter(None, (p.strip() for p in value.split(","))):
            role, sep, token = pair.partition(":")
            if not sep or not token:
                raise ValueError(f"expected role:token pairs separated by commas, got {pair!r}")
            if role not in Role.__members__.values():
                roles = ", ".join(r.value for r in Role)
                raise ValueError(f"unknown role {role!r} (roles: {roles})")
            if len(token) < 12:
                raise ValueError(f"the {role} token is shorter than 12 characters")
            tokens[token] = role
        return tokens

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> Settings:
        if self.webhook_url and self.webhook_secret is None:
            raise ValueError(
                "PSYCHOGRAPH_WEBHOOK_URL is set without PSYCHOGRAPH_WEBHOOK_SECRET: Telegram "
                "must prove each update with a secret"
            )
        return self

    @model_validator(mode="after")
    def _telegram_needs_token(self) -> Settings:
        if self.telegram == "telegram" and self.bot_token is None:
            raise ValueError(TOKEN_NEEDED)
        return self

    @property
    def bot_api_url(self) -> str:
        """The Bot API the bot talks to: the configured URL or the mode's default."""
        if self.telegram_base_url:
            return self.telegram_base_url
        return TELEGRAM_BASE_URL if self.telegram == "telegram" else SANDBOX_BASE_URL

    @property
    def bot_api_token(self) -> str:
        """The bot's token: the configured one, or the sandbox's in sandbox mode."""
        if self.bot_token is not None:
            return self.bot_token.get_secret_value()
        if self.telegram == "sandbox":
            return SANDBOX_TOKEN
        raise SettingsError(TOKEN_NEEDED)  # settings copied past validation

    @property
    def uses_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def sqlite_path(self) -> Path | None:
        if not self.uses_sqlite:
            return None
        path = self.database_url.split(":///", 1)[1] if ":///" in self.database_url else ""
        return Path(path) if path and path != ":memory:" else None

    def erasure_key(self) -> bytes:
        """The key of the erasure tombstones' hashes: every instance derives the same one."""
        secret = self.erasure_secret or self.callback_secret or self.bot_token
        material = secret.get_secret_value().encode() if secret is not None else b""
        return hmac.new(b"psychograph-erasure-v1", material, hashlib.sha256).digest()

    def role_for(self, token: str) -> Role | None:
        """Return the role of an API token, comparing every known token in constant time."""
        found: Role | None = None
        for known, role in self.api_tokens.items():
            if hmac.compare_digest(known.encode(), token.encode()):
                # Settings built with model_copy skip validation: a role may be plain text.
                found = Role(role)
        return found


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, turning a validation error into one line naming the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        if not first["loc"]:  # a rule across settings names its variables itself
            raise SettingsError(message) from None
        variable = f"{ENV_PREFIX}{str(first['loc'][0]).upper()}"
        raise SettingsError(f"{variable}: {message}") from None
