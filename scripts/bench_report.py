#!/usr/bin/env python3
"""Summarises scripts/bench.sh results.

Input: CSV with round,target,pipeline,test,rps,p50_ms,p99_ms and, optionally,
proxy_us_req,redis_us_req.

First table, one row per target, pipeline, test: the ratio is taken within a
round (target rps / direct rps of the same round, pipeline and test) before
the median, so load drifting between rounds cancels out. Targets named
*-tls (TLS=1) get a table of their own, against direct-tls instead, and so
do targets named *-cluster (CLUSTER=1), against direct-cluster.

Second table (when the CPU columns are there), one row per target and
pipeline: the medians over rounds of the CPU microseconds per request spent by
the proxy under test and by redis-server (for *-tls targets, the TLS one).
One redis-benchmark run covers both tests, so both rows of a run carry the
same figures and count once.

Third table (when a target X has a baseline twin X@base, from BASELINE=):
HEAD / baseline within each round, per pipeline: the rps ratio per test and
the proxy CPU us/request ratio, median and min..max over rounds.

With --instructions FILE: instructions per request from the callgrind runs
(label,mode,pipeline,rep,instructions,requests), HEAD against base, and each
against redis-server's own count under the same load (mode redis-server).
"""

import csv
import statistics
import sys
from collections import defaultdict


def main(path):
    rows = list(csv.DictReader(open(path, newline="")))
    groups = defaultdict(list)
    order = []
    for r in rows:
        key = (r["target"], int(r["pipeline"]), r["test"])
        if key not in groups:
            order.append(key)
        groups[key].append(r)

    # Direct first, then the order the targets ran in.
    targets = list(dict.fromkeys(t for t, _, _ in order))
    order.sort(key=lambda k: (k[1], k[2] != "SET", targets.index(k[0])))

    # TLS targets (TLS=1: direct-tls, record-tls, replay-tls) are compared
    # with direct TLS Redis in the same round, cluster targets (CLUSTER=1)
    # with the cluster direct, the others with direct Redis.
    plain = [k for k in order if not k[0].endswith(("-tls", "-cluster"))]
    tls = [k for k in order if k[0].endswith("-tls")]
    cluster = [k for k in order if k[0].endswith("-cluster")]
    printed = False
    for keys, baseline, title in [
        (plain, "direct", None),
        (tls, "direct-tls", "Over TLS (redis-benchmark --tls), against direct TLS Redis in the same round"),
        (cluster, "direct-cluster",
         "Redis Cluster, 3 primaries (redis-benchmark --cluster), against the cluster direct in the same round"),
    ]:
        if not keys:
            continue
        if printed and title:
            print()
            print(title)
        ratio_table(rows, groups, keys, baseline)
        printed = True

    if rows and "proxy_us_req" in rows[0]:
        print()
        cpu_table(rows, targets)
        if any(t.endswith("@base") for t in targets):
            print()
            base_table(rows, targets)


def ratio_table(rows, groups, order, baseline):
    direct = {
        (r["round"], r["pipeline"], r["test"]): float(r["rps"])
        for r in rows
        if r["target"] == baseline
    }
    header = ("target", "P", "test", f"vs {baseline}", "min..max", "rps", "p50 ms", "p99 ms", "n")
    width = max([12] + [len(k[0]) for k in order])
    fmt = "{:<%d} {:>3} {:<4} {:>%d} {:>11} {:>10} {:>7} {:>7} {:>2}" % (width, max(9, len(header[3])))
    print(fmt.format(*header))
    for key in order:
        target, pipe, test = key
        rs = groups[key]
        ratios = [
            float(r["rps"]) / direct[(r["round"], r["pipeline"], r["test"])]
            for r in rs
            if direct.get((r["round"], r["pipeline"], r["test"]))
        ]
        print(
            fmt.format(
                target,
                pipe,
                test,
                f"{statistics.median(ratios):.2f}x" if ratios else "-",
                f"{min(ratios):.2f}..{max(ratios):.2f}" if ratios else "-",
                f"{statistics.median(float(r['rps']) for r in rs):.0f}",
                f"{statistics.median(float(r['p50_ms']) for r in rs):.3f}",
                f"{statistics.median(float(r['p99_ms']) for r in rs):.3f}",
                len(rs),
            )
        )


