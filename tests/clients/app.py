"""A small redis-py program that resplay's tests wrap with `resplay run`.

It talks to whatever REDIS_URL names and prints what it got, so a recorded
run and a replayed run can be compared line by line.

For a rediss:// URL, TLS_CA names the CA to trust and TLS_CERT/TLS_KEY a
client certificate (mutual TLS); a plain URL ignores them.
"""
import os

import redis

url = os.environ["REDIS_URL"]
tls = {}
if url.startswith("rediss://"):
    for var, key in [("TLS_CA", "ssl_ca_certs"), ("TLS_CERT", "ssl_certfile"), ("TLS_KEY", "ssl_keyfile")]:
        if os.environ.get(var):
            tls[key] = os.environ[var]
r = redis.Redis.from_url(url, **tls)
r.set("py:greeting", "hello")
print("get", r.get("py:greeting"))
print("incr", r.incr("py:counter"), r.incr("py:counter"))
r.hset("py:user", mapping={"name": "Ada", "lang": "Python"})
print("hgetall", sorted(r.hgetall("py:user").items()))
r.rpush("py:list", "a", "b", "c")
print("lrange", r.lrange("py:list", 0, -1))
pipe = r.pipeline(transaction=True)
pipe.incr("py:counter")
pipe.get("py:greeting")
print("multi", pipe.execute())
print("missing", r.get("py:missing"))
r.close()
