"""The soak (scripts/soak.sh MINUTES): a mixed workload through `resplay
record --admin` while the real redis-server is killed and restarted and the
mode is switched between record and passthrough; then the cassette replayed
under 1000 clients. Prints a table and exits non-zero on any violation.

Usage: soak.py MINUTES RESPLAY_BIN OUT_DIR
"""

import atexit
import collections
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

MINUTES = float(sys.argv[1])
BIN = sys.argv[2]
OUT = sys.argv[3]
HERE = os.path.dirname(os.path.abspath(__file__))
SECONDS = MINUTES * 60
PY_THREADS = 20
JS_SESSIONS = 20
RSS_BOUND_KB = 20 * 1024
FD_BOUND = 20
DOWN_SECONDS = 3
SLACK = 2.0

os.makedirs(OUT, exist_ok=True)
CASSETTE = os.path.join(OUT, "soak.jsonl")
CLIENT_LOG = os.path.join(OUT, "clients.jsonl")
for f in (CASSETTE, CLIENT_LOG):
    if os.path.exists(f):
        os.remove(f)
violations = []
t0 = time.time()
children = []  # every process started, ended at exit whatever happens


@atexit.register
def end_children():
    for p in children:
        if p.poll() is None:
            p.kill()
            p.wait()



def say(msg):
    print(f"soak [{time.time() - t0:6.1f}s] {msg}", flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, limit=20):
    end = time.time() + limit
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def proc_stats(pid):
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def sample(pid, n=5):
    """Median RSS (kB) and fds of n samples 0.5 s apart."""
    rows = []
    for _ in range(n):
        rows.append(proc_stats(pid))
        time.sleep(0.5)
    rss = sorted(r for r, _ in rows)[n // 2]
    fds = sorted(f for _, f in rows)[n // 2]
    return rss, fds


class Logged:
    """A process whose stderr lines are kept with the time they came."""

    def __init__(self, args, name):
        self.lines = []
        self.path = os.path.join(OUT, name)
        self.file = open(self.path, "w")
        self.proc = subprocess.Popen(args, stdout=self.file, stderr=subprocess.PIPE, text=True,
                                     errors="replace")
        children.append(self.proc)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append((time.time(), line.rstrip("\n")))
            self.file.write(line)
            self.file.flush()

    def stop(self, sig=signal.SIGINT, limit=30):
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(limit)
        except subprocess.TimeoutExpired:
            violations.append(f"{self.path}: did not exit within {limit}s of SIGINT")
            self.proc.kill()
            code = self.proc.wait()
        self.reader.join(5)
        return code


# ------------------------------------------------------------------ record
redis_port, listen, admin = free_port(), free_port(), free_port()
redis_dir = os.path.join(OUT, "redis")
os.makedirs(redis_dir, exist_ok=True)


def start_redis():
    for _ in range(50):
        p = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no", "--dir", redis_dir],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        children.append(p)
        if wait_port(redis_port, 5):
            return p
        p.kill()
        p.wait()
        time.sleep(0.2)
    sys.exit(f"soak: redis-server does not start on {redis_port}")


redis_proc = start_redis()
recorder = Logged([BIN, "record", "--upstream", f"127.0.0.1:{redis_port}", "--listen", f"127.0.0.1:{listen}",
                   "--admin", f"127.0.0.1:{admin}", "--cassette", CASSETTE, "--record-trivial-calls"],
                  "record.log")
if not wait_port(listen):
    sys.exit("soak: resplay record does not listen")
pid = recorder.proc.pid


def cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True,
                          timeout=10).stdout.strip()


cli(listen, "SET", "soak:bench", "v")
cli(listen, "GET", "soak:bench")
idle_start = sample(pid)
say(f"recording on {listen} (upstream {redis_port}, admin {admin}); idle RSS {idle_start[0]} kB, "
    f"{idle_start[1]} fds")

workers = [
    subprocess.Popen([sys.executable, os.path.join(HERE, "worker.py"), str(listen), CLIENT_LOG, str(SECONDS),
                      str(PY_THREADS), "py"], stderr=open(os.path.join(OUT, "worker-py.err"), "w")),
    subprocess.Popen(["node", os.path.join(HERE, "worker.js"), str(listen), CLIENT_LOG, str(SECONDS),
                      str(JS_SESSIONS), "js"], stderr=open(os.path.join(OUT, "worker-js.err"), "w")),
]
children.extend(workers)
start = time.time()

# The schedule: redis-server killed (SIGKILL) and restarted every `period`;
# a switch to passthrough and back half a period later.
period = 40.0 if MINUTES <= 2 else min(240.0, max(60.0, SECONDS / 6))
events = []
k = 1
while k * period + DOWN_SECONDS + 5 < SECONDS:
    events.append((k * period, "restart"))
    k += 1
k = 0
while k * period + period / 2 + 10 < SECONDS:
    events.append((k * period + period / 2, "switch"))
    k += 1
first_sample_at = min(60.0, SECONDS / 4)
# Bursts of 200 connections start 5 s in and every ~17 s; sample clear of
# the outages and switches.
events.append((first_sample_at, "sample"))
events.append((SECONDS - 8, "sample"))
events.sort()
outages = []  # (down, up)
passthrough = []  # (switch asked, switched back)
samples = []
restarts = 0
switches = 0


def ctl(*args):
    r = subprocess.run([BIN, "ctl", "--admin", str(admin), *args], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        violations.append(f"resplay ctl {' '.join(args)} failed: {r.stderr.strip()}")
    return r


for at, what in events:
    delay = start + at - time.time()
    if delay > 0:
        time.sleep(delay)
    if what == "restart":
        down = time.time()
        redis_proc.kill()
        redis_proc.wait()
        say("redis-server killed")
        time.sleep(DOWN_SECONDS)
        redis_proc = start_redis()
        outages.append((down, time.time()))
        restarts += 1
        say("redis-server restarted")
    elif what == "switch":
        asked = time.time()
        ctl("mode", "passthrough")
        say("mode passthrough")
        time.sleep(6)
        ctl("mode", "record", "--append", "--cassette", CASSETTE)
        passthrough.append((asked, time.time()))
        switches += 2
        say("mode record (append)")
    else:
        s = sample(pid)
        samples.append((time.time() - start, s))
        say(f"sample: RSS {s[0]} kB, {s[1]} fds")

for w in workers:
    try:
        w.wait(SECONDS + 120)
    except subprocess.TimeoutExpired:
        violations.append("a client program did not finish: it hung")
        w.kill()
time.sleep(2)
idle_end = sample(pid)
say(f"workload done; idle RSS {idle_end[0]} kB, {idle_end[1]} fds")
code = recorder.stop()
if code != 0:
    violations.append(f"resplay record exited {code}")
redis_alive = redis_proc

# ------------------------------------------------------------------ check
conns = collections.defaultdict(list)  # cassette conn -> [(seq, cmd)]
with open(CASSETTE) as f:
    for line in f:
        try:
            ev = json.loads(line)
        except ValueError:
            violations.append(f"cassette: a line that is not JSON: {line[:80]!r}")
            continue
        if "cmd" in ev and "conn" in ev:
            conns[ev["conn"]].append((ev.get("seq", 0), [str(a) for a in ev["cmd"]]))
by_name = {}
for conn, items in conns.items():
    items.sort(key=lambda x: x[0])
    seqs = [s for s, _ in items]
    if seqs != sorted(set(seqs)):
        violations.append(f"cassette conn {conn}: seq out of order or repeated")
    for _, cmd in items:
        if len(cmd) == 3 and cmd[0].lower() == "client" and cmd[1].lower() == "setname":
            if cmd[2] in by_name:
                violations.append(f"two cassette connections named {cmd[2]}")
            by_name[cmd[2]] = conn
            break

interactions = sum(len(v) for v in conns.values())


def within(t, windows):
    return any(a - SLACK <= t <= b + SLACK for a, b in windows)


clients = 0
answered = 0
lost = []
hangs = []
outcomes = collections.Counter()
stray_errors = []
subscribers = 0
messages = 0
for line in open(CLIENT_LOG):
    c = json.loads(line)
    clients += 1
    if c.get("subscriber"):
        subscribers += 1
        messages += c.get("messages", 0)
    ok = []
    for e in c["exchanges"]:
        outcomes[e["outcome"]] += 1
        if e["outcome"] == "hang":
            hangs.append(f"{c['name']}: {' '.join(e['cmd'])[:60]}")
        elif e["outcome"] == "ok":
            ok.append(e)
        elif not within(e["t"], outages) and not within(e["t"], passthrough):
            stray_errors.append(f"{c['name']}: {' '.join(e['cmd'])[:50]} -> {str(e['reply'])[:80]}")
    answered += len(ok)
    conn = by_name.get(c["name"])
    if conn is None:
        # Never recorded: its replies must all have come in passthrough.
        for e in ok:
            if not within(e["t"], passthrough):
                lost.append(f"{c['name']} (not in the cassette): {' '.join(e['cmd'])[:60]}")
        continue
    recorded = [cmd for _, cmd in conns[conn]]
    i = 0
    for e in ok:
        want = e["cmd"]
        while i < len(recorded) and not (
                recorded[i][0].lower() == want[0].lower() and recorded[i][1:] == want[1:]):
            i += 1
        if i == len(recorded):
            lost.append(f"{c['name']} (conn {conn}): {' '.join(want)[:60]} missing or out of order")
            break
        i += 1

# resplay's log: every WARN/ERROR line grouped; explained when it is about
# the upstream and came during an outage.
groups = collections.Counter()
unexplained = collections.Counter()
panics = []
for t, line in recorder.lines:
    if "panick" in line:
        panics.append(line)
    if not re.search(r"warn|error", line, re.I):
        continue
    shape = re.sub(r"\d+", "N", line)
    groups[shape] += 1
    upstream = re.search(r"upstream|refused|reset by peer|broken pipe|connection closed|unexpected end|eof",
                         line, re.I)
    if not (upstream and within(t, outages)):
        unexplained[shape] += 1

s1, s2 = samples[0][1], samples[-1][1]
rows = [
    ("minutes", f"{MINUTES:g}"),
    ("client connections (redis-py + ioredis)", clients),
    ("  of them slow subscribers (messages read)", f"{subscribers} ({messages})"),
    ("redis-server restarts (SIGKILL)", restarts),
    ("mode switches (record <-> passthrough)", switches),
    ("interactions in the cassette", interactions),
    ("exchanges answered (client-side)", answered),
    ("client outcomes", ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))),
    ("lost exchanges", len(lost)),
    ("hangs", len(hangs)),
    ("errors outside outages and switches", len(stray_errors)),
    (f"RSS at {samples[0][0]:.0f}s / end (kB)", f"{s1[0]} / {s2[0]} ({s2[0] - s1[0]:+d})"),
    (f"fds at {samples[0][0]:.0f}s / end", f"{s1[1]} / {s2[1]} ({s2[1] - s1[1]:+d})"),
    ("idle RSS start / end (kB)", f"{idle_start[0]} / {idle_end[0]}"),
    ("idle fds start / end", f"{idle_start[1]} / {idle_end[1]}"),
    ("panics in the log", len(panics)),
    ("WARN/ERROR lines (unexplained)", f"{sum(groups.values())} ({sum(unexplained.values())})"),
]
if lost:
    violations.append(f"{len(lost)} lost exchange(s): " + "; ".join(lost[:5]))