def base_table(rows, targets):
    by = {(r["target"], r["round"], r["pipeline"], r["test"]): r for r in rows}
    pairs = [t for t in targets if t + "@base" in targets]
    pipes = sorted({int(r["pipeline"]) for r in rows})
    print("HEAD / base within each round (median, min..max over rounds; "
          "rps > 1 and CPU < 1 favour HEAD)")
    header = ("target", "P", "SET rps", "GET rps", "proxy CPU")
    fmt = "{:<12} {:>3} {:>18} {:>18} {:>18}"
    print(fmt.format(*header))

    def cell(values):
        if not values:
            return "-"
        return f"{statistics.median(values):.3f} ({min(values):.2f}..{max(values):.2f})"

    for t in pairs:
        for pipe in pipes:
            cells = []
            for test in ("SET", "GET"):
                ratios = []
                for (tt, rnd, p, te), r in by.items():
                    if tt == t and int(p) == pipe and te == test:
                        b = by.get((t + "@base", rnd, p, te))
                        if b and float(b["rps"]):
                            ratios.append(float(r["rps"]) / float(b["rps"]))
                cells.append(cell(ratios))
            cpu = []
            for (tt, rnd, p, te), r in by.items():
                if tt == t and int(p) == pipe and te == "SET":
                    b = by.get((t + "@base", rnd, p, te))
                    if b and float(b["proxy_us_req"]):
                        cpu.append(float(r["proxy_us_req"]) / float(b["proxy_us_req"]))
            cells.append(cell(cpu))
            print(fmt.format(t, pipe, *cells))


def instructions(path):
    rows = list(csv.DictReader(open(path, newline="")))
    per = defaultdict(list)  # (mode, pipeline, label) -> [instructions/request]
    for r in rows:
        per[(r["mode"], int(r["pipeline"]), r["label"])].append(
            int(r["instructions"]) / int(r["requests"])
        )
    # redis-server's own count (label "redis") is the yardstick for replay,
    # which stands in for it: the last column is head / redis-server.
    redis = {p: statistics.median(v) for (m, p, label), v in per.items() if m == "redis-server"}
    header = ("mode", "P", "head", "min..max", "base", "min..max", "head/base", "/redis-server")
    fmt = "{:<12} {:>3} {:>8} {:>15} {:>8} {:>15} {:>9} {:>13}"
    print(fmt.format(*header))
    for mode in ("redis-server", "replay", "record"):
        for pipe in sorted({p for m, p, _ in per if m == mode}):
            label = "redis" if mode == "redis-server" else "head"
            head = per.get((mode, pipe, label), [])
            base = per.get((mode, pipe, "base"), [])
            cells = []
            for v in (head, base):
                cells += [f"{statistics.median(v):.0f}", f"{min(v):.0f}..{max(v):.0f}"] if v else ["-", "-"]
            diff = (
                f"{(statistics.median(head) / statistics.median(base) - 1) * 100:+.1f}%"
                if head and base
                else "-"
            )
            versus = (
                f"{statistics.median(head) / redis[pipe]:.2f}x"
                if head and mode != "redis-server" and redis.get(pipe)
                else "-"
            )
            print(fmt.format(mode, pipe, *cells, diff, versus))


def cpu_table(rows, targets):
    # (target, pipeline) -> round -> (proxy, redis); the SET and GET rows of
    # a run hold the same figures.
    runs = defaultdict(dict)
    for r in rows:
        key = (r["target"], int(r["pipeline"]))
        runs[key][r["round"]] = (float(r["proxy_us_req"]), float(r["redis_us_req"]))

    print("CPU us per request (median over rounds; proxy = the process under test; "
          "redis = all the nodes for *-cluster)")
    header = ("target", "P", "proxy", "min..max", "redis", "min..max", "sum", "n")
    width = max([12] + [len(t) for t, _ in runs])
    fmt = "{:<%d} {:>3} {:>7} {:>13} {:>7} {:>13} {:>7} {:>2}" % width
    print(fmt.format(*header))
    for key in sorted(runs, key=lambda k: (k[1], targets.index(k[0]))):
        target, pipe = key
        proxy = [p for p, _ in runs[key].values()]
        redis = [r for _, r in runs[key].values()]
        total = [p + r for p, r in runs[key].values()]
        print(
            fmt.format(
                target,
                pipe,
                f"{statistics.median(proxy):.2f}",
                f"{min(proxy):.2f}..{max(proxy):.2f}",
                f"{statistics.median(redis):.2f}",
                f"{min(redis):.2f}..{max(redis):.2f}",
                f"{statistics.median(total):.2f}",
                len(proxy),
            )
        )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--instructions":
        instructions(sys.argv[2])
    elif len(sys.argv) == 2:
        main(sys.argv[1])
    else:
        sys.exit("usage: bench_report.py RESULTS.csv | --instructions INSTRUCTIONS.csv")
