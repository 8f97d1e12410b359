"""A helper process that fetches, parses and prepares customer pages for a full walk.

A full walk's chains spend most of their time in Python: HTTP, JSON, parsing and building rows, all
under the GIL, while the sync's writer thread (the walk's critical path) waits for it. Done here, in a
process of its own, that work runs on another core; the sync's process only unpickles ready rows.

Only the sending moves here. ``SmileClient._get`` still decides everything else for every request
(token, rate limit, retries, 401 refresh, errors): it hands the helper one GET with its headers and gets
back either the prepared page or the raw answer (status, ``Retry-After``, body) to judge as its own, or
the transport error's kind. The chains' order is the caller's too: a chain still asks for its next page
only after its previous one is committed.

The sync runs inside django-q2 workers, which are daemonic ``multiprocessing`` processes and cannot
have ``multiprocessing`` children, so this is a plain ``subprocess``: ``python -m
integrations.smile.fetch_helper``, with length-prefixed pickles on its stdin and stdout. It imports
neither Django nor the settings (the ``prepare`` it is sent must unpickle without them:
``lists/sync/rows.py``). It exits when its stdin closes, so it never outlives the sync; if it dies or
stops answering, the client goes on in its own process (``HelperGone``).

Both ends are this code, started by the parent with a pipe nobody else holds: the pickles never cross a
trust boundary. Tokens travel in the request headers over that pipe and are never logged here.
"""

import contextlib
import os
import pickle  # nosec B403: frames are exchanged only between this module's two ends over a private pipe
import struct
import subprocess  # nosec B404: starts this module, with a fixed argument list
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx

from . import parsing
from .errors import SmileBadResponse
from .types import PreparedPage

_HEADER = struct.Struct("!I")
WORKERS = 16  # requests in flight at once (the walk runs at most a few chains)
ROOT = Path(__file__).resolve().parents[2]  # the directory that holds the ``integrations`` package


class HelperGone(Exception):
    """The helper process exited, broke its pipe or stopped answering."""


class NotSent(Exception):
    """This request cannot go to the helper (its ``prepare`` does not pickle); the helper is fine."""


def _write(stream, obj, lock: threading.Lock) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    with lock:
        stream.write(_HEADER.pack(len(data)))
        stream.write(data)
        stream.flush()


def _read(stream):
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        return None
    return pickle.loads(data)  # noqa: S301  # nosec B301: see the module docstring


# --- the helper's side ------------------------------------------------------------------------------
def _answer(http: httpx.Client, path: str, params: dict, headers: dict, cursor, prepare) -> tuple:
    started = time.monotonic()
    try:
        response = http.get(path, params=params, headers=headers)
    except httpx.TimeoutException:
        return ("timeout",)
    except httpx.TransportError as exc:
        return ("transport", type(exc).__name__)
    elapsed_ms = (time.monotonic() - started) * 1000
    status = response.status_code
    target = response.request.url.raw_path.decode("ascii", "replace")
    if not 200 <= status < 300:
        return ("answer", status, target, elapsed_ms, response.headers.get("Retry-After"), response.content)
    try:
        page = parsing.parse_customer_page(parsing.parse_json(response.content, path), cursor=cursor)
    except SmileBadResponse as exc:
        return ("bad", status, target, elapsed_ms, exc.message)
    rows = prepare(page.customers, datetime.now(UTC))
    ids = [c.id for c in page.customers]
    return ("page", status, target, elapsed_ms, ids, rows, page.next_cursor)


def main() -> None:
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    init = _read(stdin)
    if init is None:
        return
    base_url, timeout, headers = init
    lock = threading.Lock()
    http = httpx.Client(
        base_url=base_url, timeout=httpx.Timeout(timeout), headers=headers, follow_redirects=False
    )

    def serve(rid: int, frame: bytes) -> None:
        try:
            request = pickle.loads(frame)  # noqa: S301  # nosec B301: see the module docstring
            reply = _answer(http, *request)
        except Exception as exc:  # a bug here: the client redoes this request in its own process
            reply = ("crash", f"{type(exc).__name__}: {exc}"[:300])
        try:
            _write(stdout, (rid, reply), lock)
        except (BrokenPipeError, ValueError):  # the client has gone
            os._exit(0)

    with ThreadPoolExecutor(WORKERS, thread_name_prefix="fetch") as pool:
        while (message := _read(stdin)) is not None:
            pool.submit(serve, *message)
        pool.shutdown(wait=False, cancel_futures=True)
    http.close()


# --- the client's side ------------------------------------------------------------------------------
class FetchHelper:
    """One helper process; ``get`` is thread-safe (each chain thread waits for its own answer)."""

    def __init__(self, base_url: str, timeout: float, headers: dict):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
        self.timeout = timeout
        self.proc = subprocess.Popen(  # noqa: S603  # nosec B603: our own interpreter and module, no shell
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
            env=env,
        )
        self._lock = threading.Lock()  # frames to the helper
        self._pending: dict[int, list] = {}  # rid -> [event, reply]
        self._next = 0
        self._gone: str | None = None
        _write(self.proc.stdin, (base_url, timeout, headers), self._lock)
        self._reader = threading.Thread(target=self._read_replies, name="fetch-helper-reader", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read_replies(self) -> None:
        try:
            while (message := _read(self.proc.stdout)) is not None:
                rid, reply = message
                slot = self._pending.pop(rid, None)
                if slot is not None:
                    slot[1] = reply
                    slot[0].set()
        except Exception as exc:  # a torn frame: the helper is unusable
            self._gone = f"unreadable answer ({type(exc).__name__})"
        self._gone = self._gone or f"exited with {self.proc.poll()}"
        for slot in list(self._pending.values()):
            slot[0].set()

    def get(self, path: str, params: dict, headers: dict, cursor, prepare) -> tuple:
        """One GET; the helper's reply tuple (see ``_answer``). Raises ``HelperGone``."""
        try:
            frame = pickle.dumps((path, params, headers, cursor, prepare), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # pickling raises several types
            raise NotSent(f"{type(exc).__name__}: {exc}") from None
        slot = [threading.Event(), None]
        with self._lock:
            if self._gone:
                raise HelperGone(self._gone)
            rid = self._next = self._next + 1
            self._pending[rid] = slot
        try:
            _write(self.proc.stdin, (rid, frame), self._lock)
        except (OSError, ValueError) as exc:
            self._pending.pop(rid, None)
            self._gone = f"its pipe broke ({type(exc).__name__})"
            raise HelperGone(self._gone) from None
        # httpx bounds each phase of the request by ``timeout``; a helper that takes much longer is stuck
        if not slot[0].wait(self.timeout * 4 + 10):
            self._pending.pop(rid, None)
            self._gone = "it stopped answering"
            self.close()
            raise HelperGone(self._gone)
        if slot[1] is None:
            raise HelperGone(self._gone or "it exited")
        reply = slot[1]
        if reply[0] == "page":
            _, status, target, elapsed_ms, ids, rows, next_cursor = reply
            return ("page", status, target, elapsed_ms, PreparedPage(ids, rows, cursor, next_cursor))
        return reply

    def close(self) -> None:
        """Close the helper's stdin (it exits), then wait a little; kill it if it does not."""
        self._gone = self._gone or "closed"
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=5)
        if self._reader.is_alive():  # pragma: no cover - the helper has exited, so its pipe ended
            return
        self.proc.stdout.close()


if __name__ == "__main__":
    main()
