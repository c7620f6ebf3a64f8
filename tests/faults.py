"""Real processes for the fault tests (pytest -m fault): a dedicated Redis server that a test
stops and starts, and Celery workers as separate processes that a test can SIGKILL. Nothing is
mocked: the app talks to these over TCP exactly as in production."""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.test import override_settings

from consortium.celery import app as celery_app

REPO_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, *, timeout=120.0, what="the condition", log=None):
    """Poll until `predicate()` holds; on time-out say what was awaited, with `log()` (a
    worker's output, say)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n{log() if log else ''}"
        time.sleep(0.1)


class RedisServer:
    """A redis-server of its own on a free port, without persistence (like the suite's)."""

    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="nbtc-fault-redis-")
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def answers(self) -> bool:
        try:
            return redis.Redis(port=self.port, socket_connect_timeout=0.5).ping()
        except redis.exceptions.ConnectionError:
            return False

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - fixed arguments
            [  # noqa: S607 - the suite's redis-server, from PATH as in scripts/services.sh
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self.answers, timeout=20, what=f"redis-server on port {self.port}")

    def kill(self, sig=signal.SIGKILL) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=20)
        assert not self.answers()


@pytest.fixture
def own_redis():
    """The cache and the Celery broker pointed at a Redis of the test's own, which it may
    kill, and which no other test's leftover messages reach."""
    server = RedisServer()
    server.start()
    broker = celery_app.conf.broker_url
    celery_app.conf.broker_url = server.url
    cache = {"default": {**settings.CACHES["default"], "LOCATION": server.url}}  # as configured
    try:
        with override_settings(CACHES=cache):
            yield server
    finally:
        celery_app.conf.broker_url = broker
        server.kill()


def suite_database_url() -> str:
    """The test database, for processes started by a test (transactional tests commit)."""
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


class WorkerProcess:
    """`celery -A consortium worker --pool=solo` in its own process, on the given broker and
    the test database; its log is kept for the assertion messages."""

    def __init__(self, broker_url: str, **env):
        self.log = tempfile.NamedTemporaryFile(prefix="nbtc-fault-worker-", suffix=".log")
        self.process = subprocess.Popen(  # noqa: S603 - fixed arguments
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "consortium",
                "worker",
                "--pool=solo",
                "--concurrency=1",
                "--without-mingle",
                "--without-gossip",
                "--loglevel=INFO",
                f"--hostname=fault-{os.getpid()}-{time.monotonic_ns()}@%h",
            ],
            cwd=REPO_ROOT,
            env={
                **os.environ,
                "DATABASE_URL": suite_database_url(),
                "REDIS_URL": broker_url,
                **env,
            },
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")[-15000:]

    def kill(self) -> None:
        """SIGKILL: no warm shutdown, no chance to give the task back."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


@contextmanager
def worker(broker_url: str, **env):
    process = WorkerProcess(broker_url, **env)
    try:
        yield process
    finally:
        process.stop()


class SuiteDatabaseServer:
    """The suite's own PostgreSQL cluster (scripts/services.sh), stopped and started again by
    a test with pg_ctl as the cluster's owner. Found from the server itself (its data folder
    and major version), so it works wherever services.sh put it."""

    def __init__(self):
        with connection.cursor() as cursor:
            cursor.execute("SHOW data_directory")
            self.data = cursor.fetchone()[0]
            cursor.execute("SHOW server_version_num")
            major = int(cursor.fetchone()[0]) // 10000
        self.pg_ctl = Path(f"/usr/lib/postgresql/{major}/bin/pg_ctl")
        self.log = Path(self.data).parent / "postgres.log"

    def usable(self) -> bool:
        return self.pg_ctl.exists() and Path(self.data, "PG_VERSION").exists()

    def _pg_ctl(self, *args) -> None:
        command = [str(self.pg_ctl), *args, "-D", self.data, "-w", "-t", "60"]
        if os.geteuid() == 0:  # postgres refuses to run as root (see scripts/services.sh)
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, cwd="/", capture_output=True)  # noqa: S603

    def stop(self) -> None:
        """Fast shutdown: sessions are ended, as in a restart or fail-over."""
        self._pg_ctl("stop", "-m", "fast")

    def start(self) -> None:
        self._pg_ctl("start", "-l", str(self.log))
