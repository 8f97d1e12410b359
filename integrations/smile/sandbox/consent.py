"""Plain HTML pages of the OAuth step: the consent page and the "cannot redirect" error page."""

from __future__ import annotations

from html import escape

from .web import Response, html_response

SCOPE_TEXT = {
    "customer:read": "Read customers (names, emails, points balances, VIP status)",
    "customer:write": "Create and update customers",
    "vip_tier:read": "Read VIP tiers",
    "points_settings:read": "Read points settings",
}
FORWARDED = (
    "client_id",
    "response_type",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "program",
)
STYLE = """body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#222}
.card{border:1px solid #ccc;border-radius:8px;padding:1.5rem}h1{font-size:1.3rem}
button{font-size:1rem;padding:.5rem 1.2rem;margin-right:.5rem;border-radius:6px;border:1px solid #888}
#approve{background:#1a7f37;color:#fff;border-color:#1a7f37}.note{color:#666;font-size:.85rem}"""


def _page(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{STYLE}</style></head><body>{body}</body></html>"
    )


def consent_page(
    cfg,
    params: dict[str, str],
    redirect_uri: str,
    scopes: tuple[str, ...],
    account: str,
    choices: int | None = None,
) -> Response:
    """The consent form; with ``choices`` (programs served, none named) the merchant picks a program."""
    picker = (
        ""
        if choices is None
        else f'<p><label for="program">Smile program (1 to {choices})</label> '
        f'<input type="number" name="program" id="program" min="1" max="{choices}" value="1"></p>'
    )
    hidden = "".join(
        f'<input type="hidden" name="{name}" id="{name}" value="{escape(params[name])}">'
        for name in FORWARDED
        if params.get(name) is not None
    )
    items = "".join(
        f'<li data-scope="{escape(s)}"><code>{escape(s)}</code> &mdash; {escape(SCOPE_TEXT.get(s, s))}</li>'
        for s in scopes
    )
    body = f"""<div class="card">
<h1>Connect <strong id="app-name">{escape(cfg.app_name)}</strong> to Smile</h1>
<p><strong id="app-name-2">{escape(cfg.app_name)}</strong> wants access to your Smile account
<strong id="account-name">{escape(account)}</strong>. It will be able to:</p>
<ul id="scopes">{items}</ul>
<form method="post" action="/oauth2/authorize" id="consent-form">{hidden}{picker}
<button type="submit" name="approve" id="approve" value="1">Approve</button>
<button type="submit" name="deny" id="deny" value="1">Deny</button>
</form>
<p class="note">Smile sandbox &mdash; you will be sent back to
<code id="redirect-to">{escape(redirect_uri)}</code>.</p>
</div>"""
    return html_response(200, _page(f"Connect {cfg.app_name} to Smile", body))


def error_page(status: int, title: str, message: str) -> Response:
    body = (
        f'<div class="card"><h1 id="error-title">{escape(title)}</h1>'
        f'<p id="error-message">{escape(message)}</p></div>'
    )
    return html_response(status, _page(title, body))