if hangs:
    violations.append(f"{len(hangs)} hang(s): " + "; ".join(hangs[:5]))
if stray_errors:
    violations.append(f"{len(stray_errors)} error(s) outside outages and switches: " + "; ".join(stray_errors[:5]))
if s2[0] - s1[0] > RSS_BOUND_KB:
    violations.append(f"record RSS grew {s2[0] - s1[0]} kB")
if s2[1] - s1[1] > FD_BOUND or idle_end[1] - idle_start[1] > FD_BOUND:
    violations.append(f"record fds grew ({s1[1]} -> {s2[1]}; idle {idle_start[1]} -> {idle_end[1]})")
if panics:
    violations.append(f"panic in the log: {panics[0]}")
if unexplained:
    violations.append(f"{sum(unexplained.values())} unexplained WARN/ERROR line(s)")
if restarts < 2 or interactions == 0 or clients < 200:
    violations.append("the soak did not run as planned (restarts, interactions or clients)")

width = 44
print()
for k, v in rows:
    print(f"  {k:<{width}}  {v}", flush=True)
print(flush=True)

# ------------------------------------------------------------------ replay
replay_port, replay_admin = free_port(), free_port()
replayer = Logged([BIN, "replay", "--cassette", CASSETTE, "--listen", f"127.0.0.1:{replay_port}", "--on-miss",
                   "error", "--admin", f"127.0.0.1:{replay_admin}"], "replay.log")
