"""Replay as real clients use it (issue 23): redis-py scenarios for
`tests/replay_as_used.rs`.

Each scenario is something applications do every day and that a replay
must survive: values the client makes up (lock tokens, idempotency keys),
a clock read as now, a dead connection's leftovers, a connection killed
from elsewhere, MONITOR from a pool (with redis-py's own MONITOR tests),
AUTH with good and bad passwords.

The test records a run against a real Redis, stops Redis, then replays the
same run. So every scenario checks, on the client side, what a real Redis
would give: the same program passes while recording, and must pass again
on replay. It prints a PASS or FAIL line per check and exits non-zero
when a scenario fails.

Usage: python3 replay_as_used.py SCENARIO  (REDIS_URL names the server)

Environment read on the replay run only:
  RESPLAY_SCENARIO_SLOW=1     clock: sleep 8 s instead of 1 s (a slower CI)
  RESPLAY_SCENARIO_DIVERGE=1  leftovers: connection 1 sends another EXPIRE
"""
import asyncio
import base64
import os
import secrets
import socket
import sys
import time
import uuid

import redis
import redis.asyncio
import redis.asyncio.retry
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, ConnectionError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

URL = os.environ["REDIS_URL"]
FAILURES = []


def check(name, ok, detail=""):
    """Prints one PASS/FAIL line and remembers failures."""
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else ": " + detail), flush=True)
    if not ok:
        FAILURES.append(name)


def reply(fn, *args, **kw):
    """The reply of a call, or its error as text: one miss must not hide
    what the later calls would get."""
    try:
        return fn(*args, **kw)
    except redis.RedisError as e:
        return f"error: {type(e).__name__}: {e}"


def no_retry():
    """Retries hide what the server did: a failure must show at once."""
    return Retry(NoBackoff(), 0)


def no_async_retry():
    return redis.asyncio.retry.Retry(NoBackoff(), 0)


# No read waits forever: a reply that never comes fails the scenario.
TIMEOUT = 10


def client(**kw):
    """A client of its own, one connection, no retries."""
    kw.setdefault("retry", no_retry())
    kw.setdefault("socket_timeout", TIMEOUT)
    return redis.Redis.from_url(URL, single_connection_client=True, **kw)


# --- 1. a lock's random token --------------------------------------------


def lock():
    """redis-py's Lock, no ignore rule: SET foo <uuid4 hex> NX PX, EVALSHA
    extend, GET foo is the token, EVALSHA release."""
    r = redis.Redis.from_url(URL, socket_timeout=TIMEOUT)
    lk = r.lock("foo", timeout=10)
    check("lock: acquire", lk.acquire(blocking=False) is True)
    token = lk.local.token
    check("lock: token is a fresh uuid4 hex", len(token) == 32, repr(token))
    try:
        check("lock: extend", lk.extend(5) is True)
    except Exception as e:  # a LockError when the EVALSHA saw another token
        check("lock: extend", False, repr(e))
    check("lock: owned", lk.owned() is True)
    got = r.get("foo")
    check("lock: GET foo is the live token", got == token, f"{got!r} != {token!r}")
    try:
        lk.release()
        check("lock: release", True)
    except Exception as e:
        check("lock: release", False, repr(e))
    check("lock: released", r.get("foo") is None)
    r.close()


async def _lock_asyncio():
    r = redis.asyncio.Redis.from_url(URL, socket_timeout=TIMEOUT)
    lk = r.lock("foo", timeout=10)
    check("lock_asyncio: acquire", await lk.acquire(blocking=False) is True)
    token = lk.local.token
    check("lock_asyncio: token is a fresh uuid4 hex", len(token) == 32, repr(token))
    try:
        check("lock_asyncio: extend", await lk.extend(5) is True)
    except Exception as e:
        check("lock_asyncio: extend", False, repr(e))
    check("lock_asyncio: owned", await lk.owned() is True)
    got = await r.get("foo")
    check("lock_asyncio: GET foo is the live token", got == token, f"{got!r} != {token!r}")
    try:
        await lk.release()
        check("lock_asyncio: release", True)
    except Exception as e:
        check("lock_asyncio: release", False, repr(e))
    check("lock_asyncio: released", await r.get("foo") is None)
    await r.aclose()


