"""The OAuth side of the tests' ``SandboxProcess`` (``tests/support/sandbox.py``): the code flow through
the consent form, refresh, and an httpx client for /v1. A mixin: it uses the process's ``base_url``,
client credentials, ``program`` (the program a ``for_program(n)`` view connects to) and
``shared["token_auth"]``."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from urllib.parse import parse_qs, urlsplit

import httpx

from integrations.smile.sandbox.process import SandboxError

HIDDEN_RE = re.compile(r'<input type="hidden" name="([^"]+)" id="[^"]*" value="([^"]*)">')


class OAuthHelpers:
    base_url: str
    api_base: str
    client_id: str
    client_secret: str
    redirect_uri: str
    program: int | None
    shared: dict

    def authorize_params(
        self,
        scope: str | None = None,
        redirect_uri: str | None = None,
        state: str | None = None,
        pkce: bool = True,
    ) -> tuple[dict, str | None]:
        params = {
            "client_id": self.client_id,
            "response_type": "code",
            "redirect_uri": redirect_uri or self.redirect_uri,
            "state": state or secrets.token_hex(8),
        }
        if self.program is not None:
            params["program"] = str(self.program)
        if scope is not None:
            params["scope"] = scope
        verifier = None
        if pkce:
            verifier = secrets.token_urlsafe(48)
            digest = hashlib.sha256(verifier.encode()).digest()
            params["code_challenge"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            params["code_challenge_method"] = "S256"
        return params, verifier

    def authorize_code(self, params: dict, approve: bool = True) -> dict[str, str]:
        """GET the consent page, submit its form with Approve/Deny; returns the redirect's query."""
        with httpx.Client(base_url=self.base_url, timeout=30.0) as client:
            page = client.get("/oauth2/authorize", params=params)
            if page.status_code != 200:
                raise SandboxError(f"consent page -> {page.status_code}", page.status_code, page.text)
            form = {name: html.unescape(value) for name, value in HIDDEN_RE.findall(page.text)}
            form["approve" if approve else "deny"] = "1"
            resp = client.post("/oauth2/authorize", data=form)
        if resp.status_code != 302:
            raise SandboxError(f"consent submit -> {resp.status_code}", resp.status_code, resp.text)
        query = parse_qs(urlsplit(resp.headers["location"]).query)
        return {k: v[0] for k, v in query.items()}

    def issue_token(
        self, scope: str | None = None, redirect_uri: str | None = None, pkce: bool = True
    ) -> dict:
        """Run the whole authorization-code flow (consent approved) and return the token JSON."""
        params, verifier = self.authorize_params(scope, redirect_uri, pkce=pkce)
        result = self.authorize_code(params)
        if result.get("state") != params["state"] or "code" not in result:
            raise SandboxError(f"authorization failed: {result}")
        data = {
            "grant_type": "authorization_code",
            "code": result["code"],
            "redirect_uri": params["redirect_uri"],
        }
        if verifier:
            data["code_verifier"] = verifier
        return self._token_call(data)

    def refresh(self, refresh_token: str) -> dict:
        return self._token_call({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def _token_call(self, data: dict) -> dict:
        """POST /oauth2/token with the client's credentials as the sandbox wants them (--token-auth)."""
        auth = (self.client_id, self.client_secret)
        if self.shared["token_auth"] == "form":
            data, auth = {**data, "client_id": self.client_id, "client_secret": self.client_secret}, None
        resp = httpx.post(f"{self.base_url}/oauth2/token", data=data, auth=auth, timeout=30.0)
        if resp.status_code != 200:
            raise SandboxError(
                f"token endpoint -> {resp.status_code}: {resp.text}", resp.status_code, resp.json()
            )
        return resp.json()

    def api_client(self, token: str, **kwargs) -> httpx.Client:
        """An httpx client for /v1 with the bearer token set (caller closes it)."""
        return httpx.Client(
            base_url=self.api_base,
            headers={"Authorization": f"Bearer {token}"},
            timeout=kwargs.pop("timeout", 30.0),
            **kwargs,
        )
