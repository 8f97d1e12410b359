"""allauth's failed-login limit holds across gunicorn workers: its counters live in the shared Redis cache.

gunicorn's sync workers take one connection at a time, so a connection whose request has not fully
arrived keeps its worker busy, and every other request goes to the other worker. That makes the split
deterministic: worker Y sees failures 1-3, worker X sees failures 4-6, and then each refuses the right
password although it has seen only three failures itself (the limit is five per account).
"""

import re
import socket
from urllib.parse import urlencode, urlsplit

import httpx

from tests.prod.processes import accept_queue, wait_until

EMAIL = "owner@limits.example"
PASSWORD = "correct-horse-battery-staple"
WRONG = "wrong-horse-battery-staple"
TOO_MANY = "Too many failed login attempts"


def login_form(client: httpx.Client) -> str:
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)[1]


def log_in(client: httpx.Client, password: str) -> httpx.Response:
    token = login_form(client)
    form = {"login": EMAIL, "password": password, "csrfmiddlewaretoken": token}
    return client.post("/accounts/login/", data=form)


class HeldLogin:
    """A login POST sent in two parts: the worker that accepts it waits for the rest, busy."""

    def __init__(self, base_url: str, password: str):
        client = httpx.Client(base_url=base_url)
        token = login_form(client)
        body = urlencode({"login": EMAIL, "password": password, "csrfmiddlewaretoken": token})
        address = urlsplit(base_url)
        self.sock = socket.create_connection((address.hostname, address.port), timeout=20)
        self.sock.sendall(f"POST /accounts/login/ HTTP/1.1\r\nHost: {address.netloc}\r\n".encode())
        self.rest = (
            f"Cookie: csrftoken={client.cookies['csrftoken']}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}"
        ).encode()
        wait_until(lambda: accept_queue(address.port) == 0, timeout=30, message="no worker took the request")

    def finish(self) -> tuple[int, str]:
        self.sock.sendall(self.rest)
        chunks = []
        while chunk := self.sock.recv(65536):
            chunks.append(chunk)
        self.sock.close()
        response = b"".join(chunks).decode(errors="replace")
        return int(response.split(" ", 2)[1]), response


def login_posts_by_worker(log: str) -> list[str]:
    return re.findall(r'"POST /accounts/login/ HTTP/1\.1" \d+ .* <(\d+)>', log)


def test_failed_logins_are_limited_across_two_gunicorn_workers(
    transactional_db, start_gunicorn, django_user_model
):
    django_user_model.objects.create_user(email=EMAIL, password=PASSWORD)
    server, base_url = start_gunicorn(workers=2, LOGIN_FAILED_RATE_LIMIT="100/m/ip,5/5m/key")
    fresh = httpx.Client(base_url=base_url)
    assert log_in(fresh, PASSWORD).status_code == 302  # the credentials work through gunicorn
    attacker = httpx.Client(base_url=base_url)

    held_by_x = HeldLogin(base_url, WRONG)
    for _ in range(3):  # failures 1-3: worker Y, the only free one
        assert log_in(attacker, WRONG).status_code == 200
    held_by_y = HeldLogin(base_url, PASSWORD)  # now Y waits; X is busy until its request completes
    status, _ = held_by_x.finish()  # failure 4, on X
    assert status == 200
    for _ in range(2):  # failures 5-6: X
        assert log_in(attacker, WRONG).status_code == 200

    on_x = log_in(attacker, PASSWORD)  # X has counted 3 failures itself
    assert on_x.status_code == 200 and TOO_MANY in on_x.text
    status, on_y = held_by_y.finish()  # so has Y
    assert status == 200 and TOO_MANY in on_y

    workers = login_posts_by_worker(server.output())
    x, y = workers[-2], workers[-1]
    assert x != y
    assert workers[-8:] == [y, y, y, x, x, x, x, y], server.output()
