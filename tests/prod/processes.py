"""Real processes for the production-path tests: start them, wait for them, stop them and their children."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
GUNICORN = str(Path(sys.executable).parent / "gunicorn")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stat(pid: int | str) -> list[str] | None:
    """The fields of /proc/<pid>/stat after "pid (comm)": state ppid pgrp session ...; None once gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def session_members(sid: int) -> list[int]:
    """Pids still alive in a session, whatever their process group (from /proc, zombies excluded)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = stat(entry.name)
        if fields is not None and int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids


def accept_queue(port: int) -> int:
    """Connections waiting for accept() on a listening 127.0.0.1 TCP port (from /proc/net/tcp)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "0A":  # 0A: LISTEN
            return int(fields[4].split(":")[1], 16)  # rx_queue of a listening socket: its accept queue
    raise AssertionError(f"nothing listens on port {port}")


class Process:
    """A subprocess in its own session: it and everything it starts can be found, signalled and killed."""

    def __init__(self, name: str, args: list[str], env: dict, log_dir: Path):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        with self.log_path.open("wb") as log:  # the child keeps its own descriptor
            self.popen = subprocess.Popen(
                args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.pid = self.popen.pid  # also the process group id

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def running(self) -> bool:
        return self.popen.poll() is None

    def signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signum)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Signal the leader, wait for it, then kill whatever is left of its session; return the exit code."""
        if self.running():
            self.popen.send_signal(signum)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout)
        for pid in session_members(self.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.popen.wait(10)
        return self.popen.returncode

    def describe(self) -> str:
        return f"--- {self.name} (exit {self.popen.poll()}) ---\n{self.output()[-6000:]}"


def wait_for_http(url: str, process: Process, timeout: float = 60) -> httpx.Response:
    """Poll url until the server answers; fail early, with its output, if the process dies."""
    deadline = time.monotonic() + timeout
    while True:
        if not process.running():
            raise AssertionError(f"{process.name} exited before answering {url}\n{process.describe()}")
        try:
            return httpx.get(url, timeout=5)
        except httpx.TransportError as error:
            if time.monotonic() > deadline:
                message = f"{process.name} did not answer {url} in {timeout}s\n{process.describe()}"
                raise AssertionError(message) from error
            time.sleep(0.1)


def wait_until(predicate, timeout: float, interval: float = 0.1, message: str = ""):
    """Return predicate()'s first truthy value, or fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message or f"condition not met in {timeout}s")
        time.sleep(interval)
