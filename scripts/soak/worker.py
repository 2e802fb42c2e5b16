"""The soak's redis-py workload (scripts/soak.sh).

Threads that open a connection, name it (`CLIENT SETNAME soak-py-…`), run a
short session (plain commands, pipelines, MULTI/EXEC, EVAL, BLPOP with a
timeout, a slow pub/sub subscriber) and close it, over and over, plus bursts
of 200 connections at once. Every connection writes one JSON line to the
client-side log when it ends: its name, and each exchange sent with whether
a (non-error) reply came back and the reply. A socket timeout is a hang and
is logged as one; the workload never retries (a retry would send a command
the log does not know about).

Usage: worker.py PORT LOG SECONDS THREADS PREFIX
"""

import json
import random
import sys
import threading
import time

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

PORT = int(sys.argv[1])
LOG = sys.argv[2]
SECONDS = float(sys.argv[3])
THREADS = int(sys.argv[4])
PREFIX = sys.argv[5]
TIMEOUT = 15.0  # a reply later than this is a hang

deadline = time.time() + SECONDS
log_lock = threading.Lock()
log_file = open(LOG, "a", buffering=1)
counter = 0
counter_lock = threading.Lock()
LUA = "local v = redis.call('INCR', KEYS[1]) redis.call('EXPIRE', KEYS[1], 600) return v"


class OneConnection(redis.Connection):
    """A connection that refuses to reconnect: redis-py's pool silently
    reconnects one the server closed while idle, which would carry the
    client-side log of one connection over to another, unnamed one."""

    def _connect(self):
        if getattr(self, "connected_once", False):
            raise OSError("the soak does not reconnect a closed connection")
        self.connected_once = True
        return super()._connect()


def next_name(kind):
    global counter
    with counter_lock:
        counter += 1
        return f"{PREFIX}-{kind}-{counter}"


def value(reply):
    """A reply as JSON (bytes decoded; errors are not replies)."""
    if isinstance(reply, bytes):
        return reply.decode("utf-8", "replace")
    if isinstance(reply, (list, tuple)):
        return [value(r) for r in reply]
    if isinstance(reply, (str, int, float)) or reply is None:
        return reply
    return str(reply)


class Conn:
    """One named connection and its client-side log."""

    def __init__(self, kind):
        self.name = next_name(kind)
        self.exchanges = []
        self.opened = time.time()
        # A pool of one: commands and pipelines share the one named
        # connection (a single_connection_client's pipelines would take
        # another, unnamed one from its pool).
        pool = redis.BlockingConnectionPool(
            connection_class=OneConnection,
            port=PORT,
            max_connections=1,
            timeout=TIMEOUT,
            socket_timeout=TIMEOUT,
            socket_connect_timeout=TIMEOUT,
            retry=Retry(NoBackoff(), 0),
            protocol=random.choice([2, 3]),
        )
        self.client = redis.Redis(connection_pool=pool)
        self.broken = False

    @staticmethod
    def open(kind):
        """A connection, or None when it cannot be opened (logged as such)."""
        try:
            return Conn(kind)
        except redis.TimeoutError:
            outcome = "hang"
        except (redis.RedisError, OSError):
            outcome = "closed"
        line = {"name": next_name(kind), "lib": "redis-py", "opened": time.time(), "closed": time.time(),
                "exchanges": [{"cmd": ["<connect>"], "outcome": outcome, "reply": None, "t": time.time()}]}
        with log_lock:
            log_file.write(json.dumps(line) + "\n")
        return None

    def log(self, cmd, outcome, reply=None):
        self.exchanges.append(
            {"cmd": [str(a) for a in cmd], "outcome": outcome, "reply": value(reply), "t": time.time()}
        )

    def call(self, *cmd):
        if self.broken:
            return None
        try:
            reply = self.client.execute_command(*cmd)
        except redis.TimeoutError:
            self.log(cmd, "hang")
            self.broken = True
            return None
        except redis.ResponseError as e:
            self.log(cmd, "error", str(e))
            return None
        except (redis.ConnectionError, OSError) as e:
            self.log(cmd, "closed", str(e))
            self.broken = True
            return None
        self.log(cmd, "ok", reply)
        return reply

    def batch(self, cmds, transaction):
        """A pipeline (or MULTI … EXEC): one outcome per command."""
        if self.broken:
            return
        pipe = self.client.pipeline(transaction=transaction)
        for cmd in cmds:
            pipe.execute_command(*cmd)
        try:
            replies = pipe.execute(raise_on_error=False)
        except redis.TimeoutError:
            for cmd in cmds:
                self.log(cmd, "hang")
            self.broken = True
            return
        except redis.ResponseError as e:
            # A transaction refused as a whole (EXECABORT, or an error the
            # client raises for the batch): nothing in it counts as answered.
            for cmd in cmds:
                self.log(cmd, "error", str(e))
            return
        except (redis.ConnectionError, OSError) as e:
            for cmd in cmds:
                self.log(cmd, "closed", str(e))
            self.broken = True
            return
        if transaction:
            self.log(["MULTI"], "ok", "OK")
            for cmd in cmds:
                self.log(cmd, "ok", "QUEUED")
            self.log(["EXEC"], "ok", [r if not isinstance(r, Exception) else None for r in replies])
        else:
            for cmd, reply in zip(cmds, replies):
                if isinstance(reply, Exception):
                    self.log(cmd, "error", str(reply))
                else:
                    self.log(cmd, "ok", reply)

    def close(self, extra=None):
        try:
            self.client.close()
            self.client.connection_pool.disconnect()
        except Exception:
            pass
        line = {"name": self.name, "lib": "redis-py", "opened": self.opened, "closed": time.time(),
                "exchanges": self.exchanges}
        if extra:
            line.update(extra)
        with log_lock:
            log_file.write(json.dumps(line) + "\n")


