"""A redis-py RedisCluster program that reads keys while their slot moves.

The test drives it over stdin: after each printed step it waits for a line,
meanwhile moving the slot of `{m}` (half way, then whole). redis-py follows
`-ASK` (ASKING to the node named) and `-MOVED` (a new CLUSTER SLOTS) by
itself; the values it prints are the same direct, through `resplay record
--cluster` and against `resplay replay`.

    python3 cluster_moves.py --url redis://HOST:PORT [--protocol 3]
"""
import argparse
import sys

from redis.cluster import RedisCluster

ap = argparse.ArgumentParser()
ap.add_argument("--url", required=True)
ap.add_argument("--protocol", type=int, default=2)
args = ap.parse_args()

rc = RedisCluster.from_url(args.url, protocol=args.protocol)


def step(name, *values):
    print(name, *values, flush=True)
    sys.stdin.readline()


rc.delete("{m}:1")
rc.delete("{m}:2")
rc.set("{m}:1", "one")
rc.set("{m}:2", "two")
step("set")
# Half way: {m}:1 is on the target (-ASK), {m}:2 still on the source.
step("half", rc.get("{m}:1"), rc.get("{m}:2"), rc.mget("{m}:2"))
# Moved: the first command gets -MOVED, redis-py reloads the slots.
step("moved", rc.get("{m}:1"), rc.get("{m}:2"), rc.mget("{m}:1", "{m}:2"))
print("done", flush=True)
rc.close()
