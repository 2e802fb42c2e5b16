"""redis-py subscribers for messages and an invalidation published through
resplay's control API (tests/steering_clients.rs), in record or replay mode.

Environment: REDIS_PORT (resplay's listener). One subscriber speaks RESP2,
one RESP3 (`protocol=3`); each subscribes to `news.tech` and to the pattern
`news.*`. A third connection (RESP3) turns `CLIENT TRACKING on` and reads
`news:headline`. It says `ready`, waits for `published` on stdin, then
prints what each received as JSON lines.
"""
import json
import os
import sys
import time

import redis

PORT = int(os.environ["REDIS_PORT"])


def say(tag, value=None):
    print(tag if value is None else f"{tag} {json.dumps(value)}", flush=True)


def text(value):
    return value.decode() if isinstance(value, bytes) else value


def subscriber(protocol):
    pubsub = redis.Redis(port=PORT, protocol=protocol).pubsub()
    pubsub.subscribe("news.tech")
    pubsub.psubscribe("news.*")
    # The two confirmations, so that both subscriptions are in place.
    confirmed = 0
    deadline = time.time() + 10
    while confirmed < 2 and time.time() < deadline:
        m = pubsub.get_message(timeout=0.2)
        if m and m["type"] in ("subscribe", "psubscribe"):
            confirmed += 1
    assert confirmed == 2, f"RESP{protocol}: {confirmed} confirmations"
    return pubsub


def messages(pubsub, want):
    got = []
    deadline = time.time() + 10
    while len(got) < want and time.time() < deadline:
        m = pubsub.get_message(timeout=0.2)
        if m and m["type"] in ("message", "pmessage"):
            got.append([m["type"], text(m["pattern"]), text(m["channel"]), text(m["data"])])
    # Nothing more comes.
    extra = pubsub.get_message(timeout=0.3)
    if extra:
        got.append(["unexpected", repr(extra)])
    return got


resp2 = subscriber(2)
resp3 = subscriber(3)

tracker = redis.Redis(port=PORT, protocol=3, single_connection_client=True)
invalidated = []
tracker.connection._parser.set_invalidation_push_handler(
    lambda push: invalidated.append([text(p) if not isinstance(p, list) else [text(k) for k in p] for p in push])
)
tracker.execute_command("CLIENT", "TRACKING", "on")
say("headline", text(tracker.get("news:headline")))

say("ready")
line = sys.stdin.readline().strip()
assert line == "published", line
say("resp2", messages(resp2, 3))
say("resp3", messages(resp3, 3))
# The push is read before the reply of the next command.
say("headline", text(tracker.get("news:headline")))
say("invalidated", invalidated)
for c in (resp2, resp3):
    c.close()
tracker.close()
say("done")
