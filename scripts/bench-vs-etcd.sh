#!/usr/bin/env bash
# Put throughput and latency: etcd-rs next to the real etcd, same machine, same run, same
# client (../shared/bench/loadgen). One member by default; MEMBERS=3 starts a cluster of
# that many member processes on loopback (etcd, then etcd-rs, same flags) and sends the load
# to the leader (TARGET=all: to every member, leader first, connections round-robin).
# On demand, never in CI.
#
# usage: [MEMBERS=3] [TARGET=leader|all] scripts/bench-vs-etcd.sh [TOTAL_SINGLE] [TOTAL_MANY]
# ETCD_RS_FIRST=1 runs etcd-rs first (alternate it over repeated runs on a busy machine).
# WATCH=1 also runs loadgen watch-latency (100 watchers, 1000 puts at 200/s) and lease
# keep-alive throughput (examples/keepalive_bench.rs, 50 clients for 5 s; build it with
# `cargo build --release --example keepalive_bench`).
# needs: /usr/bin/etcd (Debian etcd-server), etcdctl, a release build of etcd-rs, and
# loadgen built in ../shared/bench/loadgen (cargo build --release there).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/cluster-lib.sh
single_total=${1:-2000}
many_total=${2:-20000}
members=${MEMBERS:-1}
target=${TARGET:-leader}
loadgen=${LOADGEN:-../shared/bench/loadgen/target/release/loadgen}
etcd_rs=${ETCD_RS:-target/release/etcd-rs}
etcd=${ETCD:-/usr/bin/etcd}
port=${PORT:-24379}
work=$(mktemp -d)
CLUSTER_WORK=$work
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

run() { # name binary
    cluster_start "$1" "$2" "$port" "$members"
    local leader endpoints
    leader=$(cluster_wait_stable "$port" "$members")
    if [ "$target" = all ]; then
        mapfile -t others < <(seq 0 $((members - 1)) | grep -vx "$leader")
        endpoints=$(cluster_endpoints "$port" "$members" "$leader" "${others[@]}")
    else
        endpoints=$(cluster_endpoints "$port" "$members" "$leader")
    fi
    echo "$1: $members member(s), leader m$leader, load to $endpoints;" \
        "machine: $(pgrep -c rustc || true) rustc, loadavg $(cut -d' ' -f1 /proc/loadavg)" >&2
    "$loadgen" --endpoints "$endpoints" --format json --conns 1 --clients 1 \
        put --total "$single_total" --key-size 8 --val-size 256 --key-space-size 100000 >"$work/$1-1.json"
    "$loadgen" --endpoints "$endpoints" --format json --conns 10 --clients 100 \
        put --total "$many_total" --key-size 8 --val-size 256 --key-space-size 100000 >"$work/$1-100.json"
    if [ "${WATCH:-0}" = 1 ]; then
        "$loadgen" --endpoints "$endpoints" --format json --conns 10 --clients 100 \
            watch-latency --put-total 1000 --put-rate 200 >"$work/$1-watch.json"
        target/release/examples/keepalive_bench "${endpoints%%,*}" 50 5 >"$work/$1-keepalive.json"
    fi
    cluster_peak_rss_kib "$1" "$members" >"$work/$1-rss"
    cluster_stop "$1" "$members"
}

if [ "${ETCD_RS_FIRST:-0}" = 1 ]; then
    run etcd-rs "$etcd_rs"; run etcd "$etcd"
else
    run etcd "$etcd"; run etcd-rs "$etcd_rs"
fi

python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
def load(name):
    return json.load(open(f"{work}/{name}.json"))
def metrics(d):
    if d.get("errors"):
        sys.exit(f"{d['errors']} requests failed: {d.get('first_error')}")
    lat = d["latency_ms"]["request"]
    return {"requests/s": d["rps"], "p50 ms": lat["p50"], "p99 ms": lat["p99"]}
print("| workload | metric | etcd 3.4 | etcd-rs | etcd-rs / etcd |")
print("|---|---|---|---|---|")
for label, suffix in (("put, 1 client", "1"), ("put, 100 clients / 10 conns", "100")):
    e, r = metrics(load(f"etcd-{suffix}")), metrics(load(f"etcd-rs-{suffix}"))
    for metric in e:
        print(f"| {label} | {metric} | {e[metric]:.2f} | {r[metric]:.2f} | {r[metric] / e[metric]:.2f} |")
import os
if os.path.exists(f"{work}/etcd-watch.json"):
    e, r = load("etcd-watch"), load("etcd-rs-watch")
    for dist in ("event-from-put-send", "event-from-put-ack"):
        le, lr = e["latency_ms"][dist], r["latency_ms"][dist]
        for q in ("p50", "p99"):
            print(f"| watch-latency, 100 watchers | {dist} {q} ms | {le[q]:.2f} | {lr[q]:.2f} | {lr[q] / le[q]:.2f} |")
    print(f"| watch-latency, 100 watchers | events/s | {e['rps']:.0f} | {r['rps']:.0f} | {r['rps'] / e['rps']:.2f} |")
    e, r = load("etcd-keepalive"), load("etcd-rs-keepalive")
    print(f"| lease keep-alive, 50 clients | keep-alives/s | {e['rps']:.0f} | {r['rps']:.0f} | {r['rps'] / e['rps']:.2f} |")
rss_e = int(open(f"{work}/etcd-rss").read()); rss_r = int(open(f"{work}/etcd-rs-rss").read())
print(f"| both runs | peak RSS MiB, sum of members | {rss_e/1024:.1f} | {rss_r/1024:.1f} | {rss_r/rss_e:.2f} |")
PY