def session(kind):
    c = Conn.open(kind)
    if c is None:
        return
    if c.call("CLIENT", "SETNAME", c.name) is None:
        c.close()
        return
    key = f"soak:{c.name}"
    for _ in range(random.randint(5, 40)):
        if c.broken or time.time() > deadline:
            break
        op = random.random()
        if op < 0.35:
            c.call("SET", key, str(random.randint(0, 1 << 30)))
            c.call("GET", key)
            c.call("INCR", f"soak:counter:{random.randint(0, 9)}")
        elif op < 0.55:
            n = random.randint(2, 30)
            c.batch([("RPUSH", f"{key}:list", str(i)) for i in range(n)] + [("LRANGE", f"{key}:list", "0", "-1")],
                     transaction=False)
        elif op < 0.7:
            c.batch([("INCR", f"{key}:n"), ("HSET", f"{key}:h", "f", "v"), ("HGETALL", f"{key}:h")],
                    transaction=True)
        elif op < 0.8:
            c.call("EVAL", LUA, "1", f"soak:lua:{random.randint(0, 9)}")
        elif op < 0.9:
            q = f"soak:queue:{random.randint(0, 4)}"
            if random.random() < 0.5:
                c.call("LPUSH", q, c.name)
            else:
                c.call("BLPOP", q, "1")
        else:
            c.call("PUBLISH", f"soak:chan:{random.randint(0, 3)}", f"from {c.name}")
        c.call("DEL", key, f"{key}:list", f"{key}:n", f"{key}:h")
        time.sleep(random.random() * 0.2)
    c.close()


def subscriber():
    """A slow subscriber: reads a message every 50 ms for a few seconds."""
    name = next_name("sub")
    opened = time.time()
    client = redis.Redis(port=PORT, client_name=name, socket_timeout=TIMEOUT,
                         socket_connect_timeout=TIMEOUT, retry=Retry(NoBackoff(), 0))
    exchanges = []
    messages = 0
    channel = f"soak:chan:{random.randint(0, 3)}"
    p = client.pubsub()
    try:
        p.subscribe(channel)
        confirmed = p.get_message(timeout=TIMEOUT)
        if confirmed is None:
            exchanges.append({"cmd": ["SUBSCRIBE", channel], "outcome": "hang", "reply": None, "t": time.time()})
        else:
            exchanges.append({"cmd": ["SUBSCRIBE", channel], "outcome": "ok", "reply": value(confirmed["type"]),
                              "t": time.time()})
            until = min(deadline, time.time() + random.uniform(3, 12))
            while time.time() < until:
                m = p.get_message(timeout=1.0)
                if m is not None:
                    messages += 1
                time.sleep(0.05)
    except redis.TimeoutError:
        exchanges.append({"cmd": ["SUBSCRIBE", channel], "outcome": "hang", "reply": None, "t": time.time()})
    except (redis.RedisError, OSError) as e:
        # Refused at connect (the upstream is down) or closed later.
        if not exchanges:
            exchanges.append({"cmd": ["SUBSCRIBE", channel], "outcome": "closed", "reply": str(e),
                              "t": time.time()})
    finally:
        try:
            p.close()
            client.close()
        except Exception:
            pass
    line = {"name": name, "lib": "redis-py", "opened": opened, "closed": time.time(), "exchanges": exchanges,
            "subscriber": True, "messages": messages}
    with log_lock:
        log_file.write(json.dumps(line) + "\n")


def steady(i):
    while time.time() < deadline:
        try:
            if i % 6 == 0:
                subscriber()
            else:
                session("s")
        except Exception as e:  # a bug in the workload itself: say so, go on
            print(f"worker: {type(e).__name__}: {e}", file=sys.stderr)
            time.sleep(0.1)


def burst_one():
    c = Conn.open("b")
    if c is None:
        return
    if c.call("CLIENT", "SETNAME", c.name) is not None:
        c.call("INCR", "soak:burst")
        c.call("GET", "soak:burst")
    c.close()


def bursts():
    """200 connections at once, every 15 s (kept clear of the samples)."""
    time.sleep(5)
    while time.time() + 5 < deadline:
        threads = [threading.Thread(target=burst_one) for _ in range(200)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        time.sleep(15)


threads = [threading.Thread(target=steady, args=(i,)) for i in range(THREADS)]
threads.append(threading.Thread(target=bursts))
for t in threads:
    t.start()
for t in threads:
    t.join()
