"""`make run` (bin/run-demo) and bin/run-prod stop everything they started when told: one SIGTERM, and
whatever still runs after 10 s is killed with its whole process group (bin/_processes.sh)."""

import os
import signal
import subprocess
import time

import httpx
import pytest

from tests.prod.processes import ROOT, free_port, session_members

pytestmark = pytest.mark.e2e

HUNG = """
. bin/_processes.sh
trap 'stop_all; exit 143' TERM
# a "cluster" that ignores SIGTERM, with a child of its own in its process group
start bash -c 'trap "" TERM; sleep 300 & wait'
start sleep 300
echo started
wait
"""


def wait_gone(sid: int, timeout: float) -> float:
    started = time.monotonic()
    while session_members(sid):
        assert time.monotonic() - started < timeout, f"still running: {session_members(sid)}"
        time.sleep(0.1)
    return time.monotonic() - started


def test_a_process_that_ignores_sigterm_is_killed_with_its_group_after_the_timeout():
    proc = subprocess.Popen(  # noqa: S603
        ["bash", "-c", HUNG],
        cwd=ROOT,
        env={**os.environ, "STOP_TIMEOUT": "2"},
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stdout.readline() == b"started\n"
    time.sleep(0.3)
    assert len(session_members(proc.pid)) >= 4  # bash, the hung bash and its sleep, the other sleep

    proc.send_signal(signal.SIGTERM)
    took = wait_gone(proc.pid, timeout=10)

    assert proc.wait(5) == 143
    assert 1.5 < took < 6, f"stopped after {took:.1f} s"


def test_make_runs_demo_stops_every_process_within_ten_seconds_of_one_sigterm(tmp_path):
    port, sandbox_port = free_port(), free_port()
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")
        },
        "PORT": str(port),
        "SANDBOX_PORT": str(sandbox_port),
        "SANDBOX_DB": str(tmp_path / "sandbox.sqlite3"),
        "SQLITE_PATH": str(tmp_path / "db.sqlite3"),
        "SANDBOX_CUSTOMERS": "200",
    }
    demo = subprocess.Popen(  # noqa: S603
        ["bin/run-demo"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            line = demo.stdout.readline().decode(errors="replace")
            assert line or demo.poll() is None, "run-demo exited"
            if "Smile loyalty lists is running" in line:
                break
            assert time.monotonic() < deadline, "the demo did not start"
        assert httpx.get(f"http://127.0.0.1:{port}/accounts/login/").status_code == 200
        assert len(session_members(demo.pid)) >= 4  # the script, sandbox, gunicorn (+workers), qcluster

        demo.send_signal(signal.SIGTERM)
        took = wait_gone(demo.pid, timeout=12)
        print(f"run-demo stopped everything {took:.1f} s after SIGTERM")
        assert demo.wait(5) == 143
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
