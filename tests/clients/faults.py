"""A redis-py program run under `resplay run --fault …` (tests/faults_clients.rs).

Each mode exercises one way a client copes with a misbehaving Redis, and
prints what it saw; it exits non-zero if the client did not cope.

  loading  GET answered -LOADING twice: Retry on BusyLoadingError succeeds.
  drop     the connection drops on GET: Retry on ConnectionError reconnects.
  hang     GET is never answered: socket_timeout raises TimeoutError.
"""
import os
import sys

import redis
from redis.backoff import NoBackoff
from redis.exceptions import BusyLoadingError, ConnectionError, TimeoutError
from redis.retry import Retry

URL = os.environ["REDIS_URL"]
mode = sys.argv[1]

if mode == "loading":
    r = redis.Redis.from_url(
        URL, retry=Retry(NoBackoff(), 3), retry_on_error=[BusyLoadingError]
    )
    r.set("py:k", "v")
    print("get", r.get("py:k"))
elif mode == "drop":
    r = redis.Redis.from_url(
        URL, retry=Retry(NoBackoff(), 3), retry_on_error=[ConnectionError]
    )
    r.set("py:k", "v")
    print("get", r.get("py:k"))
elif mode == "hang":
    r = redis.Redis.from_url(URL, socket_timeout=0.5, retry=Retry(NoBackoff(), 0))
    r.set("py:k", "v")
    try:
        r.get("py:k")
        print("answered: the hang did not happen")
        sys.exit(1)
    except TimeoutError as e:
        print("timeout", type(e).__name__)
else:
    sys.exit("unknown mode " + mode)
r.close()
