#!/usr/bin/env bash
# The side-by-side benchmark behind BENCHMARKS.md: etcd-rs and the real etcd (Debian
# etcd-server) on this machine, started with the same flags by scripts/cluster-lib.sh, the
# same workloads sent by `etcd-rs bench` to each, with 1 member and with 3 members; writes
# the machine, the commands and a table of absolute figures and ratios etcd-rs / etcd.
# On demand, never in CI.
#
# usage: scripts/benchmarks.sh [OUT]          (OUT defaults to BENCHMARKS.md)
# env:   MEMBERS_LIST="1 3"   cluster sizes to measure
#        ROUNDS=1             rounds per size; figures are the median over rounds, and the
#                             system that runs first alternates from one run to the next
#        SCALE=1              multiplies every --total (0.1 for a quick look)
#        ETCD_RS=<target>/release/etcd-rs   server and `bench` client; ETCD=/usr/bin/etcd
#        BENCH_DIR=/tmp       where the members' data dirs go (its filesystem is reported)
#        LOADGEN=<path>       if set to a built ../shared/bench/loadgen, also runs the
#                             yardstick's put (100 clients) against both, as a cross-check
#        PORT=24379           base port (cluster-lib.sh: member i on PORT+2i, PORT+2i+1)
# needs: etcd, etcdctl, curl, python3, a release build (cargo build --release).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/cluster-lib.sh
out=${1:-BENCHMARKS.md}
members_list=${MEMBERS_LIST:-1 3}
rounds=${ROUNDS:-1}
scale=${SCALE:-1}
etcd_rs=${ETCD_RS:-${CARGO_TARGET_DIR:-target}/release/etcd-rs}
etcd=${ETCD:-/usr/bin/etcd}
loadgen=${LOADGEN:-}
port=${PORT:-24379}
work=$(mktemp -d "${BENCH_DIR:-/tmp}/etcd-rs-benchmarks.XXXXXX")
CLUSTER_WORK=$work
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
[ -x "$etcd_rs" ] || { echo "no etcd-rs at $etcd_rs (cargo build --release)" >&2; exit 1; }
[ -x "$etcd" ] || { echo "no etcd at $etcd (apt-get install etcd-server)" >&2; exit 1; }

total() { # N: N times SCALE, at least 10
    python3 -c 'import sys; print(max(10, int(float(sys.argv[1]) * float(sys.argv[2]))))' "$1" "$scale"
}
kv="--key-size 8 --val-size 256 --key-space-size 100000"
# name|etcd-rs bench arguments after the global --endpoints and --target-leader
workloads=(
    "put-1|--conns 1 --clients 1 put --total $(total 2000) $kv"
    "put-100|--conns 10 --clients 100 put --total $(total 20000) $kv"
    "range-l|--conns 10 --clients 100 range foo --consistency l --total $(total 20000)"
    "range-s|--conns 10 --clients 100 range foo --consistency s --total $(total 20000)"
    "txn-put|--conns 10 --clients 100 txn-put --total $(total 20000) --txn-ops 2 $kv"
    "watch|--conns 10 --clients 100 watch-latency --put-total $(total 1000) --put-rate 200 --streams 10 --watchers-per-stream 10"
)
loadavg() { cut -d' ' -f1 /proc/loadavg; }

# Runs every workload against a fresh cluster of SYSTEM; results under $work/r/.
run_system() { # SYSTEM BINARY MEMBERS ROUND
    local system=$1 bin=$2 members=$3 round=$4 dir leader endpoints name args
    dir=$work/r/$members/$round/$system
    mkdir -p "$dir"
    cluster_start "$system" "$bin" "$port" "$members"
    leader=$(cluster_wait_stable "$port" "$members")
    endpoints=$(cluster_endpoints "$port" "$members")
    etcdctl --endpoints "$endpoints" put foo "$(head -c 256 /dev/zero | tr '\0' v)" >/dev/null
    for workload in "${workloads[@]}"; do
        name=${workload%%|*}
        args=${workload#*|}
        loadavg >"$dir/$name.load"
        echo "[$(date +%T)] $members member(s), round $round, $system (leader m$leader): $name;" \
            "load $(cat "$dir/$name.load"), $(pgrep -c rustc || true) rustc running" >&2
        # shellcheck disable=SC2086 # $args is a list of flags
        "$etcd_rs" bench --endpoints "$endpoints" --target-leader --output json $args >"$dir/$name.json"
    done
    if [ -n "$loadgen" ]; then
        loadavg >"$dir/loadgen-put-100.load"
        # shellcheck disable=SC2086
        "$loadgen" --endpoints "$(cluster_endpoints "$port" "$members" "$leader")" --format json \
            --conns 10 --clients 100 put --total "$(total 20000)" $kv >"$dir/loadgen-put-100.json"
    fi
    cluster_peak_rss_kib "$system" "$members" >"$dir/rss"
    cluster_stop "$system" "$members"
}

started=$(date -u '+%Y-%m-%d %H:%M UTC')
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
rustc_before=$(pgrep -c rustc || true)
order_log=()
turn=0
for members in $members_list; do
    for round in $(seq 1 "$rounds"); do
        if [ $((turn % 2)) -eq 0 ]; then order=(etcd etcd-rs); else order=(etcd-rs etcd); fi
        turn=$((turn + 1))
        order_log+=("$members member(s), round $round: ${order[0]} first")
        for system in "${order[@]}"; do
            if [ "$system" = etcd ]; then run_system etcd "$etcd" "$members" "$round"
            else run_system etcd-rs "$etcd_rs" "$members" "$round"; fi
        done
    done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

{
    echo "$started"
    echo "$load_before|$load_after|$rustc_before|$(pgrep -c rustc || true)"
    nproc
    awk '/MemTotal/ {printf "%.1f GiB\n", $2 / 1048576}' /proc/meminfo
    grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'
    uname -sr
    df -T "$work" | awk 'NR == 2 {print $2}'
    "$etcd" --version | head -1
    "$etcd_rs" --version | head -1
    echo "$scale|$rounds|$members_list"
    printf '%s\n' "${order_log[@]}" | paste -sd ';'
    printf '%s\n' "${workloads[@]}"
} >"$work/meta"
python3 scripts/benchmarks_table.py "$work" >"$out"
echo "wrote $out" >&2
