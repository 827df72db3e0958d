#!/usr/bin/env python3
"""Writes BENCHMARKS.md (on stdout) from the results scripts/benchmarks.sh leaves in WORK:
WORK/meta, WORK/runs (one line per run: time|name|load average|other processes' cores|
rustc count), and WORK/r/<members>/<round>/<system>/: <workload>.json (etcd-rs bench
--output json), <workload>.json.cpu (wall s, client CPU s, members' CPU s, others' CPU s,
others' cores) and rss (peak RSS of the members, KiB)."""

import json
import os
import statistics
import sys

work = sys.argv[1]
meta = open(os.path.join(work, "meta")).read().splitlines()
(started, loads, nproc, memory, cpu, kernel, fs, etcd_version, etcd_rs_version,
 params, order) = meta[:11]
workload_lines = meta[11:]
load_before, load_after, rustc_before, rustc_after = loads.split("|")
scale, rounds, members_list = params.split("|")
workloads = dict(line.split("|", 1) for line in workload_lines)
SYSTEMS = ("etcd", "etcd-rs")

# (workload, label, [(metric label, getter, higher is better)])
def rps(d):
    return d["requests_per_sec"]

def pct(q, key=None):
    def get(d):
        return (d[key] if key else d)["percentiles_ms"][q]
    return get

ROWS = [
    ("put-1", "put, 1 client", [("requests/s", rps, True), ("p50 ms", pct("p50"), False),
                                 ("p99 ms", pct("p99"), False)]),
    ("put-100", "put, 100 clients / 10 conns",
     [("requests/s", rps, True), ("p50 ms", pct("p50"), False), ("p99 ms", pct("p99"), False)]),
    ("range-l", "range linearizable, 100 clients",
     [("requests/s", rps, True), ("p50 ms", pct("p50"), False), ("p99 ms", pct("p99"), False)]),
    ("range-s", "range serializable, 100 clients",
     [("requests/s", rps, True), ("p50 ms", pct("p50"), False), ("p99 ms", pct("p99"), False)]),
    ("txn-put", "txn-put (2 puts), 100 clients",
     [("requests/s", rps, True), ("p50 ms", pct("p50"), False), ("p99 ms", pct("p99"), False)]),
    ("watch", "watch-latency, 100 watchers, 200 puts/s",
     [("event p50 ms", pct("p50", "watch_from_send"), False),
      ("event p99 ms", pct("p99", "watch_from_send"), False),
      ("put p99 ms", pct("p99", "put"), False)]),
]


def cpu_of(members, rnd, system, name):
    """(wall s, client CPU s, members' CPU s, others' CPU s, others' cores)."""
    text = read(members, rnd, system, name, ".json.cpu")
    return tuple(map(float, text.split())) if text else None


def requests_of(d):
    return d["put"]["count"] if d.get("name") == "watch-latency" else d["count"]


def load_json(members, rnd, system, name):
    path = os.path.join(work, "r", members, rnd, system, name + ".json")
    return json.load(open(path)) if os.path.exists(path) else None


def read(members, rnd, system, name, suffix):
    path = os.path.join(work, "r", members, rnd, system, name + suffix)
    return open(path).read().strip() if os.path.exists(path) else None


def errors_of(d):
    if d is None:
        return 0
    if d.get("name") == "watch-latency":
        return d["put"]["errors"] + d["watch_from_send"]["errors"]
    return d["errors"]


def spread(values):
    """The median, and with several rounds the range: `1,234 (1,100–1,300)`."""
    values = list(values)
    text = fmt(statistics.median(values))
    if len(values) > 1:
        text += f" ({fmt(min(values))}–{fmt(max(values))})"
    return text


def fmt(x):
    if x >= 1000:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


