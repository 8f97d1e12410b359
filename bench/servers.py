"""gunicorn (2 workers, the project's gunicorn.conf.py), a django-q2 cluster, and wrk, for figures 5 and 6."""

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

from .common import PYTHON, ROOT

GUNICORN = str(Path(PYTHON).parent / "gunicorn")
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, args: list[str], env: dict, log: Path):
        self.log = log
        with log.open("wb") as fh:
            self.proc = subprocess.Popen(  # noqa: S603
                args, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
            )

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(8)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def gunicorn(env: dict, log: Path, app: str | None = None) -> tuple[Server, str]:
    port = free_port()
    env = dict(
        env,
        BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY=env.get("WEB_CONCURRENCY_BENCH", "2"),
        GUNICORN_LOG_LEVEL="warning",
    )
    args = [GUNICORN, "-c", "gunicorn.conf.py"] + ([app] if app else [])
    server = Server(args, env, log)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if server.proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{server.tail()}")
        try:
            httpx.get(base + "/", timeout=2)
            return server, base
        except httpx.TransportError:
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"gunicorn did not answer:\n{server.tail()}") from None
            time.sleep(0.1)


def qcluster(env: dict, log: Path) -> Server:
    return Server([PYTHON, "manage.py", "qcluster"], env, log)


def wrk_script(path: Path, bodies: list[str], api_key: str | None) -> None:
    lines = ["local bodies = {"]
    lines += [f"  [==[{b}]==]," for b in bodies]
    lines.append("}")
    headers = '["Content-Type"] = "application/json"'
    if api_key:
        headers += f', ["Authorization"] = "Bearer {api_key}"'
    lines += [
        "local n = #bodies",
        "math.randomseed(12345)",
        f"local headers = {{{headers}}}",
        "request = function()",
        '  return wrk.format("POST", "/api/v1/lookups", headers, bodies[math.random(n)])',
        "end",
    ]
    path.write_text("\n".join(lines) + "\n")


def wrk(base: str, script: Path, seconds: int, connections: int = 4, threads: int = 1) -> dict:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: apt-get install wrk (Debian's package)")
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            f"{base}/api/v1/lookups",
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    ).stdout
    result = {"raw": out}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    result["rps"] = float(m.group(1)) if m else 0.0
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}(?:\.000)?%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
        result[f"p{pct}_ms"] = float(m.group(1)) * UNITS[m.group(2)] if m else None
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    result["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"(\d+) requests in", out)
    result["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors:(.*)", out)
    result["socket_errors"] = m.group(1).strip() if m else ""
    return result
