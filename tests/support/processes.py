"""Subprocesses the end-to-end tests share."""

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


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
