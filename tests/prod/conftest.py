"""The production-path suite: PostgreSQL, Redis and real processes (gunicorn, qcluster, bin/run-prod).

How to run it
    bin/with-services .venv/bin/pytest -m prod      (`make test` and `make test-prod` do exactly this)
bin/with-services starts a throwaway PostgreSQL and Redis on loopback and exports DATABASE_URL and
REDIS_URL. Every test under tests/prod/ is marked `prod` automatically; the default run
(`pytest -m "not prod"`, SQLite) deselects them. Selected without those services, they fail loudly
(never skip). The Redis database behind REDIS_URL is flushed before each test: use a throwaway one.

Adding a test here
    Write it like any pytest-django test. For work done by another process, use the fixtures below:
    ``prod_env`` is the environment for a subprocess that must see this test's database, ``start`` starts
    a process that is stopped (with its children) after the test, ``start_gunicorn`` / ``start_qcluster``
    start the real servers, ``collected_static`` is a STATIC_ROOT filled by collectstatic.

How subprocesses see the test database
    pytest-django creates the test database `test_<NAME>` (here `test_loyalty_lists`) in
    ``django_db_setup``; afterwards ``connection.settings_dict["NAME"]`` is that name, and ``prod_env``
    hands subprocesses a DATABASE_URL pointing at it. Tests whose data another process must read (or
    that read what another process wrote) use the ``transactional_db`` fixture: the default ``db``
    fixture keeps each test inside a transaction that is rolled back, so no other connection sees it.
    ``transactional_db`` truncates the tables after the test instead; the process fixtures depend on it
    where needed so that processes are stopped (connections closed) before the truncation.
"""

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.prod.processes import GUNICORN, PYTHON, ROOT, Process, free_port, wait_for_http

HERE = Path(__file__).resolve().parent


def services_configured() -> bool:
    database_url = os.environ.get("DATABASE_URL", "")
    return database_url.startswith(("postgres://", "postgresql://")) and bool(os.environ.get("REDIS_URL"))


def pytest_itemcollected(item):
    if HERE in Path(str(item.path)).resolve().parents:
        item.add_marker(pytest.mark.prod)


@pytest.fixture(scope="session", autouse=True)
def _services_are_required():
    if not services_configured():
        pytest.fail(
            "The production-path tests need PostgreSQL (DATABASE_URL=postgres://...) and Redis (REDIS_URL):"
            " run them with `bin/with-services .venv/bin/pytest -m prod`, and the rest with"
            ' `pytest -m "not prod"`.',
            pytrace=False,
        )


@pytest.fixture(autouse=True)
def _empty_redis(_services_are_required):
    """Rate limits, cached values and queued tasks must not leak from one test into the next."""
    from django.core.cache import cache

    cache.clear()  # FLUSHDB on the Redis behind REDIS_URL (also django-q2's queue and cluster stats)
    yield
    cache.clear()


@pytest.fixture(scope="session")
def test_database_url(django_db_setup) -> str:
    """DATABASE_URL of the test database pytest-django created (test_<NAME>)."""
    from django.db import connection

    name = connection.settings_dict["NAME"]
    assert name.startswith("test_"), name
    return urlunsplit(urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{name}"))


@pytest.fixture
def prod_env(test_database_url) -> dict:
    """Environment for a subprocess that runs against this test's database and Redis (tests.settings)."""
    env = dict(os.environ)  # includes the throwaway secrets tests.settings set as defaults
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": test_database_url,
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        }
    )
    return env


@pytest.fixture
def start(tmp_path):
    """start(name, args, env) -> Process; all are stopped after the test and their output is printed."""
    processes: list[Process] = []

    def _start(name: str, args: list[str], env: dict) -> Process:
        process = Process(name, args, env, tmp_path)
        processes.append(process)
        return process

    yield _start
    for process in reversed(processes):
        process.stop()
        print(process.describe(), file=sys.stderr)  # shown by pytest when the test failed


@pytest.fixture(scope="session")
def collected_static(tmp_path_factory) -> Path:
    """A STATIC_ROOT filled by `collectstatic` with the production storage (hashed, compressed)."""
    import subprocess

    root = tmp_path_factory.mktemp("static")
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.settings", STATIC_ROOT=str(root), PLAIN_STATIC="0")
    done = subprocess.run(
        [PYTHON, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (root / "staticfiles.json").exists()
    return root


@pytest.fixture
def start_gunicorn(start, prod_env, collected_static):
    """start_gunicorn(workers=2, **env) -> (Process, base_url): gunicorn -c gunicorn.conf.py, answering."""

    def _start(workers: int = 2, **extra_env: str):
        port = free_port()
        env = dict(
            prod_env,
            BIND=f"127.0.0.1:{port}",
            WEB_CONCURRENCY=str(workers),
            STATIC_ROOT=str(collected_static),
            PLAIN_STATIC="0",
            **extra_env,
        )
        process = start("gunicorn", [GUNICORN, "-c", "gunicorn.conf.py"], env)
        base_url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{base_url}/accounts/login/", process)
        return process, base_url

    return _start


@pytest.fixture
def start_qcluster(start, prod_env):
    """start_qcluster(**env) -> Process: `manage.py qcluster` on the Redis broker and the test database."""

    def _start(**extra_env: str) -> Process:
        env = dict(prod_env, Q_WORKERS="1", **extra_env)
        return start("qcluster", [PYTHON, "manage.py", "qcluster"], env)

    return _start
