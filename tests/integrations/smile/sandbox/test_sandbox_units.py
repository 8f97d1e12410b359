"""In-process tests of the sandbox's pure parts: rate window, cursors, rendering, store keyset scans."""

import base64
import contextlib
import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.smile.sandbox import cursors, render
from integrations.smile.sandbox.config import PROJECT_ROOT, SandboxConfig
from integrations.smile.sandbox.fleet import Fleet
from integrations.smile.sandbox.ratelimit import RateLimiter, token_fingerprint
from integrations.smile.sandbox.store import UPDATED_INDEX_MAX, Store


def test_the_rate_window_slides():
    limiter = RateLimiter(3)
    assert [limiter.allow("t", now) for now in (0.0, 0.1, 0.2, 0.3)] == [True, True, True, False]
    assert limiter.allow("t", 0.99) is False  # rejected requests do not count, accepted ones still do
    assert limiter.allow("t", 1.0) is True  # the first accepted one (t=0.0) left the window
    assert limiter.allow("t", 1.05) is False
    assert limiter.allow("other", 1.05) is True
    assert RateLimiter(0).allow("t", 0) is True


def test_fingerprints_are_short_and_never_the_token():
    fp = token_fingerprint("oa2_secret")
    assert len(fp) == 12 and "secret" not in fp and token_fingerprint(None) == ""


def test_cursor_round_trip_and_rejects():
    codec = cursors.Cursors(b"k" * 32)
    assert codec.decode("keyset", 1, cursors.encode_keyset(123, "next")) == (123, "next")
    assert cursors.encode_keyset(2, "next") == "aWQ6MixkaXJlY3Rpb246bmV4dA=="  # Smile's documented example
    for bad in ("", "%%%", base64.b64encode(b"id:1").decode(), base64.b64encode(b"\xff\xfe").decode()):
        with pytest.raises(cursors.CursorError) as exc:
            codec.decode("keyset", 1, bad)
        assert exc.value.status == 400


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "null"),
        (0, "0"),
        (300.0, "300"),
        (301.63, "301.63"),
        (198.37000000000001, "198.37"),
        (-0.0, "0"),
        (0.1 + 0.2, "0.3"),
    ],
)
def test_numbers_render_like_smiles_examples(value, text):
    assert render.num(value) == text


def test_timestamps_round_trip_with_milliseconds():
    ms = render.parse_iso("2024-04-04T15:10:42.030Z")
    assert render.iso_ms(ms) == "2024-04-04T15:10:42.030Z"
    assert render.parse_iso("2024-04-04T17:10:42.030+02:00") == ms
    assert render.parse_iso("2024-04-04T15:10:42.030") == ms  # naive = UTC
    for bad in ("", "-2024-01-01", "2024-02-30T00:00:00Z", "soon"):
        with pytest.raises(ValueError):
            render.parse_iso(bad)


