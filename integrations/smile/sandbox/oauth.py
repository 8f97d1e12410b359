"""OAuth 2.0 as Smile's connect.smile.io: authorization-code grant with consent page, PKCE, refresh
tokens with rotation, and the bearer-token lookup used by /v1. Tokens live in memory only (they
survive ``/_sandbox/reset``, not a restart). Every grant and token belongs to one program (Smile
account): ``program=n`` on the authorize request picks it (default 1; the consent page offers a choice
when the sandbox serves several); merchant keys are program 1's ``--api-key`` values and
``api_fleet_<n>``."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

from .consent import consent_page, error_page
from .fleet import Fleet
from .web import BadForm, Request, Response, json_response, redirect

WILDCARD = "*"


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    redirect_given: bool
    scopes: tuple[str, ...]
    challenge: str | None
    method: str | None
    expires: float
    family: str
    program: int = 1
    used: bool = False


@dataclass
class AccessToken:
    scopes: frozenset[str]
    expires: float
    family: str
    program: int = 1


@dataclass
class RefreshToken:
    client_id: str
    scopes: tuple[str, ...]
    family: str
    program: int = 1


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


def has_scope(scopes: frozenset[str], needed: str) -> bool:
    if WILDCARD in scopes or needed in scopes:
        return True
    entity, _, action = needed.partition(":")
    return action == "read" and f"{entity}:write" in scopes


ALL_SCOPES = frozenset({WILDCARD})


class OAuth:
    def __init__(self, cfg, fleet: Fleet):
        self.cfg = cfg
        self.fleet = fleet
        self._lock = threading.Lock()
        self.codes: dict[str, Grant] = {}
        self.access: dict[str, AccessToken] = {}
        self.refresh: dict[str, RefreshToken] = {}
        self.api_keys = set(cfg.api_keys)

    # ---- bearer tokens ---------------------------------------------------------------------
    def lookup(self, token: str) -> tuple[frozenset[str], int] | None:
        """(scopes, program) of a live token; None for unknown, expired or revoked tokens."""
        if token in self.api_keys:
            return ALL_SCOPES, 1
        info = self.access.get(token)
        if info is None:
            program = self.fleet.by_api_key(token)
            return None if program is None else (ALL_SCOPES, program)
        if info.expires <= time.time():
            return None
        return info.scopes, info.program

    def revoke(self, token: str | None = None, program: int | None = None) -> int:
        """Revoke one token, or every access and refresh token (of ``program`` when given)."""
        with self._lock:
            if token is None:
                n = 0
                for store in (self.access, self.refresh):
                    for key in [k for k, v in store.items() if program in (None, v.program)]:
                        del store[key]
                        n += 1
                return n
            return int(self.access.pop(token, None) is not None) + int(
                self.refresh.pop(token, None) is not None
            )

    def expire_all(self, program: int | None = None) -> int:
        now = time.time()
        n = 0
        with self._lock:
            for info in self.access.values():
                if program in (None, info.program):
                    info.expires = min(info.expires, now - 0.001)
                    n += 1
            return n

    def _revoke_family(self, family: str) -> None:
        for store in (self.access, self.refresh):
            for key in [k for k, v in store.items() if v.family == family]:
                del store[key]

    # ---- /oauth2/authorize -----------------------------------------------------------------
    def authorize(self, req: Request) -> Response:
        try:
            params = req.params() if req.method == "GET" else req.form()
        except BadForm as exc:
            return error_page(400, "Invalid request", str(exc))
        if params.get("client_id") != self.cfg.client_id:
            return error_page(400, "Unknown application", "The client_id is missing or not registered.")
        redirect_uri = params.get("redirect_uri") or self.cfg.redirect_uris[0]
        if redirect_uri not in self.cfg.redirect_uris:
            return error_page(
                400, "Invalid redirect URI", "The redirect_uri is not whitelisted for this app."
            )
        state = params.get("state")
        program = self._program(params.get("program"))
        if program is None:
            return error_page(400, "Unknown program", "The program is not served by this sandbox.")
        try:
            scopes, challenge, method = self._validate_authorize(params)
        except OAuthError as exc:
            return redirect(
                redirect_uri, {"error": exc.error, "error_description": exc.description, "state": state}
            )
        if req.method == "GET":
            account = self.fleet.describe(program).account_name
            choices = None if "program" in params or self.fleet.count == 1 else self.fleet.count
            return consent_page(self.cfg, params, redirect_uri, scopes, account, choices)
        if "deny" in params:
            return redirect(
                redirect_uri,
                {
                    "error": "access_denied",
                    "error_description": "The merchant denied the request.",
                    "state": state,
                },
            )
        if "approve" not in params:
            return error_page(400, "Invalid request", "Choose Approve or Deny.")
        code = secrets.token_urlsafe(24)
        grant = Grant(
            self.cfg.client_id,
            redirect_uri,
            bool(params.get("redirect_uri")),
            scopes,
            challenge,
            method,
            time.monotonic() + self.cfg.code_ttl,
            secrets.token_hex(8),
            program,
        )
        with self._lock:
            self.codes[code] = grant
        return redirect(redirect_uri, {"code": code, "state": state})

    def _program(self, raw: str | None) -> int | None:
        """The program an authorize request names (default 1), or None when it is not served."""
        if raw is None or raw == "":
            return 1
        if not raw.isdigit() or not self.fleet.exists(int(raw)):
            return None
        return int(raw)

    def _validate_authorize(self, params: dict[str, str]):
        rtype = params.get("response_type")
        if not rtype:
            raise OAuthError("invalid_request", "response_type is required.")
        if rtype != "code":
            raise OAuthError("unsupported_response_type", "Only response_type=code is supported.")
        scopes = self._parse_scopes(params.get("scope"), self.cfg.scopes)
        challenge, method = params.get("code_challenge") or None, params.get("code_challenge_method") or None
        if method and not challenge:
            raise OAuthError("invalid_request", "code_challenge_method without code_challenge.")
        if challenge:
            method = method or "plain"
            if method not in ("S256", "plain"):
                raise OAuthError("invalid_request", "code_challenge_method must be S256 or plain.")
            if not 43 <= len(challenge) <= 128:
                raise OAuthError("invalid_request", "code_challenge must be 43-128 characters.")
        return scopes, challenge, method

    @staticmethod
    def _parse_scopes(raw: str | None, allowed) -> tuple[str, ...]:
        if raw is None or not raw.strip():
            return tuple(allowed)
        requested = tuple(dict.fromkeys(raw.split()))
        unknown = [s for s in requested if s not in allowed]
        if unknown:
            raise OAuthError("invalid_scope", f"Scope not available to this app: {' '.join(unknown)}.")
        return requested

    # ---- /oauth2/token ---------------------------------------------------------------------
    def token(self, req: Request) -> Response:
        try:
            form = self._token_form(req)
            self._authenticate_client(req, form)
            grant_type = form.get("grant_type")
            if not grant_type:
                raise OAuthError("invalid_request", "grant_type is required.")
            if grant_type == "authorization_code":
                payload = self._exchange_code(form)
            elif grant_type == "refresh_token":
                payload = self._refresh(form)
            else:
                raise OAuthError("unsupported_grant_type", f"Unsupported grant_type {grant_type!r}.")
        except OAuthError as exc:
            headers = [("Cache-Control", "no-store"), ("Pragma", "no-cache")]
            if exc.status == 401 and req.header("authorization", "").lower().startswith("basic "):
                headers.append(("WWW-Authenticate", 'Basic realm="connect.smile.io"'))
            return json_response(
                exc.status, {"error": exc.error, "error_description": exc.description}, headers
            )
        return json_response(200, payload, [("Cache-Control", "no-store"), ("Pragma", "no-cache")])

    @staticmethod
    def _token_form(req: Request) -> dict[str, str]:
        ctype = (req.header("content-type") or "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            raise OAuthError(
                "invalid_request", "Send the token request as application/x-www-form-urlencoded."
            )
        try:
            return req.form()
        except BadForm as exc:
            raise OAuthError("invalid_request", str(exc)) from exc

    def _authenticate_client(self, req: Request, form: dict[str, str]) -> None:
        auth = req.header("authorization") or ""
        basic = auth.lower().startswith("basic ")
        if basic and self.cfg.token_auth == "form":
            raise OAuthError("invalid_client", "Send the client credentials as form fields.", 401)
        if not basic and self.cfg.token_auth == "basic" and ("client_secret" in form or "client_id" in form):
            raise OAuthError("invalid_client", "Send the client credentials in a Basic header.", 401)
        if basic:
            if "client_secret" in form:
                raise OAuthError("invalid_request", "Use one client authentication method, not two.")
            try:
                raw = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8")
                client_id, _, secret = raw.partition(":")
            except (binascii.Error, UnicodeDecodeError) as exc:
                raise OAuthError("invalid_client", "Malformed Basic credentials.", 401) from exc
            if form.get("client_id") not in (None, client_id):
                raise OAuthError("invalid_request", "client_id in the form differs from the Basic header.")
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        ok = hmac.compare_digest(client_id.encode(), self.cfg.client_id.encode()) and hmac.compare_digest(
            secret.encode(), self.cfg.client_secret.encode()
        )
        if not ok:
            raise OAuthError("invalid_client", "Client authentication failed.", 401)

    def _exchange_code(self, form: dict[str, str]) -> dict:
        code = form.get("code")
        if not code:
            raise OAuthError("invalid_request", "code is required.")
        with self._lock:
            grant = self.codes.get(code)
            if grant is None:
                raise OAuthError("invalid_grant", "The authorization code is invalid.")
            if grant.used:
                self._revoke_family(grant.family)  # RFC 6749 10.5: a replayed code revokes its tokens
                raise OAuthError("invalid_grant", "The authorization code was already used.")
            grant.used = True
        if grant.expires <= time.monotonic():
            raise OAuthError("invalid_grant", "The authorization code has expired.")
        sent_uri = form.get("redirect_uri")
        if (grant.redirect_given and sent_uri != grant.redirect_uri) or (
            sent_uri and sent_uri != grant.redirect_uri
        ):
            raise OAuthError("invalid_grant", "redirect_uri does not match the authorization request.")
        if grant.challenge:
            verifier = form.get("code_verifier")
            if not verifier:
                raise OAuthError("invalid_request", "code_verifier is required.")
            if grant.method == "S256":
                digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
                computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            else:
                computed = verifier
            if not hmac.compare_digest(computed, grant.challenge):
                raise OAuthError("invalid_grant", "PKCE verification failed.")
        return self._issue(grant.scopes, grant.family, grant.program)

    def _refresh(self, form: dict[str, str]) -> dict:
        token = form.get("refresh_token")
        if not token:
            raise OAuthError("invalid_request", "refresh_token is required.")
        with self._lock:
            info = self.refresh.pop(token, None)  # rotation: the old refresh token dies now
        if info is None:
            raise OAuthError("invalid_grant", "The refresh token is invalid, used or revoked.")
        scopes = info.scopes
        if form.get("scope"):
            try:
                scopes = self._parse_scopes(form["scope"], info.scopes)
            except OAuthError:
                with self._lock:
                    self.refresh[token] = info
                raise
        return self._issue(scopes, info.family, info.program)

    def _issue(self, scopes: tuple[str, ...], family: str, program: int) -> dict:
        access, refresh = "oa2_" + secrets.token_hex(20), secrets.token_urlsafe(32)
        expires = time.time() + self.cfg.token_ttl
        with self._lock:
            self.access[access] = AccessToken(frozenset(scopes), expires, family, program)
            self.refresh[refresh] = RefreshToken(self.cfg.client_id, scopes, family, program)
        body = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.cfg.token_ttl,
            "refresh_token": refresh,
            "scope": " ".join(scopes),
        }
        if not self.cfg.no_account_id:
            account = self.fleet.describe(program)
            body |= {"account_id": account.account_id, "account_name": account.account_name}
        return body