def lock_asyncio():
    """The same Lock through redis.asyncio."""
    asyncio.run(_lock_asyncio())


# --- 2. idempotency keys and other made-up values ------------------------


def idempotency():
    """uuid4 (hex-32 and dashed) in keys and hash fields, a 40-hex token
    and base64 of 16 random bytes as values: each read back as sent."""
    r = client()
    u = uuid.uuid4()
    for form in (u.hex, str(u)):
        key = f"req:{form}"
        got = reply(r.set, key, "v")
        check(f"idempotency: SET {key}", got is True, repr(got))
        got = reply(r.get, key)
        check(f"idempotency: GET {key}", got == b"v", repr(got))
    reply(r.hset, "job", str(u), "x")
    job = reply(r.hgetall, "job")
    check("idempotency: HGETALL job holds the live uuid", job == {str(u).encode(): b"x"}, repr(job))
    tok = secrets.token_hex(20)
    reply(r.set, "token", tok)
    got = reply(r.get, "token")
    check("idempotency: 40-hex token read back", got == tok.encode(), f"{got!r} != {tok!r}")
    blob = base64.b64encode(os.urandom(16))
    reply(r.set, "blob", blob)
    got = reply(r.get, "blob")
    check("idempotency: base64 value read back", got == blob, f"{got!r} != {blob!r}")
    r.close()


# --- 3. the clock -----------------------------------------------------------


def clock():
    """TIME, EXPIREAT relative to it, a pause (longer on a slow replay),
    again, and a fixed far date that must never be shifted."""
    far = 33177117420
    pause = 8 if os.environ.get("RESPLAY_SCENARIO_SLOW") == "1" else 1
    r = client()
    r.mset({"a": 1, "b": 1, "c": 1})

    def now_from_time(label):
        secs, usecs = r.time()
        t = secs + usecs / 1e6
        check(f"clock: {label} TIME reads now", abs(t - time.time()) < 2, f"{t} vs {time.time()}")
        return secs

    a_at = now_from_time("first") + 60
    check("clock: EXPIREAT a TIME+60", r.expireat("a", a_at) is True)
    time.sleep(pause)
    b_at = now_from_time("second") + 60
    check("clock: EXPIREAT b TIME+60 after the pause", r.expireat("b", b_at) is True)
    check("clock: EXPIREAT c far", r.expireat("c", far) is True)
    got = r.expiretime("c")
    check("clock: EXPIRETIME c is the fixed date", got == far, f"{got} != {far}")
    got = r.expiretime("a")
    check("clock: EXPIRETIME a is what was sent", got == a_at, f"{got} != {a_at}")
    got = r.expiretime("b")
    check("clock: EXPIRETIME b is what was sent", got == b_at, f"{got} != {b_at}")
    r.close()


# --- 4. a dead connection's leftovers -------------------------------------


def leftovers():
    """Connection 1 sets, expires, reads and deletes `a`; connection 2 then
    finds no `a`. Diverging, connection 1 sends another EXPIRE, which a
    replay misses, and closes: connection 2 must still find no `a`."""
    diverge = os.environ.get("RESPLAY_SCENARIO_DIVERGE") == "1"
    c1 = client()
    c1.set("a", "foo")
    if diverge:
        try:
            c1.expire("a", 101)
            print("note: leftovers: EXPIRE a 101 was answered (no miss)")
        except ResponseError as e:
            print(f"note: leftovers: EXPIRE a 101 missed as expected: {e}")
        c1.close()
    else:
        check("leftovers: EXPIRE a 100", c1.expire("a", 100) is True)
        got = c1.get("a")
        check("leftovers: GET a on connection 1", got == b"foo", repr(got))
        check("leftovers: DEL a", c1.delete("a") == 1)
        c1.close()
    c2 = client()
    got = c2.get("a")
    check("leftovers: GET a on connection 2 is nil", got is None, repr(got))
    c2.close()