def test_rendered_customers_are_valid_json_even_with_quotes_and_unicode():
    c = {
        "id": 1,
        "first_name": 'Zoë "Z"',
        "last_name": "O'Brien",
        "email": None,
        "state": "member",
        "date_of_birth": "1004-05-27",
        "points_balance": 3,
        "referral_url": "http://i.refs.cc/x",
        "vip_tier_id": None,
        "created_at": 0,
        "updated_at": 1,
    }
    parsed = json.loads(render.render_customer(render.render_base(c), None))
    assert parsed["first_name"] == 'Zoë "Z"' and parsed["updated_at"] == "1970-01-01T00:00:00.001Z"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Program 1 (12,000 customers) with two neighbours in the same file, whose rows must never show."""
    path = tmp_path_factory.mktemp("store") / "s.sqlite3"
    cfg = SandboxConfig(customers=12_000, seed=9, db=path, programs=3, size_distribution="fixed:3000")
    s = Store(path)
    fleet = Fleet(cfg, s)
    assert s.open(fleet.describe(1), Fleet.key(cfg)) is False
    s.prog = fleet.get(1)
    fleet.get(2), fleet.get(3)
    s.rows = list(s.export_rows(s.prog))
    assert len(s.rows) == 12_000 and len(list(s.export_rows(fleet.get(3)))) == 3000
    yield s
    s.close()


def brute(store, state=None, email_lc=None, updated_min=None, exclusive=False):
    return [
        r["id"]
        for r in store.rows
        if (state is None or r["state"] == state)
        and (email_lc is None or (r["email"] or "").lower() == email_lc)
        and (
            updated_min is None
            or r["updated_ms"] > updated_min
            or (r["updated_ms"] == updated_min and not exclusive)
        )
    ]


def walk(store, limit, **filters):
    ids, after = [], None
    while True:
        rows, more = store.list_page(store.prog, after_id=after, direction="next", limit=limit, **filters)
        ids += [r[0] for r in rows]
        if not more:
            return ids
        after = rows[-1][0]


@pytest.mark.parametrize("exclusive", [False, True])
@pytest.mark.parametrize("rank", [100, UPDATED_INDEX_MAX - 1, UPDATED_INDEX_MAX + 500, 11_000])
def test_updated_at_min_scans_agree_with_brute_force_on_both_index_paths(store, rank, exclusive):
    stamps = sorted((r["updated_ms"] for r in store.rows), reverse=True)
    threshold = stamps[rank]
    filters = {"state": None, "email_lc": None, "updated_min": threshold, "updated_exclusive": exclusive}
    expected = brute(store, updated_min=threshold, exclusive=exclusive)
    assert walk(store, 250, **filters) == expected
    chosen = set(expected)
    assert (threshold in {r["updated_ms"] for r in store.rows if r["id"] in chosen}) is not exclusive


@settings(max_examples=25, deadline=None)
@given(
    limit=st.integers(1, 400),
    state=st.sampled_from([None, "member", "candidate", "disabled"]),
    cut=st.floats(0, 1),
)
def test_any_filtered_walk_equals_brute_force(store, limit, state, cut):
    stamps = sorted(r["updated_ms"] for r in store.rows)
    threshold = stamps[int(cut * (len(stamps) - 1))] if cut > 0.05 else None
    filters = {"state": state, "email_lc": None, "updated_min": threshold}
    assert walk(store, limit, **filters) == brute(store, state=state, updated_min=threshold)


def test_previous_direction_returns_the_page_above_in_descending_order(store):
    none = {"state": None, "email_lc": None, "updated_min": None}
    first, _ = store.list_page(store.prog, after_id=None, direction="next", limit=5, **none)
    second, _ = store.list_page(store.prog, after_id=first[-1][0], direction="next", limit=5, **none)
    back, more = store.list_page(store.prog, after_id=second[0][0], direction="prev", limit=5, **none)
    assert [r[0] for r in back] == [r[0] for r in first] and more is False


def test_parallel_generation_is_byte_identical_to_in_process_generation():
    script = (
        "import hashlib\n"
        "from integrations.smile.sandbox import data\n"
        "tiers = data.make_tiers(4, 4)\n"
        "def digest(low):\n"
        "    chunks = data.generate_customers(1234, 4, 'calendar', tiers, 0, parallel_min=low, chunk=100)\n"
        "    return hashlib.sha256(repr([row for c in chunks for row in c]).encode()).hexdigest()\n"
        "print(digest(10**9), digest(1))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    assert len(out) == 2 and out[0] == out[1]


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"state": "member"},
        {"email_lc": "jane@example.com"},
        {"email_lc": "jane@example.com", "state": "member"},
        {"updated_min": -1},  # wide: nearly every row matches
        {"updated_min": 1 << 60},  # narrow: none match
        {"updated_min": 1 << 60, "state": "candidate", "updated_exclusive": True},
    ],
)
def test_every_page_query_searches_an_index_so_its_cost_follows_the_page_not_the_fleet(store, filters):
    """A page of one program never scans the whole table (other programs' rows are never read)."""
    sql_seen = []
    real = store.connection

    class Spy:
        def __init__(self, conn):
            self.conn = conn

        def execute(self, sql, params=()):
            sql_seen.append((sql, params))
            return self.conn.execute(sql, params)

    @contextlib.contextmanager
    def spying():
        with real() as conn:
            yield Spy(conn)

    store.connection = spying
    try:
        store.list_page(
            store.prog,
            after_id=store.rows[500]["id"],
            direction="next",
            limit=50,
            **({"state": None, "email_lc": None, "updated_min": None} | filters),
        )
    finally:
        store.connection = real
    with real() as conn:
        for sql, params in sql_seen:
            plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
            assert any(step.startswith("SEARCH customers") for step in plan), plan
            assert not any(step.startswith("SCAN customers") for step in plan), plan


@pytest.mark.parametrize(
    ("filters", "direction"),
    [({}, "next"), ({}, "prev"), ({"state": "member"}, "next"), ({"updated_min": -1}, "next")],
)
def test_a_page_deep_in_the_walk_costs_what_the_first_page_costs(store, filters, direction):
    """Counted in SQLite VM steps: a keyset page must not grow with its position in the program."""
    steps = [0]
    real = store.connection

    def count():
        steps[0] += 1

    @contextlib.contextmanager
    def counting():
        with real() as conn:
            conn.set_progress_handler(count, 10)
            try:
                yield conn
            finally:
                conn.set_progress_handler(None, 0)

    def cost(after_id):
        steps[0] = 0
        store.list_page(
            store.prog,
            after_id=after_id,
            direction=direction,
            limit=100,
            **({"state": None, "email_lc": None, "updated_min": None} | filters),
        )
        return steps[0]

    store.connection = counting
    try:
        edge = store.rows[150]["id"] if direction == "next" else store.rows[-150]["id"]
        deep = store.rows[-300]["id"] if direction == "next" else store.rows[300]["id"]
        near, far = cost(edge), cost(deep)
    finally:
        store.connection = real
    assert far <= 2 * near + 50, (near, far)