rnds = [str(r) for r in range(1, int(rounds) + 1)]
# (members, workload, metric) -> etcd-rs / etcd, for the targets' table.
ratios = {}
# Issue 6's targets: (label, workload, metric, target, higher is better).
TARGETS = [
    ("put, 100 clients: requests/s", "put-100", "requests/s", 2.5, True),
    ("put, 100 clients: p99", "put-100", "p99 ms", 0.5, False),
    ("put, 1 client: p50", "put-1", "p50 ms", 0.5, False),
    ("range linearizable: requests/s", "range-l", "requests/s", 4.0, True),
    ("range serializable: requests/s", "range-s", "requests/s", 4.0, True),
    ("peak RSS", "rss", "", 1 / 3, False),
]
shared = float(load_before.split()[0]) > 0.5 or int(rustc_before or 0) > 0 or \
    int(rustc_after or 0) > 0
out = []
w = out.append
w("# Benchmarks: etcd-rs next to etcd\n")
w("Produced by `scripts/benchmarks.sh` (reproduce: `cargo build --release && "
  "scripts/benchmarks.sh`). Both systems run on this machine in the same run, started with "
  "the same flags by `scripts/cluster-lib.sh`, and both are measured by the same client, "
  "`etcd-rs bench` (etcd's `benchmark` flags, see `etcd-rs bench --help`). Figures are "
  "medians over the rounds, with the lowest and highest round in brackets; ratios are etcd-rs / etcd (above 1 is better for requests/s, "
  "below 1 is better for latencies and memory).\n")
w("## Machine\n")
w(f"- date: {started}")
w(f"- CPU: {nproc} cores ({cpu}); memory {memory}; {kernel}")
w(f"- data dirs on: {fs}")
w(f"- load average (1, 5, 15 min): {load_before} at the start, {load_after} at the end; "
  f"rustc processes running: {rustc_before} at the start, {rustc_after} at the end")
if shared:
    w("- **the machine was shared**: other builds and tests ran during the benchmark (the "
      "tables give the cores other processes used during each workload, the list of runs at "
      "the end the load average at the start of each); the client shares the cores with the "
      "servers too. Read the ratios as indications, not as precise figures.")
w(f"- servers: {etcd_version}; {etcd_rs_version}")
w(f"- rounds: {rounds}; scale of the totals: {scale}; order: {order.replace(';', '; ')}\n")

for members in members_list.split():
    w(f"## {members} member{'s' if members != '1' else ''}\n")
    w("| workload | metric | etcd | etcd-rs | etcd-rs / etcd | "
      "other processes' cores (etcd / etcd-rs) |")
    w("|---|---|---|---|---|---|")
    for name, label, metrics in ROWS:
        # Per system, one (report, cpu figures) per round.
        runs = {s: [(load_json(members, r, s, name), cpu_of(members, r, s, name)) for r in rnds]
                for s in SYSTEMS}
        if any(d is None or c is None for s in SYSTEMS for d, c in runs[s]):
            continue
        others = " / ".join(f"{statistics.median(c[4] for _, c in runs[s]):.2f}"
                            for s in SYSTEMS)
        cpu_label = "server CPU µs / put" if name == "watch" else "server CPU µs / request"
        rows = [(metric, lambda d, c, get=get: get(d)) for metric, get, _ in metrics]
        rows.append((cpu_label, lambda d, c: c[2] / requests_of(d) * 1e6))
        for i, (metric, get) in enumerate(rows):
            e, r = ([get(d, c) for d, c in runs[s]] for s in SYSTEMS)
            e_median, r_median = statistics.median(e), statistics.median(r)
            ratio = f"{r_median / e_median:.2f}" if e_median > 0 else "n/a"
            if e_median > 0:
                ratios[(members, name, metric)] = r_median / e_median
            w(f"| {label if i == 0 else ''} | {metric} | {spread(e)} | {spread(r)} | {ratio} | "
              f"{others if i == 0 else ''} |")
    lg = {s: [read(members, r, s, "loadgen-put-100", ".json") for r in rnds] for s in SYSTEMS}
    if all(x is not None for s in SYSTEMS for x in lg[s]):
        e, r = ([json.loads(x)["rps"] for x in lg[s]] for s in SYSTEMS)
        ratio = statistics.median(r) / statistics.median(e)
        w(f"| put, 100 clients (yardstick: loadgen) | requests/s | {spread(e)} | {spread(r)} | "
          f"{ratio:.2f} | |")
    rss = {s: [int(read(members, r, s, "", "rss") or 0) / 1024 for r in rnds] for s in SYSTEMS}
    ratio = statistics.median(rss["etcd-rs"]) / statistics.median(rss["etcd"])
    ratios[(members, "rss", "")] = ratio
    w(f"| all of the above | peak RSS MiB, sum of members | {spread(rss['etcd'])} | "
      f"{spread(rss['etcd-rs'])} | {ratio:.2f} | |")
    failed = [(s, name, errors_of(load_json(members, r, s, name)))
              for s in SYSTEMS for name, _, _ in ROWS for r in rnds]
    failed = [f for f in failed if f[2]]
    w("")
    if failed:
        w("Failed requests: " + "; ".join(f"{s} {n}: {c}" for s, n, c in failed) + ".\n")
    else:
        w("No request failed.\n")

