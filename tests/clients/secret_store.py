"""A redis-py program that stores secrets in Redis: a session token and a
user hash with personal data. tests/redact.rs records it under redaction
rules and replays it; it prints only what does not depend on the secrets
(a replay serves placeholders where the secrets were).
"""
import os

import redis

TOKEN = "tok_live_9f8e7d6c5b4a39281706"
r = redis.Redis.from_url(os.environ["REDIS_URL"])
r.set("session:abc", TOKEN)
print("session stored", r.get("session:abc") is not None)
r.hset("user:1", mapping={"name": "Ada", "email": "ada@example.com", "ssn": "078-05-1120"})
user = r.hgetall("user:1")
print("user fields", sorted(user))
print("name", user[b"name"])
print("hmget", [v is not None for v in r.hmget("user:1", "email", "name")])
r.set("config", "api_key=sk_test_51HxYz0123abcd;region=eu")
print("config", len(r.get("config")))
