"""Rate counting on Redis: one atomic round trip, so concurrent requests at the edge of a
limit cannot all pass (the database cache, without Redis, allows that small race)."""

from __future__ import annotations

import threading

import pytest
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

from casework.portal import ratelimit

pytestmark = pytest.mark.usefixtures("require_redis")


def test_the_cache_is_redis_when_redis_is_configured():
    assert isinstance(caches["default"], RedisCache)


def test_concurrent_requests_never_pass_the_limit(settings):
    settings.DSAR_RATE_PER_EMAIL = 5
    passed = []
    start = threading.Barrier(20)

    def post():
        start.wait()
        passed.append(ratelimit.allow_email("arta.krasniqi@demo.example"))

    threads = [threading.Thread(target=post) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert passed.count(True) == 5


def test_one_call_counts_the_address_and_the_email(settings, rf):
    settings.DSAR_RATE_PER_IP = 3
    settings.DSAR_RATE_PER_EMAIL = 100
    request = rf.post("/en/request/", REMOTE_ADDR="203.0.113.9")
    results = [ratelimit.allow(request, f"person{i}@demo.example") for i in range(4)]
    assert results == [True, True, True, False]  # the fourth is over the address's limit


def test_the_counters_expire_with_their_window(settings):
    settings.DSAR_RATE_WINDOW_SECONDS = 3600
    ratelimit.allow_email("ttl@demo.example")
    client = caches["default"]._cache.get_client(write=False)
    keys = client.keys(caches["default"].make_key("portal-rate:email:*"))
    assert len(keys) == 1
    assert 0 < client.ttl(keys[0]) <= 3600
