import pytest
from django.core.cache import cache

from loyalty_lists.api.ratelimit import Rate, RateLimiter, parse_rate

pytestmark = pytest.mark.django_db


class Clock:
    def __init__(self, now=1_000_020.0):
        self.now = now

    def __call__(self):
        return self.now


@pytest.mark.parametrize(
    ("text", "limit", "period"),
    [
        ("6000/m", 6000, 60),
        ("10/s", 10, 1),
        ("100/5m", 100, 300),
        ("50000/day", 50000, 86400),
        ("7 / h", 7, 3600),
    ],
)
def test_rates_parse(text, limit, period):
    assert parse_rate(text) == Rate(limit, period)


@pytest.mark.parametrize("text", ["", "6000", "x/m", "10/fortnight", "-1/m"])
def test_bad_rates_are_refused(text):
    with pytest.raises(ValueError):
        parse_rate(text)


def test_a_small_limit_is_exact_and_the_wait_is_the_rest_of_the_window():
    clock = Clock(1_000_040.0)  # 20 s into a minute window (1_000_020 = 16667 * 60)
    limiter = RateLimiter(clock=clock)
    rate = Rate(3, 60)
    assert [limiter.hit("k1", rate) for _ in range(3)] == [None, None, None]
    wait = limiter.hit("k1", rate)
    assert wait == pytest.approx(40)
    assert limiter.hit("k2", rate) is None  # another key has its own counter


def test_a_new_window_starts_a_new_count():
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    rate = Rate(2, 60)
    limiter.hit("k", rate)
    limiter.hit("k", rate)
    assert limiter.hit("k", rate) is not None
    clock.now += 60
    assert limiter.hit("k", rate) is None


def test_processes_share_the_count_through_the_cache():
    clock = Clock()
    web1, web2 = RateLimiter(clock=clock), RateLimiter(clock=clock)
    rate = Rate(4, 60)
    assert web1.hit("k", rate) is None
    assert web2.hit("k", rate) is None
    assert web1.hit("k", rate) is None
    assert web2.hit("k", rate) is None
    assert web1.hit("k", rate) is not None
    assert web2.hit("k", rate) is not None


def test_large_limits_send_counts_in_batches_and_overshoot_at_most_a_batch_per_process(monkeypatch):
    clock = Clock()
    processes = [RateLimiter(clock=clock) for _ in range(3)]
    rate = Rate(1000, 60)  # batch of 5
    sent = []
    real_incr = cache.incr
    monkeypatch.setattr(
        cache, "incr", lambda key, delta=1, **kw: sent.append(delta) or real_incr(key, delta, **kw)
    )
    allowed = 0
    for n in range(3000):
        if processes[n % 3].hit("k", rate) is None:
            allowed += 1
    assert 1000 <= allowed <= 1000 + (rate.batch - 1) * len(processes)
    assert max(sent) == rate.batch  # counts travel in batches…
    assert len(sent) < 3000 // 2  # …so most calls cost no cache round trip


def test_once_over_the_limit_a_process_answers_without_asking_the_cache(monkeypatch):
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    rate = Rate(1, 60)
    limiter.hit("k", rate)
    limiter.hit("k", rate)  # over: the cache said 2
    calls = []
    monkeypatch.setattr(cache, "incr", lambda *a, **k: calls.append(a))
    assert limiter.hit("k", rate) is not None
    assert calls == []


def test_a_broken_cache_lets_calls_through_and_says_so(monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(cache, "incr", broken)
    monkeypatch.setattr(cache, "add", broken)
    limiter = RateLimiter(clock=Clock())
    assert all(limiter.hit("k", Rate(1, 60)) is None for _ in range(5))
    assert "cache is unavailable" in caplog.text


def test_a_bad_rate_setting_fails_the_system_checks(settings):
    from loyalty_lists.api.checks import api_settings_check

    assert api_settings_check(None) == []
    settings.API_RATE_LIMIT = "lots"
    settings.API_MAX_BODY_BYTES = 0
    assert [e.id for e in api_settings_check(None)] == ["api.E001", "api.E002"]
