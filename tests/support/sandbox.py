"""The sandbox as the tests drive it: the process and its control API
(``integrations/smile/sandbox/process.py``) plus the OAuth consent flow (``sandbox_oauth.py``) and a
walker that follows Smile's cursors.

    with SandboxProcess(customers=2000, rate_limit=0) as sandbox:
        token = sandbox.issue_token()["access_token"]
"""

from __future__ import annotations

import httpx

from integrations.smile.sandbox import process
from integrations.smile.sandbox.process import MISSING, SandboxError

from .sandbox_oauth import HIDDEN_RE, OAuthHelpers

__all__ = ["HIDDEN_RE", "MISSING", "SandboxError", "SandboxProcess", "walk_customers"]


class SandboxProcess(process.SandboxProcess, OAuthHelpers):
    """A sandbox subprocess whose ``issue_token()`` goes through the consent form like a merchant."""


def walk_customers(client: httpx.Client, max_pages: int = 100_000, **params) -> tuple[list[dict], list[dict]]:
    """Follow ``next_cursor`` from the first page; returns (all customers, every raw page body)."""
    customers, pages, cursor = [], [], None
    for _ in range(max_pages):
        query = dict(params, cursor=cursor) if cursor else dict(params)
        resp = client.get("/customers", params=query)
        resp.raise_for_status()
        page = resp.json()
        pages.append(page)
        customers.extend(page["customers"])
        cursor = page["metadata"]["next_cursor"]
        if not cursor:
            return customers, pages
    raise SandboxError(f"cursor chain longer than {max_pages} pages")
