"""Static checks of deploy/ and docs/operations.md: they parse and agree with the settings.

No Docker engine or systemd is needed: the files are read, not run.
"""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest
import yaml

from backend.settings import ENV_PREFIX, Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
ENV_EXAMPLE = DEPLOY / ".env.example"
OPERATIONS = ROOT / "docs" / "operations.md"

#: Names in .env.example that are not Psychograph settings (read by compose.yaml).
COMPOSE_ONLY = {"POSTGRES_PASSWORD"}

ASSIGNMENT = re.compile(r"^(?P<key>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")


def variables() -> set[str]:
    return {ENV_PREFIX + name.upper() for name in Settings.model_fields}


def env_lines() -> tuple[dict[str, str], dict[str, str]]:
    """Return the active assignments and the commented-out ones (``# KEY=value``)."""
    active: dict[str, str] = {}
    commented: dict[str, str] = {}
    for number, raw in enumerate(ENV_EXAMPLE.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            found = ASSIGNMENT.match(line.lstrip("#").strip())
            if found:
                commented[found["key"]] = found["value"]
            continue
        found = ASSIGNMENT.match(line)
        assert found, f".env.example:{number}: not KEY=VALUE: {raw!r}"
        assert found["key"] not in active, f".env.example:{number}: {found['key']} twice"
        active[found["key"]] = found["value"]
    return active, commented


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No PSYCHOGRAPH_* variable or .env file of the caller leaks into Settings."""
    import os

    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


# --- .env.example --------------------------------------------------------------------------


def test_env_example_names_every_setting() -> None:
    active, commented = env_lines()
    missing = variables() - set(active) - set(commented)
    assert not missing, f"deploy/.env.example does not document {sorted(missing)}"


def test_env_example_active_lines_are_known_settings() -> None:
    active, _ = env_lines()
    for key in active:
        assert key.startswith(ENV_PREFIX), f"{key} lacks the {ENV_PREFIX} prefix"
        assert key in variables(), f"{key} is not a field of backend.settings.Settings"


def test_env_example_commented_names_are_known() -> None:
    _, commented = env_lines()
    unknown = set(commented) - variables() - COMPOSE_ONLY
    assert not unknown, f"deploy/.env.example names unknown variables {sorted(unknown)}"


def test_env_example_has_a_comment_above_every_setting() -> None:
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        found = ASSIGNMENT.match(line.lstrip("#").strip())
        if found and found["key"].startswith(ENV_PREFIX):
            above = lines[i - 1].strip() if i else ""
            message = f"{found['key']} has no comment line above it"
            assert above.startswith("#"), message
            assert not ASSIGNMENT.match(above.lstrip("#").strip()), message


def test_env_example_active_values_are_the_defaults(clean_environment: None) -> None:
    active, _ = env_lines()
    loaded = Settings(_env_file=str(ENV_EXAMPLE))  # type: ignore[call-arg]
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    for key in active:
        field = key.removeprefix(ENV_PREFIX).lower()
        assert getattr(loaded, field) == getattr(defaults, field), f"{key} is not the default"


def test_env_example_suggested_values_are_valid(clean_environment: None, tmp_path: Path) -> None:
    """Uncommenting every suggested value gives settings that load."""
    active, commented = env_lines()
    values = {**active, **{k: v for k, v in commented.items() if k not in COMPOSE_ONLY}}
    env_file = tmp_path / "all.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")
    settings = load_settings(_env_file=str(env_file))
    assert settings.bot_token is not None
    assert settings.webhook_url is not None
    assert settings.api_tokens


# --- docs/operations.md --------------------------------------------------------------------


def test_operations_doc_names_every_setting() -> None:
    text = OPERATIONS.read_text(encoding="utf-8")
    missing = sorted(v for v in variables() if v not in text)
    assert not missing, f"docs/operations.md does not document {missing}"


def test_operations_doc_names_every_metric() -> None:
    from prometheus_client import REGISTRY

    import backend.metrics  # noqa: F401  (registers the metrics)

    text = OPERATIONS.read_text(encoding="utf-8")
    names = {
        metric.name for metric in REGISTRY.collect() if metric.name.startswith("psychograph_")
    }
    assert names
    missing = sorted(n for n in names if n not in text)
    assert not missing, f"docs/operations.md does not name the metrics {missing}"


# --- compose.yaml --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def test_compose_services_and_volume(compose: dict) -> None:
    services = compose["services"]
    assert {"app", "postgres", "migrate"} <= set(services)
    assert services["postgres"]["image"].startswith("postgres:16")
    assert "pgdata" in compose["volumes"]
    assert any(v.startswith("pgdata:") for v in services["postgres"]["volumes"])


def test_compose_health_checks_and_order(compose: dict) -> None:
    services = compose["services"]
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert "/healthz" in " ".join(services["app"]["healthcheck"]["test"])
    app_deps = services["app"]["depends_on"]
    assert app_deps["postgres"]["condition"] == "service_healthy"
    assert app_deps["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["app"]["command"] == ["serve"]
    assert services["app"]["restart"] in {"unless-stopped", "always", "on-failure"}


def test_compose_app_uses_env_file_and_postgres(compose: dict) -> None:
    for name in ("app", "migrate"):
        service = compose["services"][name]
        assert service["env_file"] == ".env"
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
        url = service["environment"]["PSYCHOGRAPH_DATABASE_URL"]
        assert url.startswith("postgresql+psycopg://")
        assert "@postgres:5432/" in url
        assert service["environment"]["PSYCHOGRAPH_HTTP_HOST"] == "0.0.0.0"


# --- systemd -------------------------------------------------------------------------------


def test_systemd_unit() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(DEPLOY / "psychograph.service", encoding="utf-8")
    service = unit["Service"]
    assert service["ExecStart"].endswith("psychograph serve")
    assert service["ExecStartPre"].endswith("psychograph db upgrade")
    assert service["Restart"] == "on-failure"
    assert service["RestartSec"]
    assert int(service["TimeoutStopSec"]) > 10
    assert service["KillSignal"] == "SIGTERM"
    assert service["EnvironmentFile"] == "/etc/psychograph/psychograph.env"
    assert service["User"] not in {"", "root"}
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["WorkingDirectory"] in service["ReadWritePaths"].split()
    assert unit["Install"]["WantedBy"] == "multi-user.target"


# --- Dockerfile ----------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    joined = re.sub(r"\\\n", " ", text)
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def test_dockerfile() -> None:
    instructions = dockerfile_instructions()
    stages = [rest for keyword, rest in instructions if keyword == "FROM"]
    assert len(stages) >= 2
    users = [rest for keyword, rest in instructions if keyword == "USER"]
    assert users
    assert users[-1].split(":")[0] not in {"root", "0"}
    healthchecks = [rest for keyword, rest in instructions if keyword == "HEALTHCHECK"]
    assert healthchecks
    assert "/healthz" in healthchecks[-1]
    assert ("EXPOSE", "8080") in instructions
    assert ("ENTRYPOINT", '["psychograph"]') in instructions
    assert ("CMD", '["serve"]') in instructions
    env = " ".join(rest for keyword, rest in instructions if keyword == "ENV")
    assert "PSYCHOGRAPH_HTTP_HOST=0.0.0.0" in env
    assert any(keyword == "VOLUME" for keyword, _ in instructions)
    # The runtime stage takes only the venv from the builder.
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    runtime = instructions[last_from:]
    copies = [rest for keyword, rest in runtime if keyword == "COPY"]
    assert copies == ["--from=builder /opt/venv /opt/venv"]


def test_dockerignore_next_to_the_dockerfile_matches() -> None:
    """BuildKit reads deploy/Dockerfile.dockerignore; deploy/.dockerignore is its copy."""
    specific = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8")
    assert (DEPLOY / ".dockerignore").read_text(encoding="utf-8") == specific
    patterns = [p for p in specific.splitlines() if p and not p.startswith("#")]
    for needed in ("!pyproject.toml", "!README.md", "!backend/", "!bot/"):
        assert needed in patterns


# --- the scale profile: two workers behind nginx --------------------------------------------


def test_compose_scale_profile_runs_two_workers_behind_the_proxy(compose: dict) -> None:
    services = compose["services"]
    app, second, proxy = services["app"], services["app-2"], services["proxy"]
    assert "profiles" not in app  # the single worker still starts by default
    assert second["profiles"] == ["scale"]
    assert proxy["profiles"] == ["scale"]
    assert second["command"] == app["command"] == ["serve"]
    assert second["environment"] == app["environment"]
    assert second["env_file"] == app["env_file"]
    assert second["depends_on"] == app["depends_on"]
    assert "/readyz" in " ".join(second["healthcheck"]["test"])
    assert proxy["image"].startswith("nginx:")
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in proxy["volumes"]
    assert set(proxy["depends_on"]) == {"app", "app-2"}
    assert all(port.startswith("${") or port.startswith("127.0.0.1:") for port in proxy["ports"])


def test_nginx_conf_routes_the_webhook_to_both_workers_and_around_a_dead_one() -> None:
    conf = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    assert conf.count("{") == conf.count("}")
    upstream = re.search(r"upstream psychograph \{(?P<body>[^}]*)\}", conf)
    assert upstream is not None
    servers = re.findall(r"server (\S+)", upstream["body"])
    assert servers == ["app:8080", "app-2:8080"]
    webhook = re.search(r"location /telegram/webhook \{(?P<body>[^}]*)\}", conf)
    assert webhook is not None
    assert "proxy_pass http://psychograph;" in webhook["body"]
    assert re.search(r"proxy_next_upstream [^;]*\berror\b[^;]*\bhttp_503\b", webhook["body"])
    assert "listen 8080;" in conf
