import subprocess
import uuid

from django.conf import settings
from django.core.cache import cache

from tests.prod.processes import PYTHON, ROOT

SNIPPET = """
import sys, django
django.setup()
from django.core.cache import cache
if sys.argv[1] == "set":
    cache.set(sys.argv[2], sys.argv[3], 60)
else:
    print(cache.get(sys.argv[2]))
"""


def in_another_process(env, *args):
    done = subprocess.run(
        [PYTHON, "-c", SNIPPET, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_cache_is_redis(prod_env):
    assert settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert settings.CACHES["default"]["LOCATION"] == prod_env["REDIS_URL"]
    cache.set("ping", "pong")
    assert cache._cache.get_client().get(cache.make_key("ping")) is not None  # really stored in Redis


def test_the_cache_is_shared_between_processes(prod_env):
    key, value = f"shared-{uuid.uuid4()}", str(uuid.uuid4())
    in_another_process(prod_env, "set", key, value)
    assert cache.get(key) == value

    other_key, other_value = f"shared-{uuid.uuid4()}", str(uuid.uuid4())
    cache.set(other_key, other_value)
    assert in_another_process(prod_env, "get", other_key) == other_value
