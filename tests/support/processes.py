"""Subprocesses the end-to-end tests share."""

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cluster_env(database: str, sandbox, **extra: str) -> dict[str, str]:
    """The environment of a qcluster subprocess on the test database file, talking to ``sandbox``
    (``extra``: more settings)."""
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="tests.settings",
        SQLITE_PATH=database,
        PYTHONUNBUFFERED="1",
        Q_WORKERS="2",
        LOG_LEVEL="INFO",
        SMILE_API_BASE=sandbox.api_base,
        SMILE_OAUTH_TOKEN_URL=f"{sandbox.base_url}/oauth2/token",
        SMILE_CLIENT_ID=sandbox.client_id,
        SMILE_CLIENT_SECRET=sandbox.client_secret,
        **extra,
    )
    env.pop("SQLITE_TEST_PATH", None)
    return env


class QCluster:
    """``manage.py qcluster`` with ``env`` (point it at a *file* test database), in its own process
    group, its output in ``log``."""

    def __init__(self, env: dict, log: Path):
        self.log = log
        with log.open("wb") as out:
            self.popen = subprocess.Popen(  # noqa: S603 - our interpreter, our manage.py
                [sys.executable, "manage.py", "qcluster"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]

    def wait_running(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while "running." not in self.output():
            assert self.popen.poll() is None, f"qcluster exited:\n{self.output()}"
            assert time.monotonic() < deadline, f"qcluster did not start in {timeout}s:\n{self.output()}"
            time.sleep(0.2)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, 9)
                self.popen.wait(10)
