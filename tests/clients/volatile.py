"""A redis-py program whose every run sends fresh values: a uuid4 key, the
time as an argument, a random lock token. `resplay learn` is tested on two
recordings of it (tests/learn.rs)."""
import os
import secrets
import time
import uuid

import redis

r = redis.Redis.from_url(os.environ["REDIS_URL"])
request = f"req:{uuid.uuid4()}"
print("set", r.set(request, "pending", ex=60))
print("get", r.get(request))
print("zadd", r.zadd("events", {f"login:{uuid.uuid4().hex[:8]}": time.time()}))
print("lock", r.set("lock:report", secrets.token_hex(8), nx=True, px=10000))
print("hset", r.hset("session:current", mapping={"seen": int(time.time() * 1000)}))
print("count", r.incr("runs") > 0)
print("del", r.delete("lock:report"))