# --- 5. killed from elsewhere ---------------------------------------------


def client_kill():
    """Connection B reads its own CLIENT ID and idles (still open); then
    connection A kills it by id, and B's next read must find it closed."""
    a = client()
    pool = redis.ConnectionPool.from_url(URL, socket_timeout=3, retry=no_retry())
    b = pool.make_connection()
    b.connect()
    b.send_command("CLIENT", "ID")
    b_id = b.read_response()
    check("client_kill: CLIENT ID", isinstance(b_id, int), repr(b_id))
    # Not closed before it is killed: nothing to read yet, and no EOF.
    time.sleep(0.3)
    try:
        early = b.can_read(timeout=0)
        check("client_kill: victim open until killed", early is False, "something to read")
    except ConnectionError as e:
        check("client_kill: victim open until killed", False, f"closed early: {e}")
    try:
        killed = a.execute_command("CLIENT", "KILL", "ID", b_id)
        check("client_kill: CLIENT KILL ID kills one", killed == 1, repr(killed))
    except ResponseError as e:
        check("client_kill: CLIENT KILL ID kills one", False, repr(e))
    try:
        reply = b.read_response()
        check("client_kill: victim sees EOF", False, f"read {reply!r}")
    except ConnectionError:
        check("client_kill: victim sees EOF", True)
    except (RedisTimeoutError, socket.timeout):
        check("client_kill: victim sees EOF", False, "still open after 3 s")
    b.disconnect()
    # The killer is still served.
    check("client_kill: killer still alive", a.set("after", "1") is True)
    a.close()


# --- 6. MONITOR -------------------------------------------------------------


HANDSHAKE = ("HELLO", "CLIENT SETINFO", "AUTH", "SELECT")


def is_handshake(info):
    """A fresh pooled connection's opening calls show in the feed too."""
    return info["command"].upper().startswith(HANDSHAKE)


def next_not_handshake(next_command):
    """The next MONITOR entry that is not a connection's handshake."""
    for _ in range(5):
        info = next_command()
        if not is_handshake(info):
            return info
    return info


async def _anext_not_handshake(m):
    for _ in range(5):
        info = await asyncio.wait_for(m.next_command(), 5)
        if not is_handshake(info):
            return info
    return info


def wait_for_command(c, monitor, command):
    """redis-py's own test helper (tests/conftest.py): GET a marker key
    named after the client's id, and read the feed until `command` (found)
    or the marker (not found: None)."""
    key = f"__REDIS-PY-{c.client_id()}__"
    c.get(key)
    while True:
        info = monitor.next_command()
        if command in info["command"]:
            return info
        if key in info["command"]:
            return None


async def await_for_command(c, monitor, command):
    """The asyncio form of redis-py's helper (tests/test_asyncio/conftest.py)."""
    key = f"__REDIS-PY-{await c.client_id()}__"
    await c.get(key)
    while True:
        info = await asyncio.wait_for(monitor.next_command(), 5)
        if command in info["command"]:
            return info
        if key in info["command"]:
            return None


# redis-py's own MONITOR tests (tests/test_monitor.py): what each does
# inside the monitor, the command it then waits for, and what it must find.
LUA_GET = 'return redis.call("GET", "foo")'
MONITOR_TESTS = [
    ("not found", None, "nothing", lambda info: info is None),
    ("PING", ("PING",), "PING", lambda info: info and info["command"] == "PING"),
    ("quoted key", ("GET", 'foo"bar'), 'GET foo"bar', lambda info: info and info["command"] == 'GET foo"bar'),
    ("lua", ("EVAL", LUA_GET, 0), "GET foo", lambda info: info and info["client_type"] == "lua"),
]


