"""A redis-py program that a running resplay is switched under, from record to
replay, by the program itself through the control API (tests/steering_clients.rs).

    python3 steer_switch.py reset|keep

Environment: REDIS_PORT (resplay's listener), RESPLAY_ADMIN (its control API).
It does some work while resplay records, switches resplay to replay, says
`switched` and waits for `go` on stdin (the test kills redis-server in
between), then does the same work again, now answered from the cassette.
Every result is printed as one JSON line, so the test compares them.

- reset: the switch closes the connection; redis-py's retry reconnects.
- keep (`--keep-connections`): one connection, never reconnected, keeps its
  database (SELECT 2), its protocol (RESP3) and a subscriber its channel and
  pattern subscriptions.
"""
import json
import os
import sys
import time
import urllib.request

import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import ConnectionError, TimeoutError
from redis.retry import Retry

PORT = int(os.environ["REDIS_PORT"])
ADMIN = os.environ["RESPLAY_ADMIN"]
MODE = sys.argv[1]
assert MODE in ("reset", "keep"), MODE


def say(tag, value=None):
    print(tag if value is None else f"{tag} {json.dumps(value, sort_keys=True)}", flush=True)


def wait_for(word):
    line = sys.stdin.readline().strip()
    if line != word:
        sys.exit(f"expected {word!r} on stdin, got {line!r}")


def api(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://{ADMIN}{path}",
        data=data,
        method=method,
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


def text(value):
    return value.decode() if isinstance(value, bytes) else value


def work(r):
    """Commands whose replies the recording holds; the same every time."""
    out = []
    r.set("steer:greeting", "hello")
    out.append(["get", text(r.get("steer:greeting"))])
    out.append(["incr", r.incr("steer:counter"), r.incr("steer:counter")])
    r.hset("steer:user", mapping={"name": "Ada", "lang": "Python"})
    out.append(["hgetall", sorted((text(k), text(v)) for k, v in r.hgetall("steer:user").items())])
    r.rpush("steer:list", "a", "b", "c")
    out.append(["lrange", [text(v) for v in r.lrange("steer:list", 0, -1)]])
    pipe = r.pipeline(transaction=True)
    pipe.incr("steer:counter")
    pipe.get("steer:greeting")
    out.append(["multi", [text(v) for v in pipe.execute()]])
    out.append(["missing", r.get("steer:missing")])
    return out


connects = {}


def counting(name):
    """A redis_connect_func that counts the connections `name` makes."""

    def on_connect(connection):
        connects[name] = connects.get(name, 0) + 1
        connection.on_connect()

    return on_connect


def reset():
    # The switch closes the connection: the next command fails on the dead
    # socket and redis-py's retry reconnects (to resplay, now replaying).
    retry = Retry(ExponentialBackoff(cap=0.5, base=0.05), 10)
    r = redis.Redis(
        port=PORT,
        retry=retry,
        retry_on_error=[ConnectionError, TimeoutError],
        redis_connect_func=counting("main"),
    )
    say("work", work(r))
    say("connects", connects)
    say("switch", api("POST", "/mode", {"mode": "replay"}))
    wait_for("go")
    say("work", work(r))
    say("connects", connects)
    r.close()


def messages(pubsub, want):
    got = []
    deadline = time.time() + 10
    while len(got) < want and time.time() < deadline:
        m = pubsub.get_message(timeout=0.2)
        if m and m["type"] in ("message", "pmessage"):
            got.append([m["type"], text(m["pattern"]), text(m["channel"]), text(m["data"])])
    return got


def keep():
    # No retries: a dropped connection fails the program.
    never = Retry(NoBackoff(), 0)
    r = redis.Redis(
        port=PORT,
        db=2,
        protocol=3,
        single_connection_client=True,
        retry=never,
        redis_connect_func=counting("main"),
    )
    sub = redis.Redis(port=PORT, protocol=3, retry=never, redis_connect_func=counting("sub"))
    pubsub = sub.pubsub()
    pubsub.subscribe("steer.plain")
    pubsub.psubscribe("steer.*")
    # A same-named key in db 0, through a connection closed before the switch.
    r0 = redis.Redis(port=PORT, retry=never)
    r0.set("steer:where", "db0")
    r0.get("steer:where")
    r0.close()

    r.set("steer:where", "db2")
    main_sock = r.connection._sock.getsockname()
    sub_sock = pubsub.connection._sock.getsockname()

    def where_and_type():
        conn = r.connection
        conn.send_command("HGETALL", "steer:user")
        raw = conn.read_response()
        # The RESP3 parser gives a dict for a map, a list for a RESP2 array.
        return [text(r.get("steer:where")), type(raw).__name__]

    say("work", work(r))
    say("state", where_and_type())
    r.publish("steer.plain", "before")
    say("before", messages(pubsub, 2))
    # (The pipeline in work() takes a second connection from the pool.)
    say("connects", connects)
    say("switch", api("POST", "/mode", {"mode": "replay"}))
    wait_for("go")
    say("work", work(r))
    say("state", where_and_type())
    say(
        "same-sockets",
        [
            r.connection._sock.getsockname() == main_sock,
            pubsub.connection._sock.getsockname() == sub_sock,
        ],
    )
    say("connects", connects)
    say("subscribed")
    wait_for("published")
    say("after", messages(pubsub, 2))
    pubsub.close()
    r.close()


reset() if MODE == "reset" else keep()
say("done")
