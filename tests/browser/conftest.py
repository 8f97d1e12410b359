"""Real-Chromium tests of the admin pages against the live server, a live Smile sandbox and a real
``qcluster`` (marker ``browser``; they also count as ``e2e``).

How the pieces see each other
    * The SQLite test database is a *file* (``SQLITE_TEST_PATH``, or a temporary file set here before
      pytest-django creates the database), so the qcluster subprocess can open it: it runs with
      ``SQLITE_PATH`` pointing at that file and ``DJANGO_SETTINGS_MODULE=tests.settings``.
    * The live server (pytest-django, a thread of this process) and the qcluster both talk to the
      sandbox (a subprocess, ``SandboxProcess``) whose OAuth redirect URI is the live server's callback.
    * Tests use ``transactional_db`` (via ``live_server``): their rows are committed, so the server
      thread and the worker see them; the tables are flushed after each test.

Chromium is Debian's ``/usr/bin/chromium``, launched headless by pytest-playwright with the flags
below; no browser is ever downloaded. A failing test saves a full-page screenshot and the page's HTML
to ``test-artifacts/``.
"""

import os
import re
import tempfile
from pathlib import Path

import pytest

from tests.support.ground_truth import export_customers, export_tier_names
from tests.support.processes import QCluster
from tests.support.sandbox import SandboxProcess

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
HERE = Path(__file__).resolve().parent


def _browser_database_path() -> str:
    if os.environ.get("SQLITE_TEST_PATH"):
        return os.environ["SQLITE_TEST_PATH"]
    folder = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
    return str(folder / f"loyalty-lists-test-{os.getpid()}.sqlite3")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """After ``-m`` deselection: when a browser test is still selected, make the SQLite test database a
    file (before pytest-django creates it) so the qcluster subprocess can open it; else it stays in memory."""
    selected = any(HERE in Path(str(item.path)).resolve().parents for item in items)
    if selected:
        # Playwright's sync API runs an event loop in this thread; the fixtures and tests still call the
        # ORM synchronously between page actions, which Django would otherwise refuse.
        os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from django.conf import settings

    database = settings.DATABASES["default"]
    if selected and database["ENGINE"].endswith("sqlite3") and not database.get("TEST", {}).get("NAME"):
        database.setdefault("TEST", {})["NAME"] = _browser_database_path()


# --- Chromium (pytest-playwright) ----------------------------------------------------------------------
@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM} (`apt-get install chromium`).", pytrace=False)
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "headless": True, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1280, "height": 900}, "accept_downloads": True}


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    page = item.funcargs.get("page")
    if page is None:
        return
    ARTIFACTS.mkdir(exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid)[-150:]
    try:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        (ARTIFACTS / f"{name}.html").write_text(page.content())
        report.sections.append(("browser", f"screenshot: {ARTIFACTS / name}.png, page: {page.url}"))
    except Exception as exc:  # the page may be gone; the report must still be written
        report.sections.append(("browser", f"no screenshot: {exc!r}"))


@pytest.fixture
def page(page):
    """Every page: fail on a script error or a Content-Security-Policy violation."""
    problems = []
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(f"console: {message.text}")
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )
    page.set_default_timeout(15_000)
    yield page
    assert not problems, problems


# --- the sandbox, settings and the worker --------------------------------------------------------------
@pytest.fixture(scope="module")
def sandbox(live_server):
    callback = f"{live_server.url}/integrations/smile/oauth/callback"
    with SandboxProcess(customers=2000, seed=3, rate_limit=0, redirect_uri=[callback]) as process:
        yield process


@pytest.fixture(autouse=True)
def fresh_sandbox(sandbox):
    sandbox.reset(customers=2000, seed=3)
    sandbox.clear_faults()
    yield


def smile_environment(sandbox, live_server) -> dict[str, str]:
    return {
        "SMILE_API_BASE": sandbox.api_base,
        "SMILE_OAUTH_AUTHORIZE_URL": f"{sandbox.base_url}/oauth2/authorize",
        "SMILE_OAUTH_TOKEN_URL": f"{sandbox.base_url}/oauth2/token",
        "SMILE_OAUTH_REDIRECT_URI": f"{live_server.url}/integrations/smile/oauth/callback",
        "SMILE_CLIENT_ID": sandbox.client_id,
        "SMILE_CLIENT_SECRET": sandbox.client_secret,
        "SMILE_RATE_LIMIT_PER_SECOND": "0",
        "SMILE_MAX_ATTEMPTS": "2",
    }


