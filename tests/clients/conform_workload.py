"""A workload for `resplay conform`: what an application sends a Redis.

Run once through `resplay record`; the cassette is then conformed against
fresh servers. Values that vary between servers on purpose (stream ids,
random members, set order, TTLs, cursors) are all in it, so a conform run
with no false positives shows the normalisations hold. Usage:
conform_workload.py PORT [PROTOCOL]
"""

import sys
import threading
import time

import redis


def main():
    port = int(sys.argv[1])
    protocol = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    r = redis.Redis(port=port, protocol=protocol)

    # Strings, counters, expiry.
    r.set("greeting", "hello")
    r.get("greeting")
    r.incr("counter")
    r.incrby("counter", 5)
    r.set("session", "x", ex=100)
    r.ttl("session")
    r.pttl("session")
    r.expiretime("session")

    # Hashes and sets, whose order is the server's.
    r.hset("user:1", mapping={f"field{i}": i for i in range(20)})
    r.hgetall("user:1")
    r.sadd("tags", *[f"tag{i}" for i in range(30)])
    r.smembers("tags")
    r.srandmember("tags", 3)
    r.sinter("tags", "tags")

    # A pipeline and a transaction.
    p = r.pipeline(transaction=False)
    for i in range(10):
        p.set(f"k{i}", i)
    p.mget([f"k{i}" for i in range(10)])
    p.execute()
    with r.pipeline(transaction=True) as t:
        t.incr("tx")
        t.lpush("list", "a", "b")
        t.lrange("list", 0, -1)
        # Compared inside EXEC by their own rules: order, tolerance.
        t.smembers("tags")
        t.ttl("session")
        t.execute()

    # Lua.
    r.eval("return redis.call('incrby', KEYS[1], ARGV[1])", 1, "lua", 7)

    # Streams with made-up ids, a consumer group, acknowledgements.
    first = r.xadd("events", {"type": "a"})
    r.xadd("events", {"type": "b"})
    r.xrange("events")
    r.xgroup_create("events", "workers", id="0")
    r.xreadgroup("workers", "w1", {"events": ">"})
    r.xack("events", "workers", first)
    r.xpending("events", "workers")

    # SCAN over every key, a few at a time.
    keys = sorted(r.scan_iter(count=3))
    assert len(keys) > 10, keys

    # A blocked pop released by another connection.
    other = redis.Redis(port=port, protocol=protocol)
    popped = []
    waiter = threading.Thread(target=lambda: popped.append(other.blpop("jobs", 5)))
    waiter.start()
    time.sleep(0.3)
    r.lpush("jobs", "job1")
    waiter.join()
    assert popped and popped[0] is not None, popped

    # Pub/sub with a pattern.
    sub = r.pubsub()
    sub.psubscribe("news.*")
    assert sub.get_message(timeout=2)["type"] == "psubscribe"
    r.publish("news.sport", "goal")
    message = sub.get_message(timeout=2)
    assert message and message["data"] == b"goal", message
    sub.close()

    # What the server makes up.
    r.time()
    r.info("server")
    print("workload done")


if __name__ == "__main__":
    main()
