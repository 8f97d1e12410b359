"""OAuth modes against a running sandbox: account_id / account_name in token responses (and
--no-account-id), and the token endpoint's client authentication (--token-auth basic|form|both)."""

import base64
import json

import httpx
import pytest

pytestmark = pytest.mark.e2e


def code_for(sandbox) -> tuple[dict, str]:
    """A fresh authorization code (consent approved) and the form the token call needs with it."""
    params, verifier = sandbox.authorize_params()
    code = sandbox.authorize_code(params)["code"]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": params["redirect_uri"],
        "code_verifier": verifier,
    }
    return form, code


def by_basic(sandbox, form: dict) -> httpx.Response:
    return httpx.post(
        f"{sandbox.base_url}/oauth2/token", data=form, auth=(sandbox.client_id, sandbox.client_secret)
    )


def by_form(sandbox, form: dict) -> httpx.Response:
    creds = {"client_id": sandbox.client_id, "client_secret": sandbox.client_secret}
    return httpx.post(f"{sandbox.base_url}/oauth2/token", data=form | creds)


def test_token_responses_carry_the_account_name_beside_the_account_id(smile_sandbox_factory):
    sandbox = smile_sandbox_factory(customers=5, account_id=77, account_name="Acme Outdoors")
    first = sandbox.issue_token()
    again = sandbox.refresh(first["refresh_token"])
    for body in (first, again):
        assert (body["account_id"], body["account_name"]) == (77, "Acme Outdoors")


def test_without_account_id_tokens_carry_neither_but_webhooks_still_do(
    smile_sandbox_factory, webhook_receiver
):
    sandbox = smile_sandbox_factory(customers=5, no_account_id=True, webhook_url=webhook_receiver.url)
    first = sandbox.issue_token()
    again = sandbox.refresh(first["refresh_token"])
    for body in (first, again):
        assert "account_id" not in body and "account_name" not in body and body["access_token"]
    sandbox.patch_customer(sandbox.export()["customers"][0]["id"], points_balance=3)
    assert json.loads(webhook_receiver.wait_for(1)[0][1])["account_id"] == 1
    sandbox.settings(no_account_id=False)
    assert sandbox.issue_token()["account_id"] == 1


def test_no_account_id_can_be_switched_on_at_runtime(smile_sandbox):
    try:
        smile_sandbox.settings(no_account_id=True)
        assert "account_id" not in smile_sandbox.issue_token()
    finally:
        smile_sandbox.settings(no_account_id=False)
    assert smile_sandbox.issue_token()["account_name"] == "Sandbox Store"


@pytest.mark.parametrize(
    ("mode", "refused", "accepted"), [("basic", by_form, by_basic), ("form", by_basic, by_form)]
)
def test_the_token_endpoint_refuses_the_other_client_authentication_on_every_grant(
    smile_sandbox_factory, mode, refused, accepted
):
    sandbox = smile_sandbox_factory(customers=5, token_auth=mode)
    token = sandbox.issue_token()  # the helper authenticates the way the sandbox wants
    form, _ = code_for(sandbox)
    for grant in (form, {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]}):
        resp = refused(sandbox, grant)
        assert resp.status_code == 401 and resp.json()["error"] == "invalid_client"
        assert resp.json()["error_description"]
    assert accepted(
        sandbox, {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]}
    ).is_success
    assert accepted(sandbox, code_for(sandbox)[0]).is_success


def test_both_is_the_default_and_the_mode_changes_at_runtime(smile_sandbox_factory):
    sandbox = smile_sandbox_factory(customers=5)
    for call in (by_basic, by_form):
        assert call(sandbox, code_for(sandbox)[0]).status_code == 200
    sandbox.settings(token_auth="basic")
    refused = by_form(sandbox, code_for(sandbox)[0])
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    basic = base64.b64encode(f"{sandbox.client_id}:{sandbox.client_secret}".encode()).decode()
    with_both = httpx.post(
        f"{sandbox.base_url}/oauth2/token",
        data=code_for(sandbox)[0] | {"client_secret": sandbox.client_secret},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert with_both.status_code == 400 and with_both.json()["error"] == "invalid_request"
    sandbox.settings(token_auth="form")
    assert sandbox.issue_token()["access_token"].startswith("oa2_")
    assert by_basic(sandbox, code_for(sandbox)[0]).status_code == 401
