"""docker-compose.yml and the Dockerfile, read as files: no Docker engine runs the tests."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
POSTGRES_INIT = ROOT / "docker" / "postgres-init"

SERVICES = {"postgres", "redis", "web", "worker", "sweeper", "beat"}
APP_SERVICES = ("web", "worker", "sweeper", "beat")
REQUIRED_KEYS = ("SECRET_KEY", "DSAR_BUNDLE_KEY", "DSAR_AUDIT_KEY")


@pytest.fixture(scope="module")
def compose() -> dict:
    # safe_load resolves the YAML anchors and `<<:` merges, as compose does.
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def command_text(service: dict) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else command


def environment(service: dict) -> dict:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return env


def volume_targets(service: dict) -> set[str]:
    targets = set()
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            targets.add(volume["target"])
        else:
            targets.add(volume.split(":")[1])
    return targets


def test_it_defines_the_five_services(services):
    assert set(services) >= SERVICES


def test_web_runs_gunicorn_with_the_wsgi_app_and_the_config_file(services):
    command = command_text(services["web"])
    assert "gunicorn" in command
    assert "config.wsgi:application" in command
    assert "-c config/gunicorn.conf.py" in command
    assert (ROOT / "config" / "gunicorn.conf.py").is_file()


def test_migrations_run_once_as_the_owner_then_the_application_role_gets_its_rights(services):
    migrate = services["migrate"]
    command = command_text(migrate)
    assert "manage.py migrate --noinput" in command
    assert command.index("migrate --noinput") < command.index("grant_app_role dsar_app")
    assert environment(migrate)["DATABASE_URL"].startswith("postgres://dsar_owner:")
    assert migrate["restart"] == "no"
    assert "migrate" not in migrate["depends_on"]


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_start_after_the_migrations_and_never_migrate(services, name):
    condition = services[name]["depends_on"]["migrate"]["condition"]
    assert condition == "service_completed_successfully"
    assert "migrate" not in command_text(services[name])


def test_web_runs_the_database_checks_before_it_serves(services):
    command = command_text(services["web"])
    assert "manage.py check --database default" in command
    assert command.index("check --database") < command.index("gunicorn")


def test_web_publishes_port_8000(services):
    assert any(str(port).endswith("8000") for port in services["web"]["ports"])


def test_worker_runs_a_celery_worker(services):
    assert re.search(r"\bcelery -A config worker\b", command_text(services["worker"]))


def test_the_sweeper_consumes_the_sweep_queue_and_the_worker_the_rest(services, settings):
    sweeper, worker = command_text(services["sweeper"]), command_text(services["worker"])
    assert re.search(r"\bcelery -A config worker\b", sweeper)
    assert f"-Q {settings.DSAR_SWEEP_QUEUE}" in sweeper
    assert f"-Q {settings.CELERY_TASK_DEFAULT_QUEUE}" in worker
    assert "inspect ping" in " ".join(services["sweeper"]["healthcheck"]["test"])


def test_beat_runs_celery_beat_with_its_schedules_in_the_database(services, settings):
    command = command_text(services["beat"])
    assert re.search(r"\bcelery -A config beat\b", command)
    assert "celerybeat-schedule" not in command and "--schedule" not in command
    # The scheduler comes from settings (the same image and environment as every service).
    assert settings.CELERY_BEAT_SCHEDULER == "casework.beat:HeartbeatScheduler"


def test_beat_healthcheck_reads_the_heartbeat_its_scheduler_writes(services):
    test = services["beat"]["healthcheck"]["test"]
    text = " ".join(test) if isinstance(test, list) else test
    assert "manage.py check_beat" in text
    assert "celerybeat-schedule" not in text


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_has_a_healthcheck(services, name):
    healthcheck = services[name].get("healthcheck")
    assert healthcheck, f"{name} has no healthcheck"
    assert healthcheck.get("test"), f"{name}'s healthcheck has no test"
    assert not healthcheck.get("disable")


def test_web_healthcheck_calls_healthz_without_curl(services):
    test = services["web"]["healthcheck"]["test"]
    text = " ".join(test) if isinstance(test, list) else test
    assert "http://127.0.0.1:8000/healthz" in text
    assert "urllib" in text
    assert "curl" not in text


def test_worker_healthcheck_pings_the_worker(services):
    test = services["worker"]["healthcheck"]["test"]
    text = " ".join(test) if isinstance(test, list) else test
    assert "inspect ping" in text


@pytest.mark.parametrize(
    ("name", "target"), [("postgres", "/var/lib/postgresql/data"), ("redis", "/data")]
)
def test_databases_keep_their_data_on_named_volumes(compose, services, name, target):
    assert target in volume_targets(services[name])
    named = {v.split(":")[0] for v in services[name]["volumes"] if isinstance(v, str)}
    assert named & set(compose["volumes"]), f"{name} does not use a named volume"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_wait_for_healthy_postgres_and_redis(services, name):
    depends_on = services[name]["depends_on"]
    assert isinstance(depends_on, dict), "depends_on needs conditions, not a bare list"
    for dependency in ("postgres", "redis"):
        assert depends_on[dependency]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_run_hardened_against_postgres_and_redis(services, name):
    env = environment(services[name])
    assert env["DSAR_SECURE"] == "1"
    assert env["DATABASE_URL"].startswith("postgres://dsar_app:")
    assert env["DATABASE_URL"].endswith("@postgres:5432/dsar")
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    assert env["DSAR_VAR_DIR"] == "/var/lib/dsar"
    assert "127.0.0.1" in env["ALLOWED_HOSTS"].split(","), "the web healthcheck needs it"


def test_postgres_creates_the_two_roles_from_the_init_script(services):
    postgres = services["postgres"]
    assert "./docker/postgres-init:/docker-entrypoint-initdb.d:ro" in postgres["volumes"]
    script = (POSTGRES_INIT / "10-dsar-roles.sh").read_text()
    assert "${DSAR_DB_OWNER:-dsar_owner}" in script and "${DSAR_DB_APP:-dsar_app}" in script
    for role in ('CREATE ROLE :"owner"', 'CREATE ROLE :"app"'):
        (line,) = [line for line in script.splitlines() if line.startswith(role)]
        assert "NOSUPERUSER NOCREATEDB NOCREATEROLE" in line
    # The image's own user is the superuser: it must not be one of ours.
    assert "POSTGRES_USER" not in environment(postgres)


def test_only_the_migrations_connect_as_the_owner(services):
    users = {
        name: re.match(r"postgres://([^:@]+)[:@]", environment(service)["DATABASE_URL"])[1]
        for name, service in services.items()
        if "DATABASE_URL" in environment(service)
    }
    assert users == {"migrate": "dsar_owner", **{name: "dsar_app" for name in APP_SERVICES}}


@pytest.mark.parametrize(
    "key", ("POSTGRES_PASSWORD", "DSAR_DB_OWNER_PASSWORD", "DSAR_DB_APP_PASSWORD")
)
def test_database_passwords_come_from_the_host_and_are_required(services, key):
    value = environment(services["postgres"])[key]
    assert re.fullmatch(rf"\$\{{{key}:\?[^}}]+\}}", value), f"{key}={value!r} is not required"


@pytest.mark.parametrize("name", APP_SERVICES)
@pytest.mark.parametrize("key", REQUIRED_KEYS)
def test_keys_come_from_the_host_and_are_required(services, name, key):
    value = environment(services[name])[key]
    assert re.fullmatch(rf"\$\{{{key}:\?[^}}]+\}}", value), f"{key}={value!r} is not required"


def test_app_services_share_one_environment_block(compose, services):
    shared = compose["x-app-env"]
    for name in APP_SERVICES:
        env = environment(services[name])
        assert {k: env[k] for k in shared} == shared


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_share_the_data_volume(compose, services, name):
    mounts = [v for v in services[name]["volumes"] if isinstance(v, str)]
    assert "dsar-data:/var/lib/dsar" in mounts
    assert "dsar-data" in compose["volumes"]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    text = DOCKERFILE.read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    result = []
    for line in joined.splitlines():
        if line.strip():
            instruction, _, arguments = line.strip().partition(" ")
            result.append((instruction.upper(), arguments))
    return result


def test_the_dockerfile_exists_and_defaults_to_gunicorn():
    assert DOCKERFILE.is_file()
    instructions = dockerfile_instructions()
    starts = [args for name, args in instructions if name in {"CMD", "ENTRYPOINT"}]
    assert starts, "no CMD or ENTRYPOINT"
    assert any("gunicorn" in args for args in starts)


def test_the_dockerfile_builds_a_non_root_slim_image():
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim-bookworm")
    users = [args.strip() for name, args in instructions if name == "USER"]
    assert users and users[-1] not in {"root", "0"}
    assert ("EXPOSE", "8000") in instructions
    runs = " ".join(args for name, args in instructions if name == "RUN")
    for package in ("libpango-1.0-0", "libpangoft2-1.0-0", "libharfbuzz0b", "fonts-dejavu-core"):
        assert package in runs
    assert "pip install ." in runs
    assert "compilemessages" in runs
    assert "collectstatic --noinput" in runs


def test_the_build_context_leaves_out_local_state():
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", "var", ".git", "__pycache__"} <= ignored
