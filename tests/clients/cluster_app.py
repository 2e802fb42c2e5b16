"""A redis-py RedisCluster program for resplay's cluster tests.

It prints what it got, line by line, the same whether it talks to a real
cluster or to resplay recording or replaying one, so the three outputs can be
compared byte for byte: no node address, port or timing is printed.

Where it starts from: --nodes HOST:PORT,… (or REDIS_CLUSTER_NODES) is the
startup node list; otherwise --url (or REDIS_URL) names one node.

    --protocol 3   RESP3 (HELLO 3) on every connection
    --replicas     reads go round robin to the primary and its replicas, on
                   connections that sent READONLY (writes are WAITed for
                   first, so a replica never answers stale)
    --hold         prints "hold" and waits for stdin to close before closing
                   the connections (the test looks at them meanwhile)
"""
import argparse
import hashlib
import os
import sys
import time

from redis.cluster import ClusterNode, RedisCluster

ap = argparse.ArgumentParser()
ap.add_argument("--url")
ap.add_argument("--nodes")
ap.add_argument("--protocol", type=int, default=2)
ap.add_argument("--replicas", action="store_true")
ap.add_argument("--hold", action="store_true")
ap.add_argument("--keys", type=int, default=200)
args = ap.parse_args()

options = {"protocol": args.protocol}
if args.replicas:
    try:
        from redis.cluster import LoadBalancingStrategy

        options["load_balancing_strategy"] = LoadBalancingStrategy.ROUND_ROBIN
    except ImportError:  # redis-py before 5.3
        options["read_from_replicas"] = True

nodes = args.nodes or (None if args.url else os.environ.get("REDIS_CLUSTER_NODES"))
if nodes:
    startup = [ClusterNode(*a.rsplit(":", 1)) for a in nodes.split(",")]
    rc = RedisCluster(startup_nodes=startup, **options)
else:
    rc = RedisCluster.from_url(args.url or os.environ["REDIS_URL"], **options)

# Keys over all slots; a run leaves the same state whatever ran before it.
keys = [f"py:k:{i}" for i in range(args.keys)]
pipe = rc.pipeline()
for k in keys:
    pipe.delete(k)
pipe.execute()
for i, k in enumerate(keys):
    rc.set(k, f"v{i}")
print("owners", len({rc.get_node_from_key(k).name for k in keys}))
if args.replicas:
    # Replication is asynchronous: a replica read must not race the write.
    acks = rc.execute_command("WAIT", 1, 5000, target_nodes=RedisCluster.PRIMARIES)
    print("wait", sorted(acks.values()) if isinstance(acks, dict) else [acks])
values = [rc.get(k) for k in keys]
expected = [f"v{i}".encode() for i in range(args.keys)]
print("get", len(values), "ok" if values == expected else values)
print("digest", hashlib.sha1(b",".join(v or b"-" for v in values)).hexdigest())

# Hash-tagged keys: one slot, so multi-key commands and a transaction work.
tagged = ["{user:1}:a", "{user:1}:b", "{user:1}:c", "{user:1}:n"]
rc.delete(*tagged)
print("mset", rc.mset({"{user:1}:a": "1", "{user:1}:b": "2", "{user:1}:c": "3"}))
print("mget", rc.mget(tagged[:3] + ["{user:1}:missing"]))
print("incr", rc.incr("{user:1}:n"), rc.incr("{user:1}:n"))
tx = rc.pipeline(transaction=True)
tx.incr("{user:1}:n")
tx.get("{user:1}:a")
print("multi", tx.execute())

# A pipeline over several slots (several nodes).
pipe = rc.pipeline()
for i in range(0, args.keys, 25):
    pipe.get(keys[i])
pipe.set("py:pipe", "x")
pipe.get("py:pipe")
print("pipeline", pipe.execute())
print("missing", rc.get("py:missing"))


def next_message(ps, limit=10.0):
    """The next sharded pub/sub message (subscribe confirmations included)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        msg = ps.get_sharded_message(ignore_subscribe_messages=False, timeout=0.2)
        if msg is not None:
            return msg
    return None


def show(msg):
    if msg is None:
        return "none"
    return f"{msg['type']} {msg['channel']!r} {msg['data']!r}"


# Sharded pub/sub: the subscriber lives on the slot's primary.
ps = rc.pubsub()
ps.ssubscribe("py:chan{7}")
print("ssubscribe", show(next_message(ps)))
print("spublish", rc.spublish("py:chan{7}", "hello shard"))
print("smessage", show(next_message(ps)))
ps.sunsubscribe("py:chan{7}")
print("sunsubscribe", show(next_message(ps)))
ps.close()

print("done", flush=True)
if args.hold:
    print("hold", flush=True)
    sys.stdin.read()
rc.close()
