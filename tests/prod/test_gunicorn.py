import re

import httpx

FAR_FUTURE = "max-age=315360000"  # whitenoise's "forever" for content-hashed files


def test_gunicorn_serves_the_pages_with_the_security_headers(start_gunicorn):
    _, base_url = start_gunicorn()
    page = httpx.get(f"{base_url}/accounts/login/")
    assert page.status_code == 200
    assert 'name="login"' in page.text
    assert page.headers["server"].startswith("gunicorn")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"


def test_whitenoise_serves_collected_hashed_static_files_with_a_far_future_cache(start_gunicorn):
    _, base_url = start_gunicorn()
    page = httpx.get(f"{base_url}/accounts/login/")
    stylesheet = re.search(r'href="(/static/css/app\.[0-9a-f]{12}\.css)"', page.text)
    assert stylesheet, "the page should link the content-hashed stylesheet from the manifest"

    css = httpx.get(base_url + stylesheet[1], headers={"Accept-Encoding": "identity"})
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert FAR_FUTURE in css.headers["cache-control"]
    assert "immutable" in css.headers["cache-control"]
    assert len(css.content) > 100

    compressed = httpx.get(base_url + stylesheet[1], headers={"Accept-Encoding": "gzip"})
    assert compressed.headers["content-encoding"] == "gzip"
    assert compressed.content == css.content  # as decoded by httpx

    unhashed = httpx.get(f"{base_url}/static/css/app.css")
    assert unhashed.status_code == 200
    assert FAR_FUTURE not in unhashed.headers["cache-control"]  # may change without a new name
