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
#        RESULTS=<dir>        keep the raw results there (the table is made again with
#                             scripts/benchmarks_table.py <dir> > BENCHMARKS.md)
# needs: etcd, etcdctl, curl, python3, GNU time (/usr/bin/time), a release build
# (cargo build --release).
#
# The machine may be shared: every run records the load average at its start and how many
# cores other processes used during it (all busy CPU time in /proc/stat minus the members'
# and the client's), and BENCHMARKS.md lists them.
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
    "put-1|--conns 1 --clients 1 put --total $(total 5000) $kv"
    "put-100|--conns 10 --clients 100 put --total $(total 50000) $kv"
    "range-l|--conns 10 --clients 100 range foo --consistency l --total $(total 50000)"
    "range-s|--conns 10 --clients 100 range foo --consistency s --total $(total 50000)"
    "txn-put|--conns 10 --clients 100 txn-put --total $(total 50000) --txn-ops 2 $kv"
    "watch|--conns 10 --clients 100 watch-latency --put-total $(total 1000) --put-rate 200 --streams 10 --watchers-per-stream 10"
)
loadavg() { cut -d' ' -f1 /proc/loadavg; }
hz=$(getconf CLK_TCK)
# Busy CPU time of the whole machine, in ticks (user, nice, system, irq, softirq, steal).
machine_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
# CPU time of the members of LABEL so far, in ticks.
members_ticks() { # LABEL N
    local i sum=0
    for i in $(seq 0 $(($2 - 1))); do
        sum=$((sum + $(awk '{print $14 + $15}' "/proc/$(member_pid "$1" "$i")/stat")))
    done
    echo "$sum"
}

# Runs CMD... with stdout to OUT; writes OUT.cpu (wall s, client CPU s, members' CPU s,
# other processes' CPU s, other processes' cores) and appends the run to $work/runs.
measured() { # LABEL N RUN_NAME OUT CMD...
    local label=$1 n=$2 run_name=$3 out=$4 load machine0 members0 machine1 members1
    local wall user sys others_cores
    shift 4
    load=$(loadavg)
    machine0=$(machine_ticks)
    members0=$(members_ticks "$label" "$n")
    /usr/bin/time -f '%e %U %S' -o "$out.time" "$@" >"$out"
    machine1=$(machine_ticks)
    members1=$(members_ticks "$label" "$n")
    read -r wall user sys <"$out.time"
    python3 -c 'import sys
wall, user, sys_, machine, members, hz = map(float, sys.argv[1:])
client = user + sys_
members /= hz
others = max(0.0, machine / hz - members - client)
print(f"{wall} {client} {members} {others} {others / max(wall, 0.001):.2f}")' "$wall" "$user" "$sys" \
        $((machine1 - machine0)) $((members1 - members0)) "$hz" >"$out.cpu"
    read -r _ _ _ _ others_cores <"$out.cpu"
    echo "$(date +%T)|$run_name|$load|$others_cores|$(pgrep -c rustc || true)" >>"$work/runs"
    echo "[$(date +%T)] $run_name: load average $load at the start;" \
        "other processes used $others_cores cores" >&2
}

# Runs every workload against a fresh cluster of SYSTEM; results under $work/r/.
run_system() { # SYSTEM BINARY MEMBERS ROUND
    local system=$1 bin=$2 members=$3 round=$4 dir leader endpoints name args
    dir=$work/r/$members/$round/$system
    mkdir -p "$dir"
    cluster_start "$system" "$bin" "$port" "$members"
    leader=$(cluster_wait_stable "$port" "$members")
    echo "$members member(s), round $round, $system: leader m$leader" >&2
    endpoints=$(cluster_endpoints "$port" "$members")
    etcdctl --endpoints "$endpoints" put foo "$(head -c 256 /dev/zero | tr '\0' v)" >/dev/null
    for workload in "${workloads[@]}"; do
        name=${workload%%|*}
        args=${workload#*|}
        # shellcheck disable=SC2086 # $args is a list of flags
        measured "$system" "$members" "$members member(s), round $round, $system: $name" \
            "$dir/$name.json" \
            "$etcd_rs" bench --endpoints "$endpoints" --target-leader --output json $args
    done
    if [ -n "$loadgen" ]; then
        # shellcheck disable=SC2086
        measured "$system" "$members" "$members member(s), round $round, $system: loadgen put-100" \
            "$dir/loadgen-put-100.json" \
            "$loadgen" --endpoints "$(cluster_endpoints "$port" "$members" "$leader")" --format json \
            --conns 10 --clients 100 put --total "$(total 50000)" $kv
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
    echo "$("$etcd_rs" --version | head -1) (commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown))"
    echo "$scale|$rounds|$members_list"
    printf '%s\n' "${order_log[@]}" | paste -sd ';'
    printf '%s\n' "${workloads[@]}"
} >"$work/meta"
if [ -n "${RESULTS:-}" ]; then
    mkdir -p "$RESULTS"
    cp -r "$work/r" "$work/meta" "$work/runs" "$RESULTS"/
fi
python3 scripts/benchmarks_table.py "$work" >"$out"
echo "wrote $out" >&2
