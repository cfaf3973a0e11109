"""compose.yaml, Dockerfile, .env.example and .dockerignore, checked without a Docker engine.

compose.yaml is validated against the Compose Specification JSON schema that the
`check-jsonschema` package vendors (`check_jsonschema/builtin_schemas/vendor/compose-spec.json`),
then held to the deployment rules: one beat, scalable workers, no secrets in the file.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML is needed to read compose.yaml")
jsonschema = pytest.importorskip(
    "jsonschema", reason="jsonschema (installed with check-jsonschema) validates compose.yaml"
)
pytest.importorskip(
    "check_jsonschema", reason="check-jsonschema ships the Compose Specification schema"
)

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_TEXT = (ROOT / "compose.yaml").read_text(encoding="utf-8")
APP_SERVICES = ("migrate", "worker", "beat")
APP_VARIABLES = (
    "CAMPAIGNS_DATABASE_URL",
    "CAMPAIGNS_BROKER_URL",
    "CAMPAIGNS_SMTP_URL",
    "CAMPAIGNS_MAIL_FROM",
    "CAMPAIGNS_TIMEZONE",
)
# ${NAME}, ${NAME:-default}, ${NAME:?error}; `$$` is a literal dollar sign in Compose.
_REFERENCE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def _environment(service: dict[str, Any]) -> dict[str, str]:
    return {key: str(value) for key, value in service.get("environment", {}).items()}


def _depends_on(service: dict[str, Any]) -> dict[str, str]:
    return {name: spec["condition"] for name, spec in service.get("depends_on", {}).items()}


def _env_example() -> dict[str, tuple[str, bool]]:
    """Variable -> (value, whether it is commented out) for every `NAME=value` line."""
    found = {}
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"(#\s*)?([A-Z][A-Z0-9_]*)=(.*)", line.strip())
        if match:
            found[match[2]] = (match[3], match[1] is not None)
    return found


@pytest.fixture(scope="module")
def validator() -> Any:
    schema_file = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    return jsonschema.Draft202012Validator(json.loads(schema_file.read_text(encoding="utf-8")))


def test_compose_file_follows_the_compose_specification(
    compose: dict[str, Any], validator: Any
) -> None:
    errors = [
        f"{list(error.absolute_path)}: {error.message}" for error in validator.iter_errors(compose)
    ]
    assert errors == []


def test_the_schema_rejects_what_compose_would(compose: dict[str, Any], validator: Any) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["worker"]["depends_on"]["migrate"]["condition"] = "service_finished"
    assert not validator.is_valid(broken)


def test_every_service_is_there(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == {"redis", "postgres", "migrate", "worker", "beat", "flower", "mailpit"}


def test_redis_keeps_tasks_on_disk_and_never_evicts(services: dict[str, dict[str, Any]]) -> None:
    redis = services["redis"]
    assert redis["image"].startswith("redis:7")
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command
    assert "--maxmemory-policy noeviction" in command
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert any(volume.endswith(":/data") for volume in redis["volumes"])


def test_postgres_password_must_come_from_the_environment(
    services: dict[str, dict[str, Any]],
) -> None:
    postgres = services["postgres"]
    assert postgres["image"] == "postgres:16"
    assert "pg_isready" in postgres["healthcheck"]["test"]
    assert postgres["volumes"][0].endswith(":/var/lib/postgresql/data")
    password = _environment(postgres)["POSTGRES_PASSWORD"]
    assert re.fullmatch(r"\$\{POSTGRES_PASSWORD:\?[^}]+\}", password)


def test_app_services_run_the_app_image_with_the_whole_configuration(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in APP_SERVICES:
        service = services[name]
        assert service["build"] == "."
        assert set(APP_VARIABLES) <= set(_environment(service)), name
    environment = _environment(services["worker"])
    assert environment["CAMPAIGNS_SMTP_URL"] == "${CAMPAIGNS_SMTP_URL:-smtp://mailpit:1025}"
    assert environment["CAMPAIGNS_BROKER_URL"] == "redis://redis:6379/0"
    assert environment["CAMPAIGNS_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert [services[name]["command"] for name in APP_SERVICES] == [["init"], ["worker"], ["beat"]]


def test_migrate_runs_once_when_the_stores_are_healthy(
    services: dict[str, dict[str, Any]],
) -> None:
    migrate = services["migrate"]
    assert migrate["restart"] == "no"
    assert _depends_on(migrate) == {"postgres": "service_healthy", "redis": "service_healthy"}


def test_worker_and_beat_wait_for_the_migration(services: dict[str, dict[str, Any]]) -> None:
    for name in ("worker", "beat"):
        assert _depends_on(services[name])["migrate"] == "service_completed_successfully"


def test_workers_can_be_scaled(services: dict[str, dict[str, Any]]) -> None:
    worker = services["worker"]
    assert "container_name" not in worker
    assert "ports" not in worker
    assert "replicas" not in worker.get("deploy", {})
    # Long enough for the warm shutdown to finish a task rather than be killed mid-way.
    assert worker["stop_grace_period"] == "90s"


def test_there_is_exactly_one_beat(services: dict[str, dict[str, Any]]) -> None:
    beat = services["beat"]
    assert beat["deploy"]["replicas"] == 1
    assert "scale" not in beat


def test_monitoring_and_mail_catcher_listen_on_loopback_only(
    services: dict[str, dict[str, Any]],
) -> None:
    assert services["flower"]["ports"] == ["127.0.0.1:5555:5555"]
    assert "--port=5555" in services["flower"]["command"]
    assert services["mailpit"]["image"].startswith("axllent/mailpit")
    assert sorted(services["mailpit"]["ports"]) == ["127.0.0.1:1025:1025", "127.0.0.1:8025:8025"]
    published = [port for service in services.values() for port in service.get("ports", [])]
    assert all(port.startswith("127.0.0.1:") for port in published)


def test_no_secret_is_written_in_compose_yaml(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for key, value in _environment(service).items():
            if re.search(r"PASSWORD|SECRET|TOKEN|KEY", key):
                assert re.fullmatch(r"\$\{[A-Z0-9_]+(:\?[^}]*)?\}", value), (name, key)
    # A password inside a URL must be a required variable, never a literal or a default.
    for password in re.findall(r"://[^/\s:@]+:([^@\s]+)@", COMPOSE_TEXT):
        assert re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]*\}", password), password
    for name, operator, default in _REFERENCE.findall(COMPOSE_TEXT):
        if re.search(r"PASSWORD|SECRET|TOKEN|KEY", name):
            assert operator in ("?", ":?"), f"{name} has a default value: {default}"


def test_every_referenced_variable_is_in_env_example() -> None:
    example = _env_example()
    for name, operator, _ in _REFERENCE.findall(COMPOSE_TEXT):
        assert name in example, name
        value, commented = example[name]
        if operator.endswith("?"):
            # Required: present, uncommented and empty, so compose stops until it is set.
            assert (value, commented) == ("", False), name


def test_env_example_holds_placeholders_only() -> None:
    for name, (value, _) in _env_example().items():
        if re.search(r"PASSWORD|SECRET|TOKEN|KEY", name):
            assert value == "", name
        assert not re.search(r"://[^/\s@]*:[^@\s]*@", value), name


def test_dockerfile_installs_the_locked_dependencies_before_the_code() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    stages = [index for index, line in enumerate(lines) if line.startswith("FROM ")]
    assert [lines[index].split()[1] for index in stages] == ["python:3.11-slim"] * 2

    def position(text: str) -> int:
        return next(index for index, line in enumerate(lines) if text in line)

    assert (
        position('pip install --no-cache-dir "uv==')
        < position("COPY pyproject.toml uv.lock ./")
        < position("uv sync --frozen --no-dev --no-install-project")
        < position("COPY campaigns ./campaigns")
        < position("uv sync --frozen --no-dev --no-editable")
    )
    final_stage = lines[stages[-1] :]
    assert [line for line in final_stage if line.startswith("USER ")] == ["USER campaigns"]
    assert final_stage[-2:] == ['ENTRYPOINT ["campaigns"]', 'CMD ["--help"]']


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_image() -> None:
    ignored = set((ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines())
    assert {".env", ".git", ".venv", "campaigns-data"} <= ignored