def monitor():
    """Sync: MONITOR on a pooled client, commands from the same pool; then
    redis-py's own MONITOR tests, a fresh client each, as its suite runs."""
    r = redis.Redis.from_url(URL, retry=no_retry(), socket_timeout=5)
    with r.monitor() as m:
        for i in range(3):
            r.set("mon", i)
            got = next_not_handshake(m.next_command)["command"]
            check(f"monitor: feed shows SET mon {i}", got == f"SET mon {i}", repr(got))
    r.close()
    for name, command, wanted, ok in MONITOR_TESTS:
        r = redis.Redis.from_url(URL, retry=no_retry(), socket_timeout=5)
        with r.monitor() as m:
            if command:
                r.execute_command(*command)
            info = wait_for_command(r, m, wanted)
        check(f"monitor: test {name}", bool(ok(info)), repr(info))
        r.flushdb()
        r.close()


async def _monitor_asyncio():
    r = redis.asyncio.Redis.from_url(URL, retry=no_async_retry(), socket_timeout=TIMEOUT)
    other = redis.asyncio.Redis.from_url(URL, retry=no_async_retry(), socket_timeout=TIMEOUT)
    async with r.monitor() as m:
        for i in range(3):
            await r.set("mon", i)
            got = (await _anext_not_handshake(m))["command"]
            check(f"monitor_asyncio: feed shows SET mon {i} (pool)", got == f"SET mon {i}", repr(got))
        for i in range(3, 5):
            await other.set("mon", i)
            got = (await _anext_not_handshake(m))["command"]
            check(f"monitor_asyncio: feed shows SET mon {i} (other)", got == f"SET mon {i}", repr(got))
    await other.aclose()
    await r.aclose()
    for name, command, wanted, ok in MONITOR_TESTS:
        r = redis.asyncio.Redis.from_url(URL, retry=no_async_retry(), socket_timeout=TIMEOUT)
        async with r.monitor() as m:
            if command:
                await r.execute_command(*command)
            info = await await_for_command(r, m, wanted)
        check(f"monitor_asyncio: test {name}", bool(ok(info)), repr(info))
        await r.flushdb()
        await r.aclose()


def monitor_asyncio():
    """redis.asyncio: MONITOR on a pooled client, commands from the pool
    and from another client; then redis-py's own MONITOR tests (its
    tests/test_asyncio/test_monitor.py), a fresh pooled client each."""
    asyncio.run(_monitor_asyncio())


# --- 7. AUTH ------------------------------------------------------------------


def auth():
    """A user with password `good`: the right password logs in (at connect
    and by AUTH), the wrong one gets WRONGPASS; fresh connections each."""
    admin = client()
    admin.execute_command("ACL", "SETUSER", "u", "on", ">good", "~*", "+@all")
    admin.close()

    # single_connection_client connects (and logs in) when made.
    try:
        good = client(username="u", password="good")
        who = good.acl_whoami()
        check("auth: connect as u/good", who in ("u", b"u"), repr(who))
        good.close()
    except AuthenticationError as e:
        check("auth: connect as u/good", False, repr(e))

    try:
        bad = client(username="u", password="bad")
        bad.ping()
        check("auth: connect as u/bad is refused", False, "PING answered")
        bad.close()
    except AuthenticationError:
        check("auth: connect as u/bad is refused", True)

    c = client()
    try:
        ok = c.execute_command("AUTH", "u", "good")
        check("auth: AUTH u good", ok is True or ok == b"OK", repr(ok))
    except AuthenticationError as e:
        check("auth: AUTH u good", False, repr(e))
    c.close()

    c = client()
    try:
        got = c.execute_command("AUTH", "u", "bad")
        check("auth: AUTH u bad is WRONGPASS", False, f"answered {got!r}")
    except AuthenticationError as e:
        check("auth: AUTH u bad is WRONGPASS", "WRONGPASS" in str(e) or "invalid" in str(e), repr(e))
    c.close()


SCENARIOS = {
    f.__name__: f
    for f in [lock, lock_asyncio, idempotency, clock, leftovers, client_kill, monitor, monitor_asyncio, auth]
}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in SCENARIOS:
        sys.exit(f"usage: replay_as_used.py {'|'.join(SCENARIOS)}")
    try:
        SCENARIOS[sys.argv[1]]()
    except Exception as e:  # an unexpected error fails the scenario, with its cause
        check(f"{sys.argv[1]}: ran to the end", False, f"{type(e).__name__}: {e}")
    sys.exit(1 if FAILURES else 0)