@pytest.fixture(autouse=True)
def smile_settings(settings, sandbox, live_server):
    """The live server (this process) talks to the sandbox; the browser may be sent to its consent page."""
    env = smile_environment(sandbox, live_server)
    for key in (
        "SMILE_API_BASE",
        "SMILE_OAUTH_AUTHORIZE_URL",
        "SMILE_OAUTH_TOKEN_URL",
        "SMILE_OAUTH_REDIRECT_URI",
        "SMILE_CLIENT_ID",
        "SMILE_CLIENT_SECRET",
    ):
        setattr(settings, key, env[key])
    settings.SMILE_RATE_LIMIT_PER_SECOND = 0
    settings.SMILE_MAX_ATTEMPTS = 2
    policy = dict(settings.CONTENT_SECURITY_POLICY)
    directives = dict(policy["DIRECTIVES"])
    directives["form-action"] = [*directives["form-action"], sandbox.base_url]  # Connect redirects there
    settings.CONTENT_SECURITY_POLICY = {**policy, "DIRECTIVES": directives}
    return settings


@pytest.fixture(scope="module")
def worker(django_db_setup, sandbox, live_server, tmp_path_factory):
    """Module-scoped: it must be gone before other tests use the database (it would run their tasks)."""
    from django.db import connection

    database = connection.settings_dict["NAME"]
    assert Path(database).exists(), f"the test database is not a file: {database}"
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="tests.settings",
        SQLITE_PATH=database,
        PYTHONUNBUFFERED="1",
        Q_WORKERS="1",
        LOG_LEVEL="INFO",
        **smile_environment(sandbox, live_server),
    )
    env.pop("SQLITE_TEST_PATH", None)  # the same Q_CLUSTER name as this process: the ORM broker's queue key
    worker = QCluster(env, tmp_path_factory.mktemp("worker") / "qcluster.log")
    worker.wait_running(timeout=60)
    yield worker
    worker.stop()


# --- people and helpers -------------------------------------------------------------------------------
PASSWORD = "browser-test-password-1"


@pytest.fixture
def staff(transactional_db, django_user_model):
    from loyalty_lists.merchants.models import Membership, Merchant

    merchant = Merchant.objects.create(slug="shop", name="Corner Shop", timezone="Europe/London")
    user = django_user_model.objects.create_user(email="owner@shop.example", password=PASSWORD)
    Membership.objects.create(merchant=merchant, user=user, role=Membership.Role.OWNER)
    return merchant, user


def log_in(page, base_url: str, user) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("Sign in|Log in", re.I)).click()
    page.wait_for_url(f"{base_url}/")


def ground_truth(sandbox) -> tuple[list, dict[int, str]]:
    """The sandbox's customers (parsed like the client does) and tiers, straight from its export."""
    export = sandbox.export()
    return export_customers(export), export_tier_names(export)


def connected_with_synced_lists(merchant, sandbox, **lists):
    """Connect ``merchant`` with tokens the sandbox issued, create ``lists`` (name → rule) and run one cycle
    inline (the setup, not what is tested). Returns the lists by name."""
    from loyalty_lists.lists import services
    from tests.integrations.smile.conftest import connect_with_sandbox_tokens

    connect_with_sandbox_tokens(merchant, sandbox)
    services.vip_tiers_refresh(merchant=merchant)
    made = {
        name: services.list_create(merchant=merchant, name=name, enqueue=False, **rule)
        for name, rule in lists.items()
    }
    run = services.sync_cycle_run(merchant_id=merchant.pk)
    assert run.status == "succeeded", run.error_message
    return made


# --- screenshots ----------------------------------------------------------------------------------------
SCREENSHOTS = ARTIFACTS / "screenshots"
WIDTHS = {"desktop": 1280, "mobile": 390}


def screenshot(page, name: str) -> list[Path]:
    """Full-page screenshots of the current page at desktop and mobile widths, for people to look at
    (``test-artifacts/screenshots/<name>-desktop.png``, ``-mobile.png``; not committed). The page is
    left at the desktop width."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    paths = []
    for label, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": 900})
        path = SCREENSHOTS / f"{name}-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{name} at {width}px is {overflow}px wider than the window"
        paths.append(path)
    page.set_viewport_size({"width": WIDTHS["desktop"], "height": 900})
    return paths


def expected_members(sandbox, audience: str, tier_id: int | None = None) -> list:
    from loyalty_lists.lists.membership import is_member

    customers, _ = ground_truth(sandbox)
    return [c for c in customers if is_member(audience, tier_id, c)]
