"""Settings come from the environment; each case runs in a fresh interpreter."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = (
    "import json, django; from django.conf import settings as s;"
    "print(json.dumps({'engine': s.DATABASES['default']['ENGINE'],"
    "'options': s.DATABASES['default'].get('OPTIONS', {}),"
    "'cache': s.CACHES['default']['BACKEND'],"
    "'q': {k: v for k, v in s.Q_CLUSTER.items() if k in ('orm', 'redis', 'timeout', 'retry', 'catch_up')},"
    "'debug': s.DEBUG}))"
)


def load(env):
    clean = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    clean.update(
        {
            "DJANGO_SETTINGS_MODULE": "loyalty_lists.settings",
            "SQLITE_PATH": "/tmp/sll-settings-probe.db",
            "SMILE_ALLOW_SANDBOX": "1",  # (the sandbox defaults have a test of their own)
        }
    )
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


def test_settings_refuse_to_start_without_a_secret_key_when_debug_is_off():
    result = load({"FIELD_ENCRYPTION_KEYS": "x"})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_settings_refuse_to_start_without_encryption_keys_when_debug_is_off():
    result = load({"SECRET_KEY": "s" * 50})
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS must be set" in result.stderr


def test_debug_mode_starts_with_demo_defaults():
    result = load({"DEBUG": "1"})
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["debug"] is True


def test_defaults_are_sqlite_in_wal_mode_the_orm_broker_and_the_database_cache():
    result = load({"SECRET_KEY": "s" * 50, "FIELD_ENCRYPTION_KEYS": "k"})
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["engine"] == "django.db.backends.sqlite3"
    assert data["options"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in data["options"]["init_command"]
    assert "busy_timeout" in data["options"]["init_command"]
    assert data["cache"] == "django.core.cache.backends.db.DatabaseCache"
    assert data["q"]["orm"] == "default"
    assert "redis" not in data["q"]
    assert data["q"]["retry"] > data["q"]["timeout"]
    assert data["q"]["catch_up"] is False


def test_database_and_redis_urls_switch_to_postgresql_and_redis():
    result = load(
        {
            "SECRET_KEY": "s" * 50,
            "FIELD_ENCRYPTION_KEYS": "k",
            "DATABASE_URL": "postgres://u:p@127.0.0.1:5432/lists",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
        }
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["engine"] == "django.db.backends.postgresql"
    assert data["cache"] == "django.core.cache.backends.redis.RedisCache"
    assert data["q"]["redis"] == "redis://127.0.0.1:6379/0"
    assert "orm" not in data["q"]


def test_production_settings_refuse_the_sandbox_defaults(tmp_path):
    """With DEBUG off, the demo's Smile (loopback URLs, the public sandbox secret) stops the start-up with
    a clear message — unless SMILE_ALLOW_SANDBOX says a staging box really means it."""
    import subprocess
    import sys

    base = {k: v for k, v in os.environ.items() if not k.startswith(("SMILE_", "DJANGO_", "DEBUG"))} | {
        "SECRET_KEY": "x" * 50,
        "FIELD_ENCRYPTION_KEYS": "dGVzdC1vbmx5LWZpZWxkLWVuY3J5cHRpb24ta2V5LTE=",
        "DJANGO_SETTINGS_MODULE": "loyalty_lists.settings",
    }
    code = "import django; django.setup(); print('started')"

    def start(**env):
        return subprocess.run([sys.executable, "-c", code], env=base | env, capture_output=True, text=True)

    refused = start()
    assert refused.returncode != 0
    assert "SMILE_API_BASE points at 127.0.0.1" in refused.stderr
    assert "SMILE_CLIENT_SECRET is the sandbox's public default" in refused.stderr
    assert "SMILE_ALLOW_SANDBOX=1" in refused.stderr

    assert start(SMILE_ALLOW_SANDBOX="1").stdout.strip() == "started"
    real = {
        "SMILE_API_BASE": "https://api.smile.io/v1",
        "SMILE_OAUTH_AUTHORIZE_URL": "https://connect.smile.io/oauth2/authorize",
        "SMILE_OAUTH_TOKEN_URL": "https://connect.smile.io/oauth2/token",
        "SMILE_CLIENT_ID": "app-id",
        "SMILE_CLIENT_SECRET": "a-real-secret",
    }
    assert start(**real).stdout.strip() == "started"
    assert "SMILE_WEBHOOK_SECRET" in start(**real, SMILE_WEBHOOK_SECRET="sandbox-secret").stderr
