"""Three tests against Redis through redis-py, each with its own resplay
cassette (cassettes/test_app/<test>.jsonl)."""

import os
import time
import uuid

import pytest
import redis

# tests/packages.rs changes this line to make one test send another command.
GREETING = "hello"


@pytest.mark.resplay(ignore=["SET lock:* <any> EX <any>"])
def test_strings(resplay):
    r = redis.Redis.from_url(resplay)
    # A fresh key every run: the mark's ignore rule lets replay match it.
    assert r.set(f"lock:{uuid.uuid4()}", "1", ex=30)
    r.set("greeting", GREETING)
    assert r.get("greeting") == GREETING.encode()
    assert r.incr("visits") == 1


@pytest.mark.resplay
def test_pipeline():
    # A marked test finds resplay in REDIS_URL, as an app configured by
    # environment would.
    r = redis.Redis.from_url(os.environ["REDIS_URL"])
    pipe = r.pipeline(transaction=False)
    pipe.rpush("queue", "a", "b", "c")
    pipe.lrange("queue", 0, -1)
    pipe.hset("user:1", mapping={"name": "Ada", "lang": "en"})
    pipe.hgetall("user:1")
    assert pipe.execute() == [3, [b"a", b"b", b"c"], 2, {b"name": b"Ada", b"lang": b"en"}]


def test_pubsub(resplay):
    r = redis.Redis.from_url(resplay)
    sub = r.pubsub()
    sub.subscribe("news")
    first = sub.get_message(timeout=5)
    assert first["type"] == "subscribe"
    assert r.publish("news", "resplay is out") == 1
    deadline = time.monotonic() + 5
    message = None
    while message is None and time.monotonic() < deadline:
        message = sub.get_message(ignore_subscribe_messages=True, timeout=1)
    assert message is not None and message["data"] == b"resplay is out"
    sub.close()
    r.close()
