#!/usr/bin/env python3
"""Summarises scripts/bench.sh results: one row per target, pipeline, test.

Input: CSV with round,target,pipeline,test,rps,p50_ms,p99_ms. The ratio is
taken within a round (target rps / direct rps of the same round, pipeline and
test) before the median, so load drifting between rounds cancels out.
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
    fmt = "{:<10} {:>3} {:<4} {:>9} {:>11} {:>10} {:>7} {:>7} {:>2}"
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


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: bench_report.py RESULTS.csv")
    main(sys.argv[1])
