"""Asserting on what the code said to Redis (resplay's call journal), and a
hand-written stub, in record and in replay."""

import pytest
import redis
from redis.backoff import NoBackoff
from redis.exceptions import BusyLoadingError
from redis.retry import Retry

LOADING = "LOADING Redis is loading the dataset in memory"


def cache_user(r, user_id, name):
    """The code under test: caches a user for a minute."""
    r.set(f"user:{user_id}", name, ex=60)


def test_cache_write_has_a_ttl(resplay):
    r = redis.Redis.from_url(resplay)
    cache_user(r, 1, "ada")
    assert r.get("user:1") == b"ada"
    # tests/packages.rs changes this line to check a failed assertion's words.
    [call] = resplay.assert_called("SET user:* <any> EX <any>", times=1)
    assert call.args == ("SET", "user:1", "ada", "EX", "60")
    assert call.reply == "OK" and call.db == 0 and not call.error
    assert [c.cmd for c in resplay.calls("GET user:1")] == ["GET user:1"]
    # Only this test's calls: none of another test's keys.
    assert not resplay.calls("SET greeting ...")
    r.close()


# Replaying, the first two GETs get -LOADING from the stub, and the third
# the recorded value (times=2: the stub then lets the cassette answer, so
# the recording is used and --resplay-strict holds). Recording, Redis
# answers the first GET.
@pytest.mark.resplay(stubs=[{"pattern": "GET config:flag", "error": LOADING, "times": 2}])
def test_retries_while_redis_loads(resplay):
    r = redis.Redis.from_url(
        resplay, retry=Retry(NoBackoff(), 3), retry_on_error=[BusyLoadingError]
    )
    r.set("config:flag", "on")
    assert r.get("config:flag") == b"on"
    gets = resplay.calls("GET config:flag")
    if resplay.mode == "replay":
        assert [c.reply for c in gets] == [f"(error) {LOADING}"] * 2 + ['"on"'], gets
        # redis-py reconnects after each error.
        assert len({c.conn for c in gets}) == 3, gets
    else:
        assert [c.reply for c in gets] == ['"on"'], gets
    r.close()