if not wait_port(replay_port, 120):
    sys.exit("soak: resplay replay does not listen")
rpid = replayer.proc.pid

def replay_answers(limit):
    end = time.time() + limit
    while time.time() < end:
        try:
            if cli(replay_port, "GET", "soak:bench") == "v":
                return True
        except subprocess.TimeoutExpired:
            pass
        time.sleep(1)
    return False


if not replay_answers(120):
    violations.append("replay does not answer GET soak:bench from the cassette")
say(f"replaying on {replay_port} under 1000 clients for {SECONDS:.0f}s")
bench = subprocess.Popen(["redis-benchmark", "-p", str(replay_port), "-c", "1000", "-n", "2000000000", "-q",
                          "GET", "soak:bench"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
children.append(bench)
rstart = time.time()
time.sleep(max(5.0, min(60.0, SECONDS / 4)))
r1 = sample(rpid)
r1_at = time.time() - rstart
say(f"replay sample: RSS {r1[0]} kB, {r1[1]} fds")
time.sleep(max(0.0, rstart + SECONDS - 3 - time.time()))
r2 = sample(rpid)
say(f"replay sample: RSS {r2[0]} kB, {r2[1]} fds")
answered_in_replay = replay_answers(30)
status = subprocess.run([BIN, "ctl", "--admin", str(replay_admin), "status"], capture_output=True, text=True,
                        timeout=30).stdout
bench.send_signal(signal.SIGINT)
try:
    bench.wait(30)
except subprocess.TimeoutExpired:
    bench.kill()
served = re.search(r'"served":\s*(\d+)', status)
missed = re.search(r'"missed":\s*(\d+)', status)
rcode = replayer.stop()
rpanics = [line for _, line in replayer.lines if "panick" in line]
rows += [
    ("replay: clients, seconds", f"1000, {SECONDS:.0f}"),
    ("replay: served / missed", f"{served.group(1) if served else '?'} / {missed.group(1) if missed else '?'}"),
    (f"replay RSS at {r1_at:.0f}s / end (kB)", f"{r1[0]} / {r2[0]} ({r2[0] - r1[0]:+d})"),
    (f"replay fds at {r1_at:.0f}s / end", f"{r1[1]} / {r2[1]} ({r2[1] - r1[1]:+d})"),
]
if not answered_in_replay:
    violations.append("replay stopped answering under load")
if r2[0] - r1[0] > RSS_BOUND_KB:
    violations.append(f"replay RSS grew {r2[0] - r1[0]} kB")
if r2[1] - r1[1] > FD_BOUND:
    violations.append(f"replay fds grew {r1[1]} -> {r2[1]}")
if rpanics:
    violations.append(f"panic in the replay log: {rpanics[0]}")
if rcode != 0:
    violations.append(f"resplay replay exited {rcode}")
redis_alive.kill()
redis_alive.wait()

print()
for k, v in rows[-4:]:
    print(f"  {k:<{width}}  {v}")
if groups:
    print("\n  WARN/ERROR lines in resplay's log, grouped (digits as N):")
    for shape, n in groups.most_common():
        mark = "" if shape not in unexplained else "   <- UNEXPLAINED"
        print(f"    {n:6d}  {shape[:150]}{mark}")
with open(os.path.join(OUT, "table.txt"), "w") as f:
    for k, v in rows:
        f.write(f"{k}\t{v}\n")
if violations:
    print("\nsoak: FAILED")
    for v in violations:
        print(f"  - {v}")
    sys.exit(1)
print("\nsoak: passed")