w("## Targets\n")
w("The performance targets of issue 6, as ratios etcd-rs / etcd from the tables above. "
  "Where one is not reached, `docs/profiles/README.md` gives the profile that explains "
  "what is left.\n")
cluster_sizes = members_list.split()
w("| target | goal | " + " | ".join(f"{m} member{'s' if m != '1' else ''}"
                                     for m in cluster_sizes) + " |")
w("|---|---|" + "---|" * len(cluster_sizes))
for label, name, metric, goal, higher in TARGETS:
    cells = []
    for members in cluster_sizes:
        got = ratios.get((members, name, metric))
        if got is None:
            cells.append("not measured")
            continue
        reached = got >= goal if higher else got <= goal
        cells.append(f"{got:.2f} ({'reached' if reached else 'not reached'})")
    sign = "≥" if higher else "≤"
    goal_text = "1/3" if name == "rss" else f"{goal:g}"
    w(f"| {label} | {sign} {goal_text} | " + " | ".join(cells) + " |")
w("")
w("## Commands\n")
w("Each system, for each cluster size: a fresh cluster (`cluster_start` in "
  "`scripts/cluster-lib.sh`: `--name m<i> --data-dir ... --listen-client-urls "
  "http://127.0.0.1:<port> --listen-peer-urls ... --initial-cluster ... "
  "--initial-cluster-token ...`, nothing else, so both run their defaults), one key `foo` "
  "of 256 bytes for the reads, then these runs in this order, each as "
  "`etcd-rs bench --endpoints <every member> --target-leader --output json <args>`:\n")
w("```")
for name, args in workloads.items():
    w(f"{name:8} {args}")
w("```\n")
w("The watch-latency figures are each event's arrival after its put was sent (commit, apply "
  "and fan-out to 100 watchers on 10 streams); etcd's own figure, from the put's "
  "acknowledgement, is mostly 0 on one machine because both servers send events before "
  "they answer the put. Peak RSS is `VmHWM` of each member process at the end of the runs, "
  "summed over members. Server CPU is the members' user and system time during the "
  "workload (`/proc/<pid>/stat`) divided by the requests (puts for watch-latency); other "
  "processes' cores are the machine's busy time (`/proc/stat`) minus the members' and the "
  "client's, over the workload's wall time.\n")
w("## Runs\n")
w("In the order they ran; the load average is the 1-minute one at the start of the run "
  "(it includes the previous runs' own load).\n")
w("| end | run | load average | other processes' cores | rustc processes |")
w("|---|---|---|---|---|")
for line in open(os.path.join(work, "runs")).read().splitlines():
    end, name, load, others, rustc = line.split("|")
    w(f"| {end} | {name} | {load} | {others} | {rustc} |")
print("\n".join(out))
