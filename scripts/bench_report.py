#!/usr/bin/env python3
"""Summarises scripts/bench.sh results.

Input: CSV with round,target,pipeline,test,rps,p50_ms,p99_ms and, optionally,
proxy_us_req,redis_us_req.

First table, one row per target, pipeline, test: the ratio is taken within a
round (target rps / direct rps of the same round, pipeline and test) before
the median, so load drifting between rounds cancels out.

Second table (when the CPU columns are there), one row per target and
pipeline: the medians over rounds of the CPU microseconds per request spent by
the proxy under test and by redis-server. One redis-benchmark run covers both
tests, so both rows of a run carry the same figures and count once.
"""

import csv
import statistics
import sys
from collections import defaultdict


def main(path):
    rows = list(csv.DictReader(open(path, newline="")))
    direct = {
        (r["round"], r["pipeline"], r["test"]): float(r["rps"])
        for r in rows
        if r["target"] == "direct"
    }
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

    header = ("target", "P", "test", "vs direct", "min..max", "rps", "p50 ms", "p99 ms", "n")
    fmt = "{:<12} {:>3} {:<4} {:>9} {:>11} {:>10} {:>7} {:>7} {:>2}"
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

    if rows and "proxy_us_req" in rows[0]:
        print()
        cpu_table(rows, targets)


def cpu_table(rows, targets):
    # (target, pipeline) -> round -> (proxy, redis); the SET and GET rows of
    # a run hold the same figures.
    runs = defaultdict(dict)
    for r in rows:
        key = (r["target"], int(r["pipeline"]))
        runs[key][r["round"]] = (float(r["proxy_us_req"]), float(r["redis_us_req"]))

    print("CPU us per request (median over rounds; proxy = the process under test)")
    header = ("target", "P", "proxy", "min..max", "redis", "min..max", "sum", "n")
    fmt = "{:<12} {:>3} {:>7} {:>13} {:>7} {:>13} {:>7} {:>2}"
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
    if len(sys.argv) != 2:
        sys.exit("usage: bench_report.py RESULTS.csv")
    main(sys.argv[1])
