"""docker-compose.yml, the deployment path, agrees with the code it deploys.

No Docker engine is needed: the file is read as YAML and checked against the settings, the WSGI
module and the Celery app, which are read as source (importing the settings would need a
database URL and a secret key, and a test folder named like a package could shadow it).
"""

import ast
import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DJANGO_SERVICES = ("web", "worker", "beat")
BACKING_SERVICES = ("postgres", "redis")
CORE_VARIABLES = (
    "DJANGO_DEBUG",
    "DJANGO_SECRET_KEY",
    "DJANGO_ALLOWED_HOSTS",
    "DATABASE_URL",
    "REDIS_URL",
)
# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?][^}]*)?\}")


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose):
    return compose["services"]


def interpolate(value):
    """What compose would pass on, with every ${VAR...} replaced by a sample value."""
    return INTERPOLATION.sub(lambda m: f"sample-{m.group(1).lower()}", str(value)).replace(
        "$$", "$"
    )


def environment(service):
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def command(service):
    cmd = service.get("command", [])
    return shlex.split(cmd) if isinstance(cmd, str) else [str(part) for part in cmd]


def depends_on(service):
    deps = service.get("depends_on", {})
    return {name: {} for name in deps} if isinstance(deps, list) else deps


def assigned_names(path):
    """Top-level names a module assigns, mapped to the assigned expression."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    names[target.id] = node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = node.value
    return names


def settings_variables():
    """(every variable settings.py reads, those it reads without a default)."""
    tree = ast.parse((ROOT / "consortium" / "settings.py").read_text())
    read, required = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and is_env_reader(node.func):
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                read.add(first.value)
                has_default = len(node.args) > 1 or any(kw.arg == "default" for kw in node.keywords)
                if not has_default and not is_optional_reader(node.func):
                    required.add(first.value)
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
            if isinstance(node.slice, ast.Constant):
                read.add(node.slice.value)
                required.add(node.slice.value)
    return read, required


def is_env_reader(func):
    # env("X"), env.bool("X"), env.db("X"), ... (django-environ) and os.environ.get / os.getenv.
    name = ast.unparse(func)
    return name == "env" or name.startswith("env.") or is_optional_reader(func)


def is_optional_reader(func):
    return ast.unparse(func) in ("os.environ.get", "os.getenv")


def test_it_defines_the_five_services(services):
    assert set(DJANGO_SERVICES + BACKING_SERVICES) <= set(services)


def test_it_serves_web_with_gunicorn_on_the_projects_wsgi_application(services):
    cmd = command(services["web"])
    assert cmd[0] == "gunicorn"
    assert "consortium.wsgi:application" in cmd
    wsgi = ROOT / "consortium" / "wsgi.py"
    assert wsgi.is_file(), "gunicorn is pointed at consortium.wsgi, which does not exist"
    assert "application" in assigned_names(wsgi), "consortium/wsgi.py defines no `application`"


def test_it_runs_worker_and_beat_from_the_projects_celery_app(services):
    assert command(services["worker"])[:4] == ["celery", "-A", "consortium", "worker"]
    assert command(services["beat"])[:4] == ["celery", "-A", "consortium", "beat"]
    # `celery -A consortium` finds the app as consortium.celery.app.
    celery_module = ROOT / "consortium" / "celery.py"
    assert celery_module.is_file(), "celery -A consortium needs consortium/celery.py"
    app = assigned_names(celery_module).get("app")
    assert isinstance(app, ast.Call) and ast.unparse(app.func).endswith("Celery")


def test_it_keeps_beats_schedule_file_in_a_writable_place(services):
    # The image runs as a non-root user that cannot write to /app.
    cmd = command(services["beat"])
    assert cmd[cmd.index("--schedule") + 1].startswith("/tmp/")


def test_it_gives_web_worker_and_beat_the_same_django_environment(services):
    web, worker, beat = (environment(services[name]) for name in DJANGO_SERVICES)
    for name in CORE_VARIABLES:
        assert name in web, f"web does not set {name}"
    assert web == worker == beat


def test_it_sets_the_variables_the_settings_read(services):
    read, required = settings_variables()
    for name in CORE_VARIABLES:
        assert name in read, f"consortium/settings.py does not read {name}"
    web = environment(services["web"])
    missing = required - set(web)
    assert not missing, f"settings require {sorted(missing)}, which compose does not set"


def test_it_runs_django_with_debug_off_and_a_secret_key_the_operator_must_give(services):
    web = environment(services["web"])
    assert web["DJANGO_DEBUG"] == "0"
    # The key is never written in the file; compose refuses to start without it.
    assert re.fullmatch(r"\$\{DJANGO_SECRET_KEY:\?[^}]+\}", web["DJANGO_SECRET_KEY"])


def test_it_points_database_url_at_the_postgres_service(services):
    url = urlsplit(interpolate(environment(services["web"])["DATABASE_URL"]))
    postgres_env = environment(services["postgres"])
    assert url.scheme in ("postgres", "postgresql")
    assert url.hostname == "postgres"
    assert url.port == 5432
    assert url.path.lstrip("/") == postgres_env["POSTGRES_DB"]
    assert url.username == postgres_env["POSTGRES_USER"]
    assert url.password == interpolate(postgres_env["POSTGRES_PASSWORD"])


def test_it_points_redis_url_at_the_redis_service(services):
    url = urlsplit(interpolate(environment(services["web"])["REDIS_URL"]))
    assert url.scheme == "redis"
    assert url.hostname == "redis"
    assert url.port in (None, 6379)


def test_it_starts_django_services_only_after_postgres_and_redis_are_healthy(services):
    for name in DJANGO_SERVICES:
        deps = depends_on(services[name])
        for backing in BACKING_SERVICES:
            assert deps.get(backing, {}).get("condition") == "service_healthy", (
                f"{name} must wait for {backing} to be healthy"
            )


def test_it_gives_every_depended_on_service_a_healthcheck(services):
    depended_on = {dep for service in services.values() for dep in depends_on(service)}
    for name in depended_on | {"web"}:
        healthcheck = services[name].get("healthcheck", {})
        assert healthcheck.get("test"), f"{name} has no healthcheck"
        assert not healthcheck.get("disable", False)


def test_it_declares_every_named_volume_at_top_level(compose, services):
    declared = set(compose.get("volumes") or {})
    used = set()
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.get("source", "") if isinstance(volume, dict) else volume.split(":")[0]
            if source and not source.startswith((".", "/", "~", "$")):
                used.add(source)
    assert used, "postgres and redis should keep their data in named volumes"
    assert used <= declared, f"undeclared volumes: {sorted(used - declared)}"
